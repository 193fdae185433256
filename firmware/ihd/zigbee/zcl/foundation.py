# ZCL global (profile-wide) commands: record codecs (ZCL r7 2.5; docs/zigbee-se.md 1.2-1.4).
# SPDX-License-Identifier: MIT
# Decoders are generators over (buf, off) yielding small tuples; they raise DecodeError (from
# types) at the first malformed record. Encoders write into a caller buffer, return the end.
from ihd.zigbee.zcl import types as T
from ihd.zigbee.zcl.types import DecodeError, EncodeError
from micropython import const

READ_ATTRIBUTES = const(0x00)
READ_ATTRIBUTES_RSP = const(0x01)
WRITE_ATTRIBUTES = const(0x02)
WRITE_ATTRIBUTES_UNDIVIDED = const(0x03)
WRITE_ATTRIBUTES_RSP = const(0x04)
WRITE_ATTRIBUTES_NO_RSP = const(0x05)
CONFIGURE_REPORTING = const(0x06)
CONFIGURE_REPORTING_RSP = const(0x07)
READ_REPORTING_CONFIG = const(0x08)
READ_REPORTING_CONFIG_RSP = const(0x09)
REPORT_ATTRIBUTES = const(0x0A)
DEFAULT_RESPONSE = const(0x0B)
DISCOVER_ATTRIBUTES = const(0x0C)
DISCOVER_ATTRIBUTES_RSP = const(0x0D)

# Status codes (docs/zigbee-se.md 1.4).
SUCCESS = const(0x00)
FAILURE = const(0x01)
NOT_AUTHORIZED = const(0x7E)
MALFORMED_COMMAND = const(0x80)
UNSUP_CLUSTER_COMMAND = const(0x81)
UNSUP_GENERAL_COMMAND = const(0x82)
UNSUP_MANUF_CLUSTER_COMMAND = const(0x83)
UNSUP_MANUF_GENERAL_COMMAND = const(0x84)
INVALID_FIELD = const(0x85)
UNSUPPORTED_ATTRIBUTE = const(0x86)
INVALID_VALUE = const(0x87)
READ_ONLY = const(0x88)
INSUFFICIENT_SPACE = const(0x89)
NOT_FOUND = const(0x8B)
UNREPORTABLE_ATTRIBUTE = const(0x8C)
INVALID_DATA_TYPE = const(0x8D)
TIMEOUT = const(0x94)
ABORT = const(0x95)
INVALID_IMAGE = const(0x96)
WAIT_FOR_DATA = const(0x97)
NO_IMAGE_AVAILABLE = const(0x98)
REQUIRE_MORE_IMAGE = const(0x99)
SOFTWARE_FAILURE = const(0xC1)
UNSUPPORTED_CLUSTER = const(0xC3)

REPORT_SEND = const(0)  # configure-reporting direction: the receiver sends reports
REPORT_RECEIVE = const(1)  # ... the receiver expects reports (timeout only)


class AttrStatus:
    # A non-SUCCESS attribute result, distinguishable from any decoded value. Use
    # attr_status(code) (cached, one instance per code).
    def __init__(self, status):
        self.status = status

    def __eq__(self, other):
        return isinstance(other, AttrStatus) and other.status == self.status

    def __hash__(self):
        return self.status

    def __repr__(self):
        return "AttrStatus(0x%02x)" % self.status


_status_cache = {}


def attr_status(code):
    s = _status_cache.get(code)
    if s is None:
        s = _status_cache[code] = AttrStatus(code)
    return s


def _u16(buf, off):
    if off + 2 > len(buf):
        raise DecodeError("u16 past end")
    return buf[off] | buf[off + 1] << 8


def _u8(buf, off):
    if off >= len(buf):
        raise DecodeError("u8 past end")
    return buf[off]


def _put_u16(buf, off, v):
    if off + 2 > len(buf):
        raise EncodeError("buffer too small")
    buf[off] = v & 0xFF
    buf[off + 1] = (v >> 8) & 0xFF
    return off + 2


def _put_u8(buf, off, v):
    if off >= len(buf):
        raise EncodeError("buffer too small")
    buf[off] = v & 0xFF
    return off + 1


# --- Read Attributes (0x00): {attrId u16}* ---


def iter_read_attributes(buf, off=0):
    end = len(buf)
    while off < end:
        yield _u16(buf, off)
        off += 2


def encode_read_attributes(buf, off, attr_ids):
    for a in attr_ids:
        off = _put_u16(buf, off, a)
    return off


# --- Read Attributes Response (0x01): {attrId u16, status u8, [type u8, value]}* ---


def iter_read_attributes_response(buf, off=0):
    # Yields (attr_id, status, tid, value); tid and value are None when status != SUCCESS.
    end = len(buf)
    while off < end:
        a = _u16(buf, off)
        st = _u8(buf, off + 2)
        off += 3
        if st != SUCCESS:
            yield a, st, None, None
            continue
        tid = _u8(buf, off)
        v, off = T.decode(tid, buf, off + 1)
        yield a, st, tid, v


def encode_read_attributes_response(buf, off, records, partial=False):
    # records: (attr_id, status, tid, value). partial=True drops records that do not fit
    # (the ZCL rule for a response larger than one frame) instead of raising.
    for a, st, tid, v in records:
        try:
            p = _put_u16(buf, off, a)
            p = _put_u8(buf, p, st)
            if st == SUCCESS:
                p = _put_u8(buf, p, tid)
                p = T.encode_into(tid, v, buf, p)
        except EncodeError:
            if partial:
                return off
            raise
        off = p
    return off


# --- Write Attributes (0x02/0x03/0x05) and Report Attributes (0x0A): {attrId, type, value}* ---


