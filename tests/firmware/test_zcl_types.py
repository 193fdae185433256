# ZCL data type codec: byte layouts, ranges, non-values, truncation, fuzz.
import fwtest
from ihd.zigbee.zcl import types as T

PORTABLE = True

H = bytes.fromhex


def rt(tid, value, wire):
    assert T.encode(tid, value) == wire, (tid, value, T.encode(tid, value))
    v, off = T.decode(tid, memoryview(wire), 0)
    assert off == len(wire)
    assert v == value, (tid, v, value)
    assert T.wire_len(tid, wire, 0) == len(wire)
    assert T.encoded_len(tid, value) == len(wire)


def test_integers_little_endian():
    rt(T.UINT8, 0xAB, H("ab"))
    rt(T.UINT16, 0x1234, H("3412"))
    rt(T.UINT24, 0x123456, H("563412"))
    rt(T.UINT32, 0x1C374A80, H("804a371c"))
    rt(T.UINT40, 0x0102030405, H("0504030201"))
    rt(T.UINT48, 0x010203040506, H("060504030201"))
    rt(T.UINT56, 0x01020304050607, H("07060504030201"))
    rt(T.UINT64, 0xFFFFFFFFFFFFFFFE, H("feffffffffffffff"))
    rt(T.INT8, -2, H("fe"))
    rt(T.INT16, -0x1234, H("cced"))
    rt(T.INT24, -1, H("ffffff"))
    rt(T.INT24, -0x800000, H("000080"))
    rt(T.INT24, 0x7FFFFF, H("ffff7f"))
    rt(T.INT32, -25144000, H("405580fe"))
    rt(T.INT40, -(1 << 39), H("0000000080"))
    rt(T.INT48, -5, H("fbffffffffff"))
    rt(T.INT56, (1 << 55) - 1, H("ffffffffffff7f"))
    rt(T.INT64, -(1 << 63), H("0000000000000080"))


def test_discrete_and_time_types():
    rt(T.BITMAP8, 0x81, H("81"))
    rt(T.BITMAP16, 0x0497, H("9704"))
    rt(T.BITMAP24, 0xABCDEF, H("efcdab"))
    rt(T.BITMAP32, 0x00000200, H("00020000"))
    rt(T.BITMAP48, 0x0000FFFF0000, H("0000ffff0000"))
    rt(T.BITMAP64, 1, H("0100000000000000"))
    rt(T.DATA8, 7, H("07"))
    rt(T.DATA16, 0x0102, H("0201"))
    rt(T.DATA32, 0xDEADBEEF, H("efbeadde"))
    rt(T.DATA64, 0x0807060504030201, H("0102030405060708"))
    rt(T.ENUM8, 2, H("02"))
    rt(T.ENUM16, 0x0102, H("0201"))
    rt(T.UTC, 0x1FC66E20, H("206ec61f"))
    rt(T.CLUSTER_ID, 0x0708, H("0807"))
    rt(T.ATTR_ID, 0x0400, H("0004"))
    rt(T.TIME_OF_DAY, (13, 45, 30, 99), H("0d2d1e63"))
    rt(T.DATE, (125, 11, 21, 5), H("7d0b1505"))
    rt(T.EUI64, H("0102030405060708"), H("0102030405060708"))
    rt(T.KEY128, bytes(range(16)), bytes(range(16)))
    rt(T.BOOL, True, H("01"))
    rt(T.BOOL, False, H("00"))
    rt(T.BOOL, 0xFF, H("ff"))  # non-value passes through as the raw int
    assert T.decode(T.NODATA, b"", 0) == (None, 0)


def test_floats():
    rt(T.SINGLE, 1.5, H("0000c03f"))
    rt(T.DOUBLE, -2.0, H("00000000000000c0"))
    assert T.decode(T.SEMI, H("003e"), 0) == (1.5, 2)
    assert T.decode(T.SEMI, H("00bc"), 0) == (-1.0, 2)
    v, _ = T.decode(T.SINGLE, H("0000c07f"), 0)
    assert T.is_invalid(T.SINGLE, v)  # NaN is the float non-value


