# ZCL global (profile-wide) commands: record codecs (ZCL r7 2.5; docs/zigbee-se.md 1.2-1.4).
# SPDX-License-Identifier: MIT
# Decoders are generators over (buf, off) yielding small tuples; they raise DecodeError (from
# types) at the first malformed record. Encoders write into a caller buffer, return the end.
# Bounded: the values of one frame hold at most types.MAX_ELEMENTS collection elements in all
# (a frame beyond that is malformed), on top of the per-value limits of types.py.
# Read Attributes Response and Report Attributes also decode into a reusable `Records` object
# without allocating (the receive path, docs/zigbee.md "Receive path").
from array import array

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


def _measured(tid, buf, off, budget):
    # types.measure() of the value at buf[off:] (elements, length); raises DecodeError when
    # the value is malformed or more than `budget` collection elements (what the frame has
    # left).
    r = T.measure(tid, buf, off, budget)
    if r < 0:
        raise T.decode_error(tid, r)
    return r


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


def iter_read_attributes_response(buf, off=0, budget=T.MAX_ELEMENTS):
    # Yields (attr_id, status, tid, value); tid and value are None when status != SUCCESS.
    # budget: collection elements allowed in the values (the frame's, or what is left of it).
    end = len(buf)
    while off < end:
        a = _u16(buf, off)
        st = _u8(buf, off + 2)
        off += 3
        if st != SUCCESS:
            yield a, st, None, None
            continue
        tid = _u8(buf, off)
        r = _measured(tid, buf, off + 1, budget)
        budget -= T.elements(r)
        v = T.value_at(tid, buf, off + 1)
        off += 1 + T.length(r)
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


def iter_attribute_records(buf, off=0, budget=T.MAX_ELEMENTS):
    # Yields (attr_id, tid, value). budget as for iter_read_attributes_response().
    end = len(buf)
    while off < end:
        a = _u16(buf, off)
        tid = _u8(buf, off + 2)
        r = _measured(tid, buf, off + 3, budget)
        budget -= T.elements(r)
        v = T.value_at(tid, buf, off + 3)
        off += 3 + T.length(r)
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


# --- Attribute records decoded in place (Read Attributes Response, Report Attributes) ---
# Records holds up to `cap` records of one frame in parallel preallocated arrays; decoding
# allocates nothing. Per record i < n:
#   attr[i]    attribute id
#   status[i]  SUCCESS, the record's status (read response), or INVALID_DATA_TYPE when the
#              client found a type other than the cluster table's
#   tid[i]     ZCL data type (0 for a status-only record)
#   off[i], size[i]  where the value's bytes are in `buf` (the frame's payload)
#   lo[i], hi[i]     integers up to 48 bits, exactly: value == hi * 2**24 + lo, 0 <= lo < 2**24,
#              hi signed; both always fit a small int on a 32-bit port (2**30). E.g. a uint48
#              CurrentSummationDelivered is (hi, lo) without a long int. For 56/64-bit types
#              lo/hi hold bits 0..23 / 24..47 only; the whole value is value(i) or the raw
#              little-endian bytes buf[off[i]:off[i] + size[i]].
# value(i) gives what types.decode() would (AttrStatus for a failed record): allocation-free
# for integers whose value is a small int (|v| < 2**30 on 32-bit ports, 2**62 on 64-bit),
# bools and None; strings, octets, floats, time/date, arrays/structs and long ints allocate
# (variable-size or boxed values). `more` is set when the frame held more than cap records
# (the rest start at buf[stop:]); `error` (a str) when the frame is malformed after record n.
# `elements`: collection elements in the decoded values (at most types.MAX_ELEMENTS per frame;
# the rest of a frame with `more` gets what is left: T.MAX_ELEMENTS - elements).
MAX_RECORDS = const(16)

_RK_STATUS = const(0)  # no value (failed read record, Default Response to a read)
_RK_INT = const(1)  # integer up to 48 bits: exact in lo/hi
_RK_WIDE = const(2)  # 56/64-bit integer
_RK_BOOL = const(3)  # raw byte in lo
_RK_NONE = const(4)  # NODATA
_RK_OTHER = const(5)  # decoded on demand by value()


