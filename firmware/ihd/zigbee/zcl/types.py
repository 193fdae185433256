# ZCL data type codec (ZCL r7 2.6.2; ids per docs/zigbee-se.md 1.5). SPDX-License-Identifier: MIT
# Values: int for data/bitmap/uint/int/enum/UTCTime/cluster id/attribute id; bool (True/False, or
# the raw int 0xFF = invalid); float; bytes for octet strings, EUI64 (wire order = little-endian)
# and 128-bit keys; str for character strings; None for an absent string (length 0xFF/0xFFFF);
# (a, b, c, d) tuples for time of day (h, min, s, 1/100 s) and date (years since 1900, month,
# day, day of week). Decoders take a buffer (memoryview/bytes) + offset, bound by len(buf), and
# raise DecodeError on truncation or a value beyond the decoding limits (MAX_DEPTH, MAX_ELEMENTS:
# "Bounded decoding" below); encoders write into a caller buffer and raise EncodeError.
import struct

from micropython import const

NODATA = const(0x00)
DATA8 = const(0x08)
DATA16 = const(0x09)
DATA24 = const(0x0A)
DATA32 = const(0x0B)
DATA40 = const(0x0C)
DATA48 = const(0x0D)
DATA56 = const(0x0E)
DATA64 = const(0x0F)
BOOL = const(0x10)
BITMAP8 = const(0x18)
BITMAP16 = const(0x19)
BITMAP24 = const(0x1A)
BITMAP32 = const(0x1B)
BITMAP40 = const(0x1C)
BITMAP48 = const(0x1D)
BITMAP56 = const(0x1E)
BITMAP64 = const(0x1F)
UINT8 = const(0x20)
UINT16 = const(0x21)
UINT24 = const(0x22)
UINT32 = const(0x23)
UINT40 = const(0x24)
UINT48 = const(0x25)
UINT56 = const(0x26)
UINT64 = const(0x27)
INT8 = const(0x28)
INT16 = const(0x29)
INT24 = const(0x2A)
INT32 = const(0x2B)
INT40 = const(0x2C)
INT48 = const(0x2D)
INT56 = const(0x2E)
INT64 = const(0x2F)
ENUM8 = const(0x30)
ENUM16 = const(0x31)
SEMI = const(0x38)
SINGLE = const(0x39)
DOUBLE = const(0x3A)
OCTSTR = const(0x41)
CHARSTR = const(0x42)
LONG_OCTSTR = const(0x43)
LONG_CHARSTR = const(0x44)
ARRAY = const(0x48)
STRUCT = const(0x4C)
SET = const(0x50)
BAG = const(0x51)
TIME_OF_DAY = const(0xE0)
DATE = const(0xE1)
UTC = const(0xE2)
CLUSTER_ID = const(0xE8)
ATTR_ID = const(0xE9)
BACNET_OID = const(0xEA)
EUI64 = const(0xF0)
KEY128 = const(0xF1)
UNKNOWN = const(0xFF)

# Internal kinds; _info() packs kind << 8 | size (size = length-prefix width for strings).
_K_UINT = const(1)
_K_INT = const(2)
_K_BOOL = const(3)
_K_FLOAT = const(4)
_K_OSTR = const(5)
_K_CSTR = const(6)
_K_BYTES = const(7)
_K_QUAD = const(8)  # time of day / date: four uint8
_K_NONE = const(9)
_K_COLL = const(10)  # array / set / bag: elemType u8, count u16, elements
_K_STRUCT = const(11)  # count u16, {type u8, value}*

_FLOAT_FMT = ("<e", "<f", "<d")
_INT_FMT = {1: "<b", 2: "<h", 4: "<i", 8: "<q"}
_UINT_FMT = {1: "<B", 2: "<H", 4: "<I", 8: "<Q"}


class DecodeError(ValueError):
    # Malformed/truncated input. Callers log + count it; it never escapes a task.
    pass


class EncodeError(ValueError):
    # Value out of range for its type, unsupported type, or caller buffer too small.
    pass