def test_strings():
    rt(T.OCTSTR, b"\x01\x02", H("020102"))
    rt(T.OCTSTR, b"", H("00"))
    rt(T.OCTSTR, None, H("ff"))  # absent / invalid
    rt(T.CHARSTR, "Hi", H("024869"))
    rt(T.CHARSTR, None, H("ff"))
    rt(T.LONG_OCTSTR, b"ab", H("02006162"))
    rt(T.LONG_OCTSTR, None, H("ffff"))
    rt(T.LONG_CHARSTR, "x" * 300, H("2c01") + b"x" * 300)
    assert T.encode(T.CHARSTR, b"raw") == H("03") + b"raw"
    assert T.encode(T.CHARSTR, "\u00a3") == H("02c2a3")  # length counts UTF-8 bytes
    v, off = T.decode(T.CHARSTR, H("03") + b"a\xffb", 0)  # invalid UTF-8 does not raise
    assert off == 4 and v == "a?b"
    fwtest.raises(T.EncodeError, T.encode, T.OCTSTR, b"x" * 255)


def test_decode_at_offset_in_memoryview():
    mv = memoryview(H("aaaa0201020300"))
    assert T.decode(T.OCTSTR, mv, 2) == (b"\x01\x02", 5)
    assert T.decode(T.UINT16, mv, 5) == (3, 7)


def test_truncation_raises_decode_error():
    for tid, wire in (
        (T.UINT8, b""),
        (T.UINT24, H("0102")),
        (T.INT48, H("0102030405")),
        (T.UINT64, H("01020304050607")),
        (T.OCTSTR, b""),
        (T.OCTSTR, H("05010203")),  # length past the end
        (T.CHARSTR, H("0141")[:1]),
        (T.LONG_OCTSTR, H("01")),
        (T.LONG_CHARSTR, H("0300ab")),
        (T.EUI64, H("01020304")),
        (T.KEY128, bytes(15)),
        (T.DATE, H("010203")),
        (T.SEMI, H("01")),
        (T.ARRAY, H("2003000102")),
    ):
        fwtest.raises(T.DecodeError, T.decode, tid, memoryview(wire), 0)
        fwtest.raises(T.DecodeError, T.wire_len, tid, wire, 0)
    fwtest.raises(T.DecodeError, T.decode, 0x99, H("00"), 0)  # unknown type


def test_range_checks_on_encode():
    buf = bytearray(8)
    for tid, bad in (
        (T.UINT8, 256),
        (T.UINT8, -1),
        (T.UINT24, 1 << 24),
        (T.INT24, 1 << 23),
        (T.INT24, -(1 << 23) - 1),
        (T.UINT48, 1 << 48),
        (T.BOOL, 2),
    ):
        fwtest.raises(T.EncodeError, T.encode_into, tid, bad, buf, 0)
    fwtest.raises(T.EncodeError, T.encode_into, T.UINT32, 1, bytearray(3), 0)
    fwtest.raises(T.EncodeError, T.encode_into, T.EUI64, b"\x01", buf, 0)
    fwtest.raises(T.EncodeError, T.encode_into, T.ARRAY, (), buf, 0)


def test_encode_into_caller_buffer_at_offset():
    buf = bytearray(10)
    off = T.encode_into(T.UINT16, 0x0102, buf, 1)
    off = T.encode_into(T.INT24, -2, buf, off)
    off = T.encode_into(T.OCTSTR, b"z", buf, off)
    assert off == 8 and bytes(buf) == H("000201feffff017a0000")


def test_non_values():
    assert T.non_value(T.UINT8) == 0xFF
    assert T.non_value(T.UINT48) == 0xFFFFFFFFFFFF
    assert T.non_value(T.INT24) == -0x800000
    assert T.non_value(T.UTC) == 0xFFFFFFFF
    assert T.non_value(T.ENUM8) == 0xFF
    assert T.non_value(T.ENUM16) == 0xFFFF
    assert T.non_value(T.BOOL) == 0xFF
    assert T.non_value(T.EUI64) == b"\xff" * 8
    assert T.non_value(T.BITMAP8) is None  # bitmaps and data have no non-value
    assert T.is_invalid(T.INT24, T.decode(T.INT24, H("000080"), 0)[0])
    assert T.is_invalid(T.UTC, 0xFFFFFFFF)
    assert not T.is_invalid(T.UTC, 0)
    assert T.is_invalid(T.OCTSTR, None)


