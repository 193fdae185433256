# ZCL header codec: frame-control bits, manufacturer code, truncation, no allocation.
import fwtest
from ihd.zigbee.zcl import frame as FR

PORTABLE = True

H = bytes.fromhex


def test_parse_typical_frame_controls():
    h = FR.Header()
    # GBCS GCS09: PublishChangeOfTenancy, cluster command server->client, DDR clear
    h.parse(H("090000") + bytes(17))
    assert (h.frame_type, h.direction, h.disable_dr, h.manuf) == (FR.CLUSTER, FR.S2C, False, None)
    assert (h.tsn, h.cmd_id, h.payload_off) == (0, 0, 3)
    h.parse(H("00000b0000"))  # its Default Response: global, client->server
    assert (h.frame_type, h.direction, h.cmd_id) == (FR.GLOBAL, FR.C2S, 0x0B)
    h.parse(H("187a01"))
    assert (h.frame_type, h.direction, h.disable_dr, h.tsn, h.cmd_id) == (0, 1, True, 0x7A, 1)
    h.parse(H("01ff04"))
    assert (h.frame_type, h.direction, h.disable_dr, h.tsn, h.cmd_id) == (1, 0, False, 255, 4)


def test_manufacturer_specific():
    h = FR.Header().parse(H("05 3412 09 42 aa".replace(" ", "")))
    assert h.manuf == 0x1234 and h.tsn == 9 and h.cmd_id == 0x42 and h.payload_off == 5
    buf = bytearray(8)
    n = FR.encode_header(buf, 1, FR.CLUSTER, FR.S2C, 9, 0x42, True, 0x1234)
    assert n == 6 and bytes(buf[1:6]) == H("1d34120942")


def test_encode_round_trip_all_flag_combinations():
    buf = bytearray(5)
    h = FR.Header()
    for ft in (FR.GLOBAL, FR.CLUSTER):
        for d in (FR.C2S, FR.S2C):
            for ddr in (False, True):
                for m in (None, 0x10DC):
                    n = FR.encode_header(buf, 0, ft, d, 200, 0x0B, ddr, m)
                    assert n == FR.header_len(m)
                    h.parse(memoryview(buf)[:n])
                    assert (h.frame_type, h.direction, h.disable_dr, h.manuf) == (ft, d, ddr, m)
                    assert (h.tsn, h.cmd_id, h.payload_off) == (200, 0x0B, n)
    assert FR.make_fc(FR.CLUSTER, FR.S2C) == 0x09
    assert FR.make_fc(FR.GLOBAL, FR.S2C, True) == 0x18


def test_short_frames_raise_decode_error():
    h = FR.Header()
    for bad in (b"", H("09"), H("0900"), H("0434"), H("043412"), H("04341200")):
        fwtest.raises(FR.DecodeError, h.parse, bad)
    fwtest.raises(FR.EncodeError, FR.encode_header, bytearray(2), 0, 1, 0, 1, 1)


def test_parse_does_not_allocate():
    h = FR.Header()
    mv = memoryview(H("1d341209420102"))
    with fwtest.HeapLocked():
        h.parse(mv)
    assert h.manuf == 0x1234