def _info(tid):
    # Returns kind << 8 | size, or 0 for a type this codec does not know.
    if 0x08 <= tid <= 0x0F:
        return _K_UINT << 8 | (tid - 0x07)
    if tid == BOOL:
        return _K_BOOL << 8 | 1
    if 0x18 <= tid <= 0x1F:
        return _K_UINT << 8 | (tid - 0x17)
    if 0x20 <= tid <= 0x27:
        return _K_UINT << 8 | (tid - 0x1F)
    if 0x28 <= tid <= 0x2F:
        return _K_INT << 8 | (tid - 0x27)
    if tid == ENUM8:
        return _K_UINT << 8 | 1
    if tid == ENUM16:
        return _K_UINT << 8 | 2
    if SEMI <= tid <= DOUBLE:
        return _K_FLOAT << 8 | (2 << (tid - SEMI))
    if tid == OCTSTR:
        return _K_OSTR << 8 | 1
    if tid == CHARSTR:
        return _K_CSTR << 8 | 1
    if tid == LONG_OCTSTR:
        return _K_OSTR << 8 | 2
    if tid == LONG_CHARSTR:
        return _K_CSTR << 8 | 2
    if tid in (TIME_OF_DAY, DATE):
        return _K_QUAD << 8 | 4
    if tid in (UTC, BACNET_OID):
        return _K_UINT << 8 | 4
    if tid in (CLUSTER_ID, ATTR_ID):
        return _K_UINT << 8 | 2
    if tid == EUI64:
        return _K_BYTES << 8 | 8
    if tid == KEY128:
        return _K_BYTES << 8 | 16
    if tid == NODATA:
        return _K_NONE << 8
    if tid in (ARRAY, SET, BAG):
        return _K_COLL << 8
    if tid == STRUCT:
        return _K_STRUCT << 8
    return 0


def known(tid):
    return _info(tid) != 0


def fixed_size(tid):
    # Wire size of a fixed-size type; -1 for strings/collections/unknown.
    i = _info(tid)
    k = i >> 8
    if k == 0 or k in (_K_OSTR, _K_CSTR, _K_COLL, _K_STRUCT):
        return -1
    return i & 0xFF


def is_analog(tid):
    # Analog types carry a reportable change in Configure Reporting (WS IS_ANALOG_SUBTYPE).
    return 0x20 <= tid <= 0x2F or SEMI <= tid <= DOUBLE or TIME_OF_DAY <= tid <= UTC


def non_value(tid):
    # The "invalid / not set" marker a sender uses for this type (ZCL r7 table 2-10), or None.
    i = _info(tid)
    k, n = i >> 8, i & 0xFF
    if tid == BOOL:
        return 0xFF
    if UINT8 <= tid <= UINT64 or tid in (ENUM8, ENUM16) or tid >= UTC:
        if k == _K_UINT:
            return (1 << (8 * n)) - 1
        if k == _K_BYTES:
            return b"\xff" * n
    if k == _K_INT:
        return -(1 << (8 * n - 1))
    if k == _K_QUAD:
        return (0xFF, 0xFF, 0xFF, 0xFF)
    return None


def is_invalid(tid, value):
    # True for the type's non-value, NaN floats and absent strings.
    if value is None:
        return True
    i = _info(tid)
    if i >> 8 == _K_FLOAT:
        return value != value
    nv = non_value(tid)
    return nv is not None and value == nv


def _uint(buf, off, n):
    v = 0
    i = off + n - 1
    while i >= off:
        v = (v << 8) | buf[i]
        i -= 1
    return v


# Bounded decoding: a value's cost is bounded by the bytes it occupies. A collection's count is
# checked against what remains before anything is walked (every element needs at least its
# minimum size; an element type of zero length in an array/set/bag is malformed), collections
# nest at most MAX_DEPTH deep, and one value (and, in the frame decoders of foundation.py, one
# frame) holds at most MAX_ELEMENTS collection elements. So no value costs more than a walk of
# its bytes to measure, nor more than MAX_ELEMENTS boxed elements to decode. (Before: 9 bytes of
# Report Attributes, an array of 65,534 "no data" elements, decoded into a 512 KB tuple.)
MAX_DEPTH = const(2)  # an array of structs, a struct holding an array; no deeper
MAX_ELEMENTS = const(32)  # collection elements (nested ones included) per value / per frame
# measure() packs (elements << _E_SHIFT) | length; lengths stay below 2**20 (a ZCL frame is at
# most 255 B), elements below 2**10, so the result is a small int on 32-bit ports.
_E_SHIFT = const(20)
_LEN_MASK = const(0xFFFFF)
_MAX_BUDGET = const(1023)

