# zigpy 2.4.0 as referee for the firmware ZCL codec: frames our firmware encodes must parse in
# zigpy to the same values and re-serialize to the same bytes, and zigpy-built frames must decode
# in the firmware. Hypothesis drives the per-type round trips.
import struct

import zigpy.types as t
from hypothesis import given, settings
from hypothesis import strategies as st
from zigpy.zcl import foundation as zf

from host_tools import upy_shim

upy_shim.install()

from ihd.zigbee.zcl import foundation as F  # noqa: E402
from ihd.zigbee.zcl import frame as FR  # noqa: E402
from ihd.zigbee.zcl import types as T  # noqa: E402

# Every data type the firmware tables use or the brief lists, with a sample value.
SAMPLES = [
    (T.BOOL, True),
    (T.DATA8, 0x5A),
    (T.DATA16, 0x1234),
    (T.DATA24, 0x123456),
    (T.DATA32, 0x12345678),
    (T.DATA40, 0x0102030405),
    (T.DATA48, 0x010203040506),
    (T.DATA56, 0x01020304050607),
    (T.DATA64, 0x0102030405060708),
    (T.BITMAP8, 0x81),
    (T.BITMAP16, 0x0497),
    (T.BITMAP24, 0xABCDEF),
    (T.BITMAP32, 0x00000200),
    (T.BITMAP48, 0x0000FFFF0001),
    (T.BITMAP64, 0x8000000000000001),
    (T.UINT8, 0xFE),
    (T.UINT16, 826),
    (T.UINT24, 0x123456),
    (T.UINT32, 25144000),
    (T.UINT40, 0x0102030405),
    (T.UINT48, 123456789012),
    (T.UINT56, 0x01020304050607),
    (T.UINT64, 0xFFFFFFFFFFFFFFFE),
    (T.INT8, -100),
    (T.INT16, -30000),
    (T.INT24, -1500),
    (T.INT32, -25144000),
    (T.INT40, -(1 << 38)),
    (T.INT48, -123456789012),
    (T.INT56, -(1 << 54)),
    (T.INT64, -(1 << 62)),
    (T.ENUM8, 2),
    (T.ENUM16, 0x0102),
    (T.SEMI, 1.5),
    (T.SINGLE, -2.25),
    (T.DOUBLE, 3.141592653589793),
    (T.OCTSTR, b"1234"),
    (T.CHARSTR, "Hello"),
    (T.LONG_OCTSTR, b"x" * 300),
    (T.LONG_CHARSTR, "y" * 300),
    (T.TIME_OF_DAY, (13, 45, 30, 99)),
    (T.DATE, (125, 11, 21, 5)),
    (T.UTC, 0x1FC66E20),
    (T.CLUSTER_ID, 0x0708),
    (T.ATTR_ID, 0x0400),
    (T.EUI64, bytes.fromhex("0102030405060708")),
    (T.KEY128, bytes(range(16))),
]


def zpy_type(tid):
    return zf.DataType.from_type_id(tid).python_type


def as_ours(tid, zv):
    # zigpy value -> the firmware's representation
    if T.DATA8 <= tid <= T.DATA64:
        return int.from_bytes(bytes(zv), "little")
    if tid in (T.EUI64, T.KEY128):
        return bytes(zv.serialize())
    if tid == T.TIME_OF_DAY:
        return (zv.hours, zv.minutes, zv.seconds, zv.hundredths)
    if tid == T.DATE:
        return (zv.years_since_1900, zv.month, zv.day, zv.day_of_week)
    if tid == T.BOOL:
        return bool(zv)
    if tid in (T.CHARSTR, T.LONG_CHARSTR):
        return str(zv)
    if tid in (T.OCTSTR, T.LONG_OCTSTR):
        return bytes(zv)
    if tid in (T.SEMI, T.SINGLE, T.DOUBLE):
        return float(zv)
    return int(zv)


def ours(fn, *args, size=1024):
    buf = bytearray(size)
    return bytes(buf[: fn(buf, 0, *args)])