class Records:
    def __init__(self, cap=MAX_RECORDS):
        self.cap = cap
        self.n = 0
        self.attr = array("H", [0] * cap)
        self.status = bytearray(cap)
        self.tid = bytearray(cap)
        self.kind = bytearray(cap)
        self.lo = array("i", [0] * cap)
        self.hi = array("i", [0] * cap)
        self.off = array("H", [0] * cap)
        self.size = array("H", [0] * cap)
        self.buf = None  # the payload decoded from (owned by the Frame holding these records)
        self.more = False
        self.stop = 0
        self.error = None
        self.elements = 0

    def clear(self, buf=None):
        self.n = 0
        self.buf = buf
        self.more = False
        self.stop = 0
        self.error = None
        self.elements = 0

    def _fail(self, why):
        self.error = why
        return False

    def put(self, i, attr_id, status, tid, buf, off, n):
        # Record i: a value of type tid at buf[off:off + n] (n validated by the caller).
        self.attr[i] = attr_id
        self.status[i] = status
        self.tid[i] = tid
        self.off[i] = off
        self.size[i] = n
        lo = hi = 0
        if status != SUCCESS:
            kind = _RK_STATUS
        elif tid == T.BOOL:
            kind = _RK_BOOL
            lo = buf[off]
        elif tid == T.NODATA:
            kind = _RK_NONE
        else:
            w = T.int_kind(tid)
            if w == 0:
                kind = _RK_OTHER
            else:
                signed = w < 0
                if signed:
                    w = -w
                j = (w if w < 3 else 3) - 1
                while j >= 0:
                    lo = lo << 8 | buf[off + j]
                    j -= 1
                j = (w if w < 6 else 6) - 1
                while j >= 3:
                    hi = hi << 8 | buf[off + j]
                    j -= 1
                if w > 6:
                    kind = _RK_WIDE
                else:
                    kind = _RK_INT
                    if signed and buf[off + w - 1] & 0x80:
                        if w <= 3:  # sign-extend into the 24-bit limb, hi = -1
                            lo |= 0xFFFFFF ^ ((1 << (8 * w)) - 1)
                            hi = -1
                        else:
                            hi -= 1 << (8 * (w - 3))
        self.kind[i] = kind
        self.lo[i] = lo
        self.hi[i] = hi

    def set_status(self, i, attr_id, status):
        self.attr[i] = attr_id
        self.status[i] = status
        self.tid[i] = 0
        self.kind[i] = _RK_STATUS
        self.off[i] = self.size[i] = 0
        self.lo[i] = self.hi[i] = 0

    def fill_status(self, attr_ids, status):
        # Every requested id with one status (a Default Response answering a read).
        self.clear(self.buf)
        n = 0
        for a in attr_ids:
            if n == self.cap:
                self.more = True
                break
            self.set_status(n, a, status)
            n += 1
        self.n = n

    def find(self, attr_id):
        # -> index of attr_id, or -1
        for i in range(self.n):
            if self.attr[i] == attr_id:
                return i
        return -1

    def ok(self, i):
        # A value is present (SUCCESS and type as declared).
        return self.status[i] == SUCCESS and self.kind[i] != _RK_STATUS

    def value(self, i):
        k = self.kind[i]
        if self.status[i] != SUCCESS or k == _RK_STATUS:
            return attr_status(self.status[i])
        if k == _RK_INT:
            return self.hi[i] * 16777216 + self.lo[i]
        if k == _RK_BOOL:
            v = self.lo[i]
            return (v == 1) if v < 2 else v
        if k == _RK_NONE:
            return None
        return T.decode(self.tid[i], self.buf, self.off[i])[0]

    def get(self, attr_id, default=None):
        i = self.find(attr_id)
        return default if i < 0 else self.value(i)

    def to_dict(self):
        # Allocates: {attr_id: value or AttrStatus} (the read_attributes() form).
        out = {}
        for i in range(self.n):
            out[self.attr[i]] = self.value(i)
        return out


def decode_read_attributes_response_into(rec, buf, off=0, budget=T.MAX_ELEMENTS):
    # Read Attributes Response payload ({attrId, status[, type, value]}*) -> rec. -> True, or
    # False when malformed (rec.error; the rec.n records before the fault are valid). budget:
    # collection elements allowed in the values (the frame's; what is left of it for the
    # records after rec.stop).
    return _records_into(rec, buf, off, True, budget)


def decode_attribute_records_into(rec, buf, off=0, budget=T.MAX_ELEMENTS):
    # {attrId, type, value}* (Report Attributes, Write Attributes) -> rec; as above.
    return _records_into(rec, buf, off, False, budget)


def _records_into(rec, buf, off, with_status, left):
    # One decoder for both record layouts. Allocates nothing. The values hold at most `left`
    # collection elements in all (and each is bounded by types.py's limits).
    rec.clear(buf)
    end = len(buf)
    n = 0
    while off < end:
        if n == rec.cap:
            rec.more = True
            rec.stop = off
            return True
        if off + 3 > end:
            return rec._fail("record past end")
        a = buf[off] | buf[off + 1] << 8
        off += 2
        if with_status:
            st = buf[off]
            off += 1
            if st != SUCCESS:
                rec.set_status(n, a, st)
                n += 1
                rec.n = n
                continue
            if off >= end:
                return rec._fail("type past end")
        tid = buf[off]
        r = T.measure(tid, buf, off + 1, left)
        if r < 0:
            return rec._fail(T.VALUE_LEN_ERRORS[-r])
        e = T.elements(r)
        left -= e
        rec.elements += e
        k = T.length(r)
        rec.put(n, a, SUCCESS, tid, buf, off + 1, k)
        off += 1 + k
        n += 1
        rec.n = n
    return True


decode_report_attributes_into = decode_attribute_records_into