# value_len() failure codes (negative; wire_len() turns them into DecodeError messages)
_E_STRLEN = const(-1)
_E_ARRAY = const(-2)
_E_STRUCT = const(-3)
_E_UNKNOWN = const(-4)
_E_PAST_END = const(-5)
_E_DEPTH = const(-6)
_E_ELEMENTS = const(-7)
_E_EMPTY_ELEM = const(-8)
VALUE_LEN_ERRORS = ("", "strlen past end", "array hdr past end", "struct hdr past end",
                    "unknown type", "past end", "collections nested too deep",
                    "too many elements", "zero-length element type")  # fmt: skip


def _min_len(i):
    # Smallest wire size of a value of the type with _info() i; -1 for an unknown type.
    k = i >> 8
    if k == 0:
        return -1
    if k == _K_COLL:
        return 3
    if k == _K_STRUCT:
        return 2
    return i & 0xFF  # fixed size, a string's length prefix, 0 for "no data"


def _measure(tid, buf, off, depth, budget):
    # -> elements << _E_SHIFT | length of the value of type tid at buf[off:], or a negative
    # code. depth: collections around this value; budget: collection elements still allowed.
    # Never raises and allocates nothing (receive path); the walk is bounded by the bytes.
    i = _info(tid)
    k, n = i >> 8, i & 0xFF
    end = len(buf)
    e = 0
    if k in (_K_OSTR, _K_CSTR):
        if off + n > end:
            return _E_STRLEN
        ln = buf[off] if n == 1 else buf[off] | buf[off + 1] << 8
        if ln == (0xFF if n == 1 else 0xFFFF):
            return n
        n += ln
    elif k in (_K_COLL, _K_STRUCT):
        if depth >= MAX_DEPTH:
            return _E_DEPTH
        hl = 3 if k == _K_COLL else 2
        if off + hl > end:
            return _E_ARRAY if k == _K_COLL else _E_STRUCT
        p = off + hl
        cnt = buf[p - 2] | buf[p - 1] << 8
        m = 1  # a struct element: at least its type byte
        fixed = False
        if k == _K_COLL:
            ei = _info(buf[off])
            if ei == 0:
                return _E_UNKNOWN
            m = _min_len(ei)
            fixed = ei >> 8 not in (_K_NONE, _K_OSTR, _K_CSTR, _K_COLL, _K_STRUCT)
        if cnt != 0xFFFF and cnt:  # 0xFFFF: the invalid (absent) collection
            if m == 0:
                return _E_EMPTY_ELEM
            if cnt > budget:
                return _E_ELEMENTS
            if p + cnt * m > end:  # checked before anything is walked
                return _E_PAST_END
            e = cnt
            budget -= cnt
            if fixed:
                p += cnt * m  # fixed-size elements: nothing to walk
            else:
                et = buf[off]
                for _ in range(cnt):
                    if k == _K_STRUCT:
                        if p >= end:
                            return _E_STRUCT
                        et = buf[p]
                        p += 1
                    r = _measure(et, buf, p, depth + 1, budget)
                    if r < 0:
                        return r
                    sub = r >> _E_SHIFT
                    e += sub
                    budget -= sub
                    p += r & _LEN_MASK
        n = p - off
    elif k == 0:
        return _E_UNKNOWN
    if off + n > end:
        return _E_PAST_END
    return e << _E_SHIFT | n


def measure(tid, buf, off, budget=MAX_ELEMENTS):
    # -> elements << 20 | length (see elements() / length()), or a negative code
    # (VALUE_LEN_ERRORS[-code]). The frame decoders pass what is left of a frame's budget.
    # Never raises, allocates nothing.
    return _measure(tid, buf, off, 0, budget if budget < _MAX_BUDGET else _MAX_BUDGET)


