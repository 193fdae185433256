# ZCL global commands: record layouts byte for byte, short forms, malformed input.
import fwtest
from ihd.zigbee.zcl import foundation as F
from ihd.zigbee.zcl import types as T

PORTABLE = True

H = bytes.fromhex


def enc(fn, *args):
    buf = bytearray(96)
    return bytes(buf[: fn(buf, 0, *args)])


def test_read_attributes():
    wire = enc(F.encode_read_attributes, (0x0000, 0x0400, 0x051C))
    assert wire == H("000000041c05")
    assert list(F.iter_read_attributes(memoryview(wire))) == [0, 0x0400, 0x051C]
    fwtest.raises(T.DecodeError, list, F.iter_read_attributes(H("0000ff")))


def test_read_attributes_response_with_status_records():
    recs = [
        (0x0400, F.SUCCESS, T.INT24, -1500),
        (0x0401, F.UNSUPPORTED_ATTRIBUTE, None, None),
        (0x0307, F.SUCCESS, T.OCTSTR, b"1234"),
        (0x0000, F.SUCCESS, T.UINT48, 123456789),
    ]
    wire = enc(F.encode_read_attributes_response, recs)
    assert wire == H("0004002a24faff0104860703004104313233340000002515cd5b070000")
    assert list(F.iter_read_attributes_response(memoryview(wire))) == recs


def test_read_attributes_response_partial_fit():
    buf = bytearray(12)
    recs = [(1, 0, T.UINT32, 1), (2, 0, T.UINT32, 2)]
    n = F.encode_read_attributes_response(buf, 0, recs, partial=True)
    assert n == 8  # the second record does not fit: dropped, not raised
    fwtest.raises(T.EncodeError, F.encode_read_attributes_response, buf, 0, recs)


def test_write_and_report_attribute_records():
    recs = [(0x0000, T.UTC, 0x1FC66E20), (0x0001, T.BITMAP8, 0x02), (0x0004, T.CHARSTR, "IHD")]
    wire = enc(F.encode_write_attributes, recs)
    assert wire == H("0000e2206ec61f0100180204004203494844")
    assert list(F.iter_write_attributes(wire)) == recs
    assert list(F.iter_report_attributes(wire)) == recs


def test_write_attributes_response_forms():
    assert enc(F.encode_write_attributes_response, [(0, 1), (0, 2)]) == H("00")
    wire = enc(F.encode_write_attributes_response, [(0, 1), (F.READ_ONLY, 2), (0x86, 0x10)])
    assert wire == H("880200861000")
    assert list(F.iter_write_attributes_response(wire)) == [(0x88, 2), (0x86, 0x10)]
    assert list(F.iter_write_attributes_response(H("00"))) == [(0, None)]
    fwtest.raises(T.DecodeError, list, F.iter_write_attributes_response(b""))
    fwtest.raises(T.DecodeError, list, F.iter_write_attributes_response(H("8802")))


def test_configure_reporting():
    recs = [
        F.reporting_record(0x0400, T.INT24, 5, 60, 100),
        F.reporting_record(0x0200, T.BITMAP8, 0, 600),  # discrete: no reportable change
        F.reporting_timeout_record(0x0000, 900),
    ]
    wire = enc(F.encode_configure_reporting, recs)
    assert wire == H("0000042a05003c0064000000000218000058020100008403")
    assert list(F.iter_configure_reporting(wire)) == recs
    fwtest.raises(T.DecodeError, list, F.iter_configure_reporting(H("020004")))


def test_configure_reporting_response():
    assert enc(F.encode_configure_reporting_response, [(0, 0, 1)]) == H("00")
    wire = enc(F.encode_configure_reporting_response, [(0x8C, 0, 0x0400), (0, 0, 1)])
    assert wire == H("8c000004")
    assert list(F.iter_configure_reporting_response(wire)) == [(0x8C, 0, 0x0400)]
    assert list(F.iter_configure_reporting_response(H("00"))) == [(0, None, None)]