def test_header_both_ways():
    for ft in (FR.GLOBAL, FR.CLUSTER):
        for d in (FR.C2S, FR.S2C):
            for ddr in (False, True):
                for m in (None, 0x10DC):
                    wire = ours(FR.encode_header, ft, d, 0x5A, 0x0B, ddr, m) + b"\x01"
                    hdr, rest = zf.ZCLHeader.deserialize(wire)
                    assert hdr.frame_control.frame_type == ft
                    assert hdr.frame_control.direction == d
                    assert bool(hdr.frame_control.disable_default_response) == ddr
                    assert hdr.manufacturer == m and hdr.tsn == 0x5A and hdr.command_id == 0x0B
                    assert hdr.serialize() + rest == wire
    hdr = zf.ZCLHeader.cluster(tsn=7, command_id=3, direction=zf.Direction.Server_to_Client)
    h = FR.Header().parse(hdr.serialize())
    assert (h.frame_type, h.direction, h.disable_dr, h.tsn, h.cmd_id) == (1, 1, True, 7, 3)


def test_read_attributes_both_ways():
    ids = [0x0000, 0x0400, 0x051C, 0xFFFD]
    wire = ours(F.encode_read_attributes, ids)
    zv, rest = t.List[t.uint16_t].deserialize(wire)
    assert list(zv) == ids and rest == b""
    assert list(F.iter_read_attributes(t.List[t.uint16_t](ids).serialize())) == ids


def test_read_attributes_response_with_every_type():
    recs = [(0x1000 + i, F.SUCCESS, tid, v) for i, (tid, v) in enumerate(SAMPLES)]
    recs.insert(3, (0x0401, F.UNSUPPORTED_ATTRIBUTE, None, None))
    wire = ours(F.encode_read_attributes_response, recs, size=2048)
    zrsp, rest = zf.ReadAttributesResponse.deserialize(wire)
    assert rest == b""
    zrecs = zrsp.status_records
    assert len(zrecs) == len(recs)
    for (a, s, tid, v), zr in zip(recs, zrecs):
        assert zr.attrid == a and zr.status == s
        if s == F.SUCCESS:
            assert zr.value.type == tid
            assert as_ours(tid, zr.value.value) == v, hex(tid)
    assert zrsp.serialize() == wire
    # and zigpy's bytes decode in the firmware
    assert list(F.iter_read_attributes_response(memoryview(zrsp.serialize()))) == recs


def test_write_and_report_attributes_both_ways():
    recs = [(0x2000 + i, tid, v) for i, (tid, v) in enumerate(SAMPLES)]
    wire = ours(F.encode_write_attributes, recs, size=2048)
    zl, rest = t.List[zf.Attribute].deserialize(wire)
    assert rest == b"" and len(zl) == len(recs)
    for (a, tid, v), za in zip(recs, zl):
        assert za.attrid == a and za.value.type == tid and as_ours(tid, za.value.value) == v
    zbytes = b"".join(a.serialize() for a in zl)
    assert zbytes == wire
    assert list(F.iter_report_attributes(zbytes)) == recs
    # zigpy-built Report Attributes for Metering InstantaneousDemand (int24)
    za = zf.Attribute(attrid=0x0400, value=zf.TypeValue(type=0x2A, value=t.int24s(-1000)))
    assert list(F.iter_report_attributes(za.serialize())) == [(0x0400, T.INT24, -1000)]


def test_write_attributes_response_both_ways():
    wire = ours(F.encode_write_attributes_response, [(0, 1), (0x88, 2), (0x86, 3)])
    zr, _ = zf.WriteAttributesResponse.deserialize(wire)
    assert [(r.status, r.attrid) for r in zr] == [(0x88, 2), (0x86, 3)]
    ok = zf.WriteAttributesResponse([zf.WriteAttributesStatusRecord(status=0)]).serialize()
    assert ok == ours(F.encode_write_attributes_response, [(0, 1)]) == b"\x00"
    assert list(F.iter_write_attributes_response(zr.serialize())) == [(0x88, 2), (0x86, 3)]