def elements(r):
    # Collection elements in a measure() result.
    return r >> _E_SHIFT


def length(r):
    # Wire length in a measure() result.
    return r & _LEN_MASK


def value_len(tid, buf, off, budget=MAX_ELEMENTS):
    # Encoded length of the value of type tid at buf[off:], or a negative code if it does not
    # fit in buf / the type is unknown / it is malformed or too costly (see the limits above).
    # Never raises and allocates nothing (receive path).
    r = _measure(tid, buf, off, 0, budget if budget < _MAX_BUDGET else _MAX_BUDGET)
    return r if r < 0 else r & _LEN_MASK


def decode_error(tid, n):
    # The DecodeError for a negative measure() / value_len() code (allocates: error path only).
    if n == _E_UNKNOWN:
        return DecodeError("unknown type 0x%02x" % tid)
    if n == _E_PAST_END:
        return DecodeError("type 0x%02x past end" % tid)
    return DecodeError(VALUE_LEN_ERRORS[-n])


def wire_len(tid, buf, off):
    # Encoded length of the value of type tid at buf[off:]; checks it fits in buf.
    n = value_len(tid, buf, off)
    if n < 0:
        raise decode_error(tid, n)
    return n


def int_kind(tid):
    # Integer-valued types (data/bitmap/uint/int/enum/UTC/ids, not bool): +width in bytes for
    # unsigned, -width for signed; 0 for any other type.
    i = _info(tid)
    k = i >> 8
    if k == _K_UINT:
        return i & 0xFF
    if k == _K_INT:
        return -(i & 0xFF)
    return 0


def decode(tid, buf, off, budget=MAX_ELEMENTS):
    # -> (value, next_off). Raises DecodeError on truncation, an unknown type, or a value
    # beyond the limits above (at most `budget` collection elements).
    n = _measure(tid, buf, off, 0, budget if budget < _MAX_BUDGET else _MAX_BUDGET)
    if n < 0:
        raise decode_error(tid, n)
    return _build(tid, buf, off)


def value_at(tid, buf, off):
    # decode()'s value alone, for a value that measure() has validated (a fixed-size one
    # without the (value, offset) tuple).
    i = _info(tid)
    if _is_fixed(i):
        return _scalar(i, tid, buf, off)
    return _build(tid, buf, off)[0]


def _is_fixed(i):
    # A fixed-size kind (_info() i), "no data" included: _scalar() decodes it.
    return i >> 8 not in (_K_OSTR, _K_CSTR, _K_COLL, _K_STRUCT)


def _scalar(i, tid, buf, off):
    # The value of the fixed-size type tid (_info() i) at buf[off:], validated. Integers of up
    # to 3 bytes are read by hand (struct.unpack_from would allocate a tuple per value).
    k, w = i >> 8, i & 0xFF
    if k in (_K_UINT, _K_INT):
        if w > 3 and w in _UINT_FMT:  # 4 / 8 bytes
            return struct.unpack_from(_UINT_FMT[w] if k == _K_UINT else _INT_FMT[w], buf, off)[0]
        v = _uint(buf, off, w)
        if k == _K_INT and v >> (8 * w - 1):
            v -= 1 << (8 * w)
        return v
    if k == _K_BOOL:
        v = buf[off]
        return (v == 1) if v < 2 else v
    if k == _K_FLOAT:
        return struct.unpack_from(_FLOAT_FMT[tid - SEMI], buf, off)[0]
    if k == _K_BYTES:
        return bytes(buf[off : off + w])
    if k == _K_QUAD:
        return (buf[off], buf[off + 1], buf[off + 2], buf[off + 3])
    return None  # no data