def test_default_response_gcs09():
    # GBCS GCS09 response payload after header `00 00 0B`: command 0x00, SUCCESS
    assert enc(F.encode_default_response, 0x00, F.SUCCESS) == H("0000")
    assert F.decode_default_response(H("00000b0000"), 3) == (0, 0)
    assert F.decode_default_response(H("0481"), 0) == (4, F.UNSUP_CLUSTER_COMMAND)
    fwtest.raises(T.DecodeError, F.decode_default_response, H("04"), 0)


def test_discover_attributes():
    assert enc(F.encode_discover_attributes, 0x0000, 16) == H("000010")
    assert F.decode_discover_attributes(H("000010")) == (0, 16)
    wire = enc(F.encode_discover_attributes_response, True, [(0, T.EUI64), (1, T.UINT32)])
    assert wire == H("010000f0010023")
    assert F.discover_complete(wire) is True
    assert list(F.iter_discover_attributes_response(wire)) == [(0, 0xF0), (1, 0x23)]


def test_attr_status_identity():
    assert F.attr_status(0x86) is F.attr_status(0x86)
    assert F.attr_status(0x86) == F.AttrStatus(0x86) and F.attr_status(0x86) != 0x86


def test_truncated_records_raise_decode_error():
    for gen, wire in (
        (F.iter_read_attributes_response, H("000400")[:2]),
        (F.iter_read_attributes_response, H("0004002a24fa")),  # int24 cut short
        (F.iter_read_attributes_response, H("00040041")),  # no type byte
        (F.iter_read_attributes_response, H("07030041053132")),  # string past the end
        (F.iter_attribute_records, H("0000e2206e")),
        (F.iter_attribute_records, H("0000")),
        (F.iter_attribute_records, H("000099")),  # unknown type
        (F.iter_discover_attributes_response, H("010000")),
    ):
        fwtest.raises(T.DecodeError, list, gen(memoryview(wire)))


def test_fuzz_generators_only_raise_decode_error():
    import random

    random.seed(3)
    gens = (
        F.iter_read_attributes,
        F.iter_read_attributes_response,
        F.iter_attribute_records,
        F.iter_write_attributes_response,
        F.iter_configure_reporting,
        F.iter_configure_reporting_response,
        F.iter_discover_attributes_response,
    )
    for i in range(1500):
        wire = bytes(random.getrandbits(8) for _ in range(random.randint(0, 24)))
        try:
            list(gens[i % len(gens)](memoryview(wire)))
        except T.DecodeError:
            pass


# ---- Records: the allocation-free decoding of the receive path ----


def enc_big(fn, *args):
    buf = bytearray(256)
    return bytes(buf[: fn(buf, 0, *args)])


def _limbs(v):
    return v >> 24, v & 0xFFFFFF  # (hi, lo) with value == hi * 2**24 + lo


def test_records_integer_limbs_and_values():
    cases = [
        (T.UINT8, 200),
        (T.INT8, -5),
        (T.INT16, -1),
        (T.ENUM8, 3),
        (T.BITMAP16, 0xA55A),
        (T.UINT24, 0xFFFFFF),
        (T.INT24, -1500),
        (T.INT24, 0x7FFFFF),
        (T.UINT32, 0xFFFFFFFF),
        (T.INT32, -(1 << 31)),
        (T.UTC, 0x2A3B4C5D),
        (T.UINT40, 0xFEDCBA9876),
        (T.INT40, -0x123456789),
        (T.UINT48, 0xFFFFFFFFFFFF),
        (T.UINT48, 0x123456789ABC),
        (T.INT48, -(1 << 47)),
        (T.DATA48, 0x0102030405),
        (T.CLUSTER_ID, 0x0702),
    ]
    wire = enc_big(F.encode_attribute_records, [(i, t, v) for i, (t, v) in enumerate(cases)])
    rec = F.Records(len(cases))
    assert F.decode_attribute_records_into(rec, memoryview(wire)) and rec.n == len(cases)
    assert not rec.more and rec.error is None
    for i, (t, v) in enumerate(cases):
        assert rec.ok(i) and rec.attr[i] == i and rec.tid[i] == t
        assert (rec.hi[i], rec.lo[i]) == _limbs(v), (t, v, rec.hi[i], rec.lo[i])
        assert -(1 << 30) <= rec.hi[i] < (1 << 30) and 0 <= rec.lo[i] < (1 << 24)
        assert rec.value(i) == v
    assert rec.get(5) == 0xFFFFFF and rec.get(0x9999, "absent") == "absent"


