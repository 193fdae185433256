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