def test_collections_decode():
    # array of uint16 [1, 2], struct {uint8 5, bool true}
    v, off = T.decode(T.ARRAY, H("21020001000200"), 0)
    assert v == (T.UINT16, (1, 2)) and off == 7
    v, off = T.decode(T.STRUCT, H("020020051001"), 0)
    assert v == ((T.UINT8, 5), (T.BOOL, True)) and off == 6


def test_type_classes():
    assert T.fixed_size(T.UINT24) == 3 and T.fixed_size(T.KEY128) == 16
    assert T.fixed_size(T.OCTSTR) == -1
    assert T.is_analog(T.INT24) and T.is_analog(T.UTC) and T.is_analog(T.SINGLE)
    assert not T.is_analog(T.BITMAP32) and not T.is_analog(T.ENUM8)


def test_wire_len_does_not_allocate():
    buf = memoryview(H("0a0b0c0d0e0f1002aabb"))
    with fwtest.HeapLocked():
        n = T.wire_len(T.UINT48, buf, 1) + T.wire_len(T.OCTSTR, buf, 7)
    assert n == 6 + 3


def test_fuzz_decode_only_raises_decode_error():
    import random

    random.seed(7)
    tids = [t for t in range(256) if T.known(t)]
    for _ in range(3000):
        tid = random.choice(tids)
        n = random.randint(0, 12)
        wire = bytes(random.getrandbits(8) for _ in range(n))
        try:
            v, off = T.decode(tid, memoryview(wire), 0)
        except T.DecodeError:
            continue
        assert 0 <= off <= n
        if tid == T.BOOL and v not in (0, 1, 0xFF):
            continue  # reserved bool bytes decode raw but are not re-encodable
        if (
            tid not in (T.ARRAY, T.SET, T.BAG, T.STRUCT, T.NODATA)
            and not (tid in (T.SEMI, T.SINGLE, T.DOUBLE) and v != v)
            and (tid not in (T.CHARSTR, T.LONG_CHARSTR) or v is None or "?" not in v)
        ):
            # whatever decodes re-encodes to the same bytes (except lossy UTF-8 fallback)
            assert T.encode(tid, v) == wire[:off], (tid, wire)


def test_zero_length_elements_are_malformed():
    # 9 bytes of Report Attributes from any node: an array claiming 65,534 "no data" elements
    # (it used to decode into a 512 KB tuple). An array / set / bag of "no data" with elements
    # is malformed; an empty one, or the invalid one (count 0xFFFF), is not.
    for coll in (T.ARRAY, T.SET, T.BAG):
        for cnt in (1, 2, 0xFFFE):
            wire = bytes((T.NODATA, cnt & 0xFF, cnt >> 8))
            assert T.value_len(coll, wire, 0) < 0
            e = fwtest.raises(T.DecodeError, T.decode, coll, memoryview(wire), 0)
            assert "zero-length" in str(e), str(e)
        assert T.decode(coll, H("000000"), 0) == ((T.NODATA, ()), 3)
        assert T.decode(coll, H("00ffff"), 0) == ((T.NODATA, ()), 3)
    # a struct's "no data" elements cost their type byte each: bounded by the bytes
    assert T.decode(T.STRUCT, H("03000000") + H("00"), 0) == (((0, None),) * 3, 5)


def test_counts_are_checked_against_the_bytes_before_walking():
    # A huge count fails at once, whatever the element type (fixed, string, nested).
    for et, body in ((T.UINT8, H("01")), (T.OCTSTR, H("00")), (T.ARRAY, H("200000")),
                     (T.STRUCT, H("0000")), (T.LONG_CHARSTR, H("0000"))):  # fmt: skip
        wire = bytes((et, 0xFE, 0xFF)) + body * 10
        assert T.value_len(T.ARRAY, wire, 0) < 0
        wire = bytes((et, 20, 0)) + body * 10  # within the element cap, not the bytes
        assert T.value_len(T.ARRAY, wire, 0) == -5  # past end
    assert T.value_len(T.STRUCT, H("feff") + H("2001") * 10, 0) < 0
    # exactly enough bytes: fine (fixed-size elements are not walked one by one)
    assert T.value_len(T.ARRAY, H("210300") + bytes(6), 0) == 9
    assert T.value_len(T.ARRAY, H("210300") + bytes(5), 0) < 0
    # an unknown element type is malformed even in an empty array
    assert T.value_len(T.ARRAY, H("990000"), 0) == -4