def test_records_other_types_decode_like_types_decode():
    cases = [
        (T.BOOL, True),
        (T.BOOL, False),
        (T.UINT64, 0xFEDCBA9876543210),
        (T.INT56, -2),
        (T.SINGLE, 1.5),
        (T.OCTSTR, b"1234"),
        (T.CHARSTR, "Hall"),
        (T.OCTSTR, None),
        (T.EUI64, H("0102030405060708")),
        (T.DATE, (125, 1, 2, 4)),
    ]
    wire = enc_big(F.encode_attribute_records, [(i, t, v) for i, (t, v) in enumerate(cases)])
    rec = F.Records()
    assert F.decode_attribute_records_into(rec, memoryview(wire))
    assert [rec.value(i) for i in range(rec.n)] == [v for _, v in cases]
    # 64-bit: lo/hi hold bits 0..47, the raw bytes stay in buf
    i = 2
    assert (rec.hi[i], rec.lo[i]) == (0xBA9876, 0x543210)
    assert bytes(rec.buf[rec.off[i] : rec.off[i] + rec.size[i]]) == H("1032547698badcfe")
    # NODATA and the bool "invalid" byte
    rec2 = F.Records()
    assert F.decode_attribute_records_into(rec2, H("0100000200 10ff".replace(" ", "")))
    assert rec2.value(0) is None and rec2.value(1) == 0xFF


def test_records_read_response_statuses_and_faults():
    recs = [
        (0x0400, F.SUCCESS, T.INT24, -1500),
        (0x0401, F.UNSUPPORTED_ATTRIBUTE, None, None),
        (0x0000, F.SUCCESS, T.UINT48, 123456789),
    ]
    wire = enc_big(F.encode_read_attributes_response, recs)
    rec = F.Records()
    assert F.decode_read_attributes_response_into(rec, memoryview(wire))
    assert rec.to_dict() == {
        0x0400: -1500,
        0x0401: F.attr_status(F.UNSUPPORTED_ATTRIBUTE),
        0x0000: 123456789,
    }
    assert not rec.ok(1) and rec.status[1] == F.UNSUPPORTED_ATTRIBUTE
    # malformed: the records before the fault are kept, nothing raised
    for wire, n in ((H("0004002a18fcff" + "0000"), 1), (H("07030041053132"), 0)):
        assert not F.decode_read_attributes_response_into(rec, memoryview(wire))
        assert rec.n == n and isinstance(rec.error, str)
    assert not F.decode_attribute_records_into(rec, H("000099"))  # unknown type
    assert rec.error == "unknown type"
    # more records than the capacity: the rest start at rec.stop
    small = F.Records(2)
    wire = enc_big(F.encode_read_attributes_response, recs)
    assert F.decode_read_attributes_response_into(small, memoryview(wire))
    assert small.n == 2 and small.more
    rest = list(F.iter_read_attributes_response(wire, small.stop))
    assert rest == [(0x0000, F.SUCCESS, T.UINT48, 123456789)]
    small.fill_status((1, 2, 3), F.UNSUPPORTED_CLUSTER)
    assert small.n == 2 and small.more and small.value(0) == F.attr_status(F.UNSUPPORTED_CLUSTER)


def test_records_decoding_does_not_allocate():
    wire = memoryview(enc_big(F.encode_read_attributes_response, [
        (0x0000, F.SUCCESS, T.UINT48, 0x123456789ABC),
        (0x0400, F.SUCCESS, T.INT24, -1500),
        (0x0307, F.SUCCESS, T.OCTSTR, b"1234"),
        (0x0401, F.UNSUPPORTED_ATTRIBUTE, None, None),
    ]))  # fmt: skip
    bad = memoryview(H("0004002a18fc"))  # int24 cut short
    rec = F.Records()
    with fwtest.HeapLocked():
        ok = F.decode_read_attributes_response_into(rec, wire)
        v = rec.value(1)
        bad_ok = F.decode_read_attributes_response_into(rec, bad)
    assert ok and v == -1500 and not bad_ok