def _build(tid, buf, off):
    # decode() of a value whose whole extent _measure() has validated. -> (value, next_off)
    i = _info(tid)
    k, w = i >> 8, i & 0xFF
    if k in (_K_OSTR, _K_CSTR):
        ln = buf[off] if w == 1 else buf[off] | buf[off + 1] << 8
        if ln == (0xFF if w == 1 else 0xFFFF):  # absent
            return None, off + w
        raw = bytes(buf[off + w : off + w + ln])
        if k == _K_CSTR:
            return _to_str(raw), off + w + ln
        return raw, off + w + ln
    if k == _K_COLL:
        # (elem_type, (values...)); sized up front (no regrowth garbage), and fixed-size
        # elements without a (value, offset) tuple each
        et = buf[off]
        cnt = buf[off + 1] | buf[off + 2] << 8
        p = off + 3
        if cnt == 0xFFFF:
            cnt = 0
        out = [None] * cnt  # type: list
        ei = _info(et)
        if _is_fixed(ei):
            ew = ei & 0xFF
            for j in range(cnt):
                out[j] = _scalar(ei, et, buf, p)
                p += ew
        else:
            for j in range(cnt):
                out[j], p = _build(et, buf, p)
        return (et, tuple(out)), p
    if k == _K_STRUCT:
        # ((type, value), ...)
        cnt = buf[off] | buf[off + 1] << 8
        p = off + 2
        if cnt == 0xFFFF:
            cnt = 0
        out = [None] * cnt  # type: list
        for j in range(cnt):
            et = buf[p]
            ei = _info(et)
            if _is_fixed(ei):
                v = _scalar(ei, et, buf, p + 1)
                p += 1 + (ei & 0xFF)
            else:
                v, p = _build(et, buf, p + 1)
            out[j] = (et, v)
        return tuple(out), p
    return _scalar(i, tid, buf, off), off + w


def _to_str(raw):
    try:
        return str(raw, "utf-8")
    except UnicodeError:  # MicroPython validates UTF-8: keep ASCII, mark the rest
        return "".join(chr(c) if c < 0x80 else "?" for c in raw)


def _as_bytes(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    return value


def encoded_len(tid, value):
    i = _info(tid)
    k, n = i >> 8, i & 0xFF
    if k in (_K_OSTR, _K_CSTR):
        return n if value is None else n + len(_as_bytes(value))
    if k == 0 or k in (_K_COLL, _K_STRUCT):
        raise EncodeError("cannot encode type 0x%02x" % tid)
    return n


def encode_into(tid, value, buf, off):
    # Writes value at buf[off:]; -> next offset. Range-checked (MicroPython's struct truncates).
    i = _info(tid)
    k, n = i >> 8, i & 0xFF
    size = encoded_len(tid, value)
    if off + size > len(buf):
        raise EncodeError("buffer too small")
    if k in (_K_UINT, _K_INT, _K_BOOL):
        if k == _K_BOOL:
            value = int(value)
            ok = value in (0, 1, 0xFF)
        elif k == _K_UINT:
            ok = 0 <= value < (1 << (8 * n))
        else:
            ok = -(1 << (8 * n - 1)) <= value < (1 << (8 * n - 1))
        if not ok:
            raise EncodeError("0x%02x out of range" % tid)
        fmt = (_INT_FMT if k == _K_INT else _UINT_FMT).get(n)
        if fmt is not None:
            struct.pack_into(fmt, buf, off, value)
        else:
            for j in range(n):
                buf[off + j] = (value >> (8 * j)) & 0xFF
    elif k == _K_FLOAT:
        struct.pack_into(_FLOAT_FMT[tid - SEMI], buf, off, value)
    elif k in (_K_OSTR, _K_CSTR):
        if value is None:
            ln = 0xFF if n == 1 else 0xFFFF
            data = b""
        else:
            data = _as_bytes(value)
            ln = len(data)
            if ln >= (0xFF if n == 1 else 0xFFFF):
                raise EncodeError("string too long")
        buf[off] = ln & 0xFF
        if n == 2:
            buf[off + 1] = ln >> 8
        buf[off + n : off + n + len(data)] = data
    elif k == _K_BYTES:
        if len(value) != n:
            raise EncodeError("need %d bytes" % n)
        buf[off : off + n] = value
    elif k == _K_QUAD:
        for j in range(4):
            buf[off + j] = value[j]
    return off + size


def encode(tid, value):
    # Convenience (allocates): value -> bytes.
    b = bytearray(encoded_len(tid, value))
    encode_into(tid, value, b, 0)
    return bytes(b)