def test_default_response_both_ways():
    wire = ours(F.encode_default_response, 0x00, F.SUCCESS)
    zr, rest = zf.DefaultResponse.deserialize(wire)
    assert zr.command_id == 0 and zr.status == zf.Status.SUCCESS and rest == b""
    z = zf.DefaultResponse(command_id=4, status=zf.Status.UNSUP_CLUSTER_COMMAND).serialize()
    assert F.decode_default_response(z) == (4, 0x81)
    # The GBCS GCS09 response frame, built by zigpy
    hdr = zf.ZCLHeader.general(tsn=0, command_id=0x0B, direction=zf.Direction.Client_to_Server)
    hdr.frame_control = hdr.frame_control.replace(disable_default_response=0)
    zwire = hdr.serialize() + zf.DefaultResponse(command_id=0, status=0).serialize()
    assert zwire == bytes.fromhex("00000b0000")


def test_configure_reporting_both_ways():
    recs = [
        F.reporting_record(0x0400, T.INT24, 5, 60, 100),
        F.reporting_record(0x0200, T.BITMAP8, 0, 600),
        F.reporting_record(0x0000, T.UINT48, 10, 3600, 1000),
        F.reporting_timeout_record(0x0001, 900),
    ]
    wire = ours(F.encode_configure_reporting, recs)
    zl, rest = t.List[zf.AttributeReportingConfig].deserialize(wire)
    assert rest == b"" and len(zl) == 4
    assert (zl[0].attrid, zl[0].datatype, zl[0].min_interval, zl[0].max_interval) == (
        0x0400,
        0x2A,
        5,
        60,
    )
    assert zl[0].reportable_change == 100 and zl[2].reportable_change == 1000
    assert zl[3].direction == 1 and zl[3].timeout == 900
    zbytes = b"".join(c.serialize() for c in zl)
    assert zbytes == wire
    assert list(F.iter_configure_reporting(zbytes)) == recs
    # response: all-success short form and failure records
    assert zf.ConfigureReportingResponse(
        [zf.ConfigureReportingResponseRecord(status=0)]
    ).serialize() == ours(F.encode_configure_reporting_response, [(0, 0, 1)])
    fail = ours(F.encode_configure_reporting_response, [(0x8C, 0, 0x0400)])
    zr, _ = zf.ConfigureReportingResponseRecord.deserialize(fail)
    assert (zr.status, zr.direction, zr.attrid) == (0x8C, 0, 0x0400)


def test_discover_attributes_both_ways():
    wire = ours(F.encode_discover_attributes_response, True, [(0, 0xF0), (1, 0x23)])
    comp, rest = t.Bool.deserialize(wire)
    zl, rest = t.List[zf.DiscoverAttributesResponseRecord].deserialize(rest)
    assert comp and [(r.attrid, r.datatype) for r in zl] == [(0, 0xF0), (1, 0x23)]


# ---------------- property tests per type ----------------

INT_TIDS = [tid for tid, _ in SAMPLES if T.UINT8 <= tid <= T.INT64]
UINTISH = [T.BITMAP8, T.BITMAP16, T.BITMAP24, T.BITMAP32, T.BITMAP48, T.BITMAP64, T.ENUM8,
           T.ENUM16, T.UTC, T.CLUSTER_ID, T.ATTR_ID]  # fmt: skip


def _int_range(tid):
    n = T.fixed_size(tid)
    if T.INT8 <= tid <= T.INT64:
        return -(1 << (8 * n - 1)), (1 << (8 * n - 1)) - 1
    return 0, (1 << (8 * n)) - 1


@st.composite
def int_case(draw):
    tid = draw(st.sampled_from(INT_TIDS + UINTISH))
    lo, hi = _int_range(tid)
    return tid, draw(st.integers(lo, hi))