def iter_attribute_records(buf, off=0):
    # Yields (attr_id, tid, value).
    end = len(buf)
    while off < end:
        a = _u16(buf, off)
        tid = _u8(buf, off + 2)
        v, off = T.decode(tid, buf, off + 3)
        yield a, tid, v


def encode_attribute_records(buf, off, records):
    for a, tid, v in records:
        off = _put_u16(buf, off, a)
        off = _put_u8(buf, off, tid)
        off = T.encode_into(tid, v, buf, off)
    return off


iter_write_attributes = iter_report_attributes = iter_attribute_records
encode_write_attributes = encode_report_attributes = encode_attribute_records


# --- Write Attributes Response (0x04): single SUCCESS, or {status u8, attrId u16}* failures ---


def iter_write_attributes_response(buf, off=0):
    # Yields (status, attr_id); the all-success form yields (SUCCESS, None) once.
    end = len(buf)
    if off + 1 == end and buf[off] == SUCCESS:
        yield SUCCESS, None
        return
    if off >= end:
        raise DecodeError("empty write rsp")
    while off < end:
        st = buf[off]
        yield st, _u16(buf, off + 1)
        off += 3


def encode_write_attributes_response(buf, off, records):
    # records: (status, attr_id); only failures are sent, or one SUCCESS byte if none failed.
    start = off
    for st, a in records:
        if st != SUCCESS:
            off = _put_u8(buf, off, st)
            off = _put_u16(buf, off, a)
    if off == start:
        off = _put_u8(buf, off, SUCCESS)
    return off


# --- Configure Reporting (0x06) ---
# Record tuple: (direction, attr_id, tid, min_s, max_s, change, timeout_s); for direction
# REPORT_SEND timeout_s is None, for REPORT_RECEIVE tid/min_s/max_s/change are None. change is
# None for non-analog types.


def reporting_record(attr_id, tid, min_s, max_s, change=None):
    if change is None and T.is_analog(tid):
        change = 0
    return (REPORT_SEND, attr_id, tid, min_s, max_s, change, None)


def reporting_timeout_record(attr_id, timeout_s):
    return (REPORT_RECEIVE, attr_id, None, None, None, None, timeout_s)


def iter_configure_reporting(buf, off=0):
    end = len(buf)
    while off < end:
        d = buf[off]
        a = _u16(buf, off + 1)
        off += 3
        if d == REPORT_RECEIVE:
            yield d, a, None, None, None, None, _u16(buf, off)
            off += 2
            continue
        if d != REPORT_SEND:
            raise DecodeError("bad reporting direction")
        tid = _u8(buf, off)
        mn = _u16(buf, off + 1)
        mx = _u16(buf, off + 3)
        off += 5
        ch = None
        if T.is_analog(tid):
            ch, off = T.decode(tid, buf, off)
        yield d, a, tid, mn, mx, ch, None


def encode_configure_reporting(buf, off, records):
    for d, a, tid, mn, mx, ch, to in records:
        off = _put_u8(buf, off, d)
        off = _put_u16(buf, off, a)
        if d == REPORT_RECEIVE:
            off = _put_u16(buf, off, to)
            continue
        off = _put_u8(buf, off, tid)
        off = _put_u16(buf, off, mn)
        off = _put_u16(buf, off, mx)
        if T.is_analog(tid):
            off = T.encode_into(tid, 0 if ch is None else ch, buf, off)
    return off


# --- Configure Reporting Response (0x07): single SUCCESS or {status, direction, attrId}* ---


def iter_configure_reporting_response(buf, off=0):
    # Yields (status, direction, attr_id); the all-success form yields (SUCCESS, None, None).
    end = len(buf)
    if off + 1 == end and buf[off] == SUCCESS:
        yield SUCCESS, None, None
        return
    if off >= end:
        raise DecodeError("empty configure reporting rsp")
    while off < end:
        st = buf[off]
        d = _u8(buf, off + 1)
        yield st, d, _u16(buf, off + 2)
        off += 4


def encode_configure_reporting_response(buf, off, records):
    start = off
    for st, d, a in records:
        if st != SUCCESS:
            off = _put_u8(buf, off, st)
            off = _put_u8(buf, off, d)
            off = _put_u16(buf, off, a)
    if off == start:
        off = _put_u8(buf, off, SUCCESS)
    return off


# --- Default Response (0x0B): commandId u8, status u8 ---


def decode_default_response(buf, off=0):
    # -> (command_id, status)
    if off + 2 > len(buf):
        raise DecodeError("default rsp too short")
    return buf[off], buf[off + 1]


def encode_default_response(buf, off, cmd_id, status):
    off = _put_u8(buf, off, cmd_id)
    return _put_u8(buf, off, status)


# --- Discover Attributes (0x0C/0x0D) ---


def decode_discover_attributes(buf, off=0):
    # -> (start_attr_id, max_count)
    return _u16(buf, off), _u8(buf, off + 2)


def encode_discover_attributes(buf, off, start_attr_id, max_count):
    off = _put_u16(buf, off, start_attr_id)
    return _put_u8(buf, off, max_count)


def discover_complete(buf, off=0):
    return _u8(buf, off) != 0


def iter_discover_attributes_response(buf, off=0):
    # Yields (attr_id, tid) after the leading "discovery complete" bool.
    _u8(buf, off)
    off += 1
    end = len(buf)
    while off < end:
        a = _u16(buf, off)
        yield a, _u8(buf, off + 2)
        off += 3


def encode_discover_attributes_response(buf, off, complete, records):
    off = _put_u8(buf, off, 1 if complete else 0)
    for a, tid in records:
        off = _put_u16(buf, off, a)
        off = _put_u8(buf, off, tid)
    return off