def test_long_strings_with_huge_lengths():
    for tid in (T.LONG_OCTSTR, T.LONG_CHARSTR):
        for ln in (0xFFFE, 0x8000, 300):
            wire = bytes((ln & 0xFF, ln >> 8)) + b"x" * 200
            assert T.value_len(tid, wire, 0) == -5
            fwtest.raises(T.DecodeError, T.decode, tid, memoryview(wire), 0)
        assert T.decode(tid, H("ffff") + b"x" * 10, 0) == (None, 2)  # absent
    # inside an array: every element is measured against what remains
    wire = bytes((T.LONG_OCTSTR, 3, 0)) + H("0100aa") + H("0100bb") + H("feff")
    assert T.value_len(T.ARRAY, wire, 0) < 0


def test_nesting_depth_is_capped():
    # array of arrays (depth 2): fine; a third level is malformed
    two = H("48 0100 20 0200 0102".replace(" ", ""))
    assert T.decode(T.ARRAY, two, 0) == ((T.ARRAY, ((T.UINT8, (1, 2)),)), len(two))
    three = H("48 0100 48 0100 20 0100 07".replace(" ", ""))
    e = fwtest.raises(T.DecodeError, T.decode, T.ARRAY, three, 0)
    assert "deep" in str(e)
    # struct holding an array: depth 2; struct in an array in a struct: too deep
    s2 = H("0100 48 20 0100 09".replace(" ", ""))
    assert T.decode(T.STRUCT, s2, 0) == (((T.ARRAY, (T.UINT8, (9,))),), len(s2))
    s3 = H("0100 48 4c 0100 0100 2005".replace(" ", ""))
    assert T.value_len(T.STRUCT, s3, 0) == -6
    # a deep chain of arrays (as many as fit in a frame): no recursion past the cap
    chain = H("480100") * 80 + H("200000")
    assert T.value_len(T.ARRAY, chain, 0) == -6


def test_elements_per_value_are_capped():
    n = T.MAX_ELEMENTS
    ok = bytes((T.UINT8, n & 0xFF, n >> 8)) + bytes(n)
    r = T.measure(T.ARRAY, ok, 0)
    assert T.length(r) == 3 + n and T.elements(r) == n
    assert len(T.decode(T.ARRAY, ok, 0)[0][1]) == n
    over = bytes((T.UINT8, (n + 1) & 0xFF, (n + 1) >> 8)) + bytes(n + 1)
    assert T.value_len(T.ARRAY, over, 0) == -7
    assert "too many" in str(fwtest.raises(T.DecodeError, T.decode, T.ARRAY, over, 0))
    # nested elements count too: 8 arrays of 8 uint8 = 8 + 64 elements
    inner = H("200800") + bytes(8)
    nested = H("480800") + inner * 8
    assert T.value_len(T.ARRAY, nested, 0) == -7
    assert T.elements(T.measure(T.ARRAY, nested, 0, 72)) == 72
    # a caller's smaller budget (what a frame has left)
    assert T.value_len(T.ARRAY, H("200300010203"), 0, 2) == -7


def test_measure_does_not_allocate():
    # struct {array of uint8 [1, 2], struct {charstr "hi"}}: 2 + 2 + 1 elements
    wire = memoryview(H("0200 48 20 0200 0102 4c 0100 42 02 6869".replace(" ", "")))
    with fwtest.HeapLocked():
        r = T.measure(T.STRUCT, wire, 0)
        bad = T.value_len(T.ARRAY, wire, 1) + T.value_len(T.ARRAY, b"\x00\xfe\xff", 0)
    assert T.length(r) == len(wire) and T.elements(r) == 5 and bad < 0