@settings(max_examples=400, deadline=None)
@given(int_case())
def test_integers_match_zigpy(case):
    tid, v = case
    zt = zpy_type(tid)
    zb = zt(v).serialize()
    assert T.encode(tid, v) == zb
    assert T.decode(tid, memoryview(zb), 0) == (v, len(zb))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([T.OCTSTR, T.LONG_OCTSTR]), st.binary(max_size=300))
def test_octet_strings_match_zigpy(tid, data):
    if tid == T.OCTSTR and len(data) >= 255:
        data = data[:254]
    zb = zpy_type(tid)(data).serialize()
    assert T.encode(tid, data) == zb
    assert T.decode(tid, zb, 0) == (data, len(zb))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_char_strings_match_zigpy(s):
    if len(s.encode()) >= 255:
        return
    zb = t.CharacterString(s).serialize()
    if zb[0] != len(s.encode()):  # zigpy's prefix counts characters, not UTF-8 bytes
        assert s != s.encode().decode("ascii", "ignore")
        return
    assert T.encode(T.CHARSTR, s) == zb
    assert T.decode(T.CHARSTR, zb, 0) == (s, len(zb))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([T.SEMI, T.SINGLE, T.DOUBLE]), st.binary(min_size=8, max_size=8))
def test_floats_match_zigpy(tid, raw):
    n = T.fixed_size(tid)
    wire = raw[:n]
    zv, _ = zpy_type(tid).deserialize(wire)
    v, off = T.decode(tid, wire, 0)
    assert off == n
    exp_mask = {2: 0x7C00, 4: 0x7F800000, 8: 0x7FF0000000000000}[n]
    exp_one = {2: 0x0400, 4: 0x00800000, 8: 0x0010000000000000}[n]
    if int.from_bytes(wire, "little") & exp_mask <= exp_one:
        # subnormal or smallest normal exponent: zigpy 2.4.0 BaseFloat mis-scales these
        # (0x0100 half -> 5.6e-309, min-normal double decodes 2x too big);
        # IEEE 754 via struct is the referee here
        assert struct.unpack("<" + "efd"[(n >> 1) - 1 if n < 8 else 2], wire)[0] == v
        return
    if v != v:
        assert zv != zv
        return
    assert v == float(zv)
    assert T.encode(tid, v) == wire
    zb = zpy_type(tid)(v).serialize()
    if zb != wire:
        # zigpy 2.4.0 BaseFloat.serialize is off by one exponent at the smallest normal (half
        # 0x0400 -> 0x0800, single 0x00800000 -> 0x01000000); struct's IEEE 754 is the referee
        assert struct.pack("<" + "efd"[min(n >> 1, 3) - 1], v) == wire
        assert int.from_bytes(wire, "little") & exp_mask == exp_mask & -exp_mask


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=8, max_size=8), st.binary(min_size=16, max_size=16))
def test_eui64_key_and_data_match_zigpy(eui, key):
    assert T.encode(T.EUI64, eui) == t.EUI64.deserialize(eui)[0].serialize()
    assert T.encode(T.KEY128, key) == t.KeyData.deserialize(key)[0].serialize()
    for tid in range(T.DATA8, T.DATA64 + 1):
        n = T.fixed_size(tid)
        zv, _ = zpy_type(tid).deserialize(eui[:n])
        assert T.decode(tid, eui[:n], 0)[0] == as_ours(tid, zv)
        assert T.encode(tid, as_ours(tid, zv)) == zv.serialize()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 0xFFFF), st.sampled_from(SAMPLES)), max_size=6))
def test_attribute_record_lists_match_zigpy(items):
    recs = [(a, tid, v) for a, (tid, v) in items]
    wire = ours(F.encode_report_attributes, recs, size=4096)
    zl, rest = t.List[zf.Attribute].deserialize(wire)
    assert rest == b"" and b"".join(a.serialize() for a in zl) == wire
    assert list(F.iter_report_attributes(wire)) == recs


def test_semi_float_layout():
    assert struct.pack("<e", 1.5) == T.encode(T.SEMI, 1.5)