def test_fuzz_records_agree_with_the_generators():
    import random

    random.seed(11)
    rec = F.Records(64)
    for i in range(1500):
        wire = memoryview(bytes(random.getrandbits(8) for _ in range(random.randint(0, 24))))
        read = i % 2 == 0
        gen = F.iter_read_attributes_response if read else F.iter_attribute_records
        dec = F.decode_read_attributes_response_into if read else F.decode_attribute_records_into
        want, err = [], False
        try:
            for r in gen(wire):
                want.append(r)
        except T.DecodeError:
            err = True
        assert dec(rec, wire) is not err
        assert rec.n == len(want)
        for k, r in enumerate(want):
            a, v = r[0], r[-1]
            st = r[1] if read else F.SUCCESS
            assert rec.attr[k] == a and rec.status[k] == st
            if st == F.SUCCESS:
                got = rec.value(k)
                assert got == v or (got != got and v != v), (bytes(wire), k, got, v)


# ---- bounded decoding (types.py "Bounded decoding"): per-frame element budget ----

ATTACK_9 = H("18010a00004800feff")  # Report Attributes: array of 65,534 "no data" elements


def _arr_u8(n, attr=0x0100):
    # attribute record {attr, array of n uint8}
    return bytes((attr & 0xFF, attr >> 8, T.ARRAY, T.UINT8, n & 0xFF, n >> 8)) + bytes(n)


def test_attack_report_is_malformed_without_decoding():
    payload = memoryview(ATTACK_9[3:])
    rec = F.Records()
    with fwtest.HeapLocked():
        ok = F.decode_attribute_records_into(rec, payload)
    assert not ok and rec.n == 0 and "zero-length" in rec.error
    fwtest.raises(T.DecodeError, list, F.iter_report_attributes(payload))


def test_frame_element_budget_spans_records():
    # Two records of 5/8 of the cap each: each value is within the per-value cap, the frame not.
    m = T.MAX_ELEMENTS
    a = m * 5 // 8
    first = _arr_u8(a, 0x0100)
    wire = memoryview(first + _arr_u8(a, 0x0101))
    rec = F.Records()
    assert not F.decode_attribute_records_into(rec, wire)
    assert rec.n == 1 and rec.elements == a and rec.error == "too many elements"
    fwtest.raises(T.DecodeError, list, F.iter_attribute_records(wire))
    assert len(list(F.iter_attribute_records(wire, 0, 2 * a))) == 2  # a larger budget: both
    assert F.decode_attribute_records_into(rec, wire, 0, 2 * a) and rec.n == 2
    ok = memoryview(first + _arr_u8(m - a, 0x0101))
    assert F.decode_attribute_records_into(rec, ok) and rec.elements == m
    assert rec.value(1) == (T.UINT8, (0,) * (m - a))
    # read responses (status byte) share the rule
    rsp = b"".join(H("0001 00 48 20".replace(" ", "")) + bytes((a, 0)) + bytes(a)
                   for _ in range(2))  # fmt: skip
    assert not F.decode_read_attributes_response_into(rec, memoryview(rsp)) and rec.n == 1
    fwtest.raises(T.DecodeError, list, F.iter_read_attributes_response(rsp))


def test_records_elements_and_the_rest_budget():
    # More records than a Records holds: `elements` says what the first ones used, and the
    # rest (the generator, or the next chunk at rec.stop) gets what is left.
    m = T.MAX_ELEMENTS
    a, b, c = m // 6, m // 3, m // 2
    rec = F.Records(2)
    wire = memoryview(_arr_u8(a, 1) + _arr_u8(b, 2) + _arr_u8(c, 3) + _arr_u8(a, 4))
    assert F.decode_attribute_records_into(rec, wire) and rec.more and rec.elements == a + b
    left = m - rec.elements
    fwtest.raises(T.DecodeError, list, F.iter_attribute_records(wire, rec.stop, left))
    assert not F.decode_attribute_records_into(rec, wire, rec.stop, left)  # the next chunk
    wire = memoryview(_arr_u8(a, 1) + _arr_u8(b, 2) + _arr_u8(c, 3))
    assert F.decode_attribute_records_into(rec, wire) and rec.more
    assert len(list(F.iter_attribute_records(wire, rec.stop, left))) == 1
    assert F.decode_attribute_records_into(rec, wire, rec.stop, left) and rec.n == 1
