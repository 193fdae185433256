# hansim Comms Hub OTA server (host_tools/hansim/ota.py) driven with raw ZCL frames: query (hw
# range, not newer), block serving with the hub's size cap, scripted WAIT_FOR_DATA, small hub
# buffer refills, link loss, ABORT, UpgradeEnd timing modes, ImageNotify payload, read-back of
# CurrentFileVersion; and the scenario `ota` section (validation, wiring into the Han).
import struct

import pytest

from host_tools.hansim import ota as O
from host_tools.hansim import scenario as S
from host_tools.hansim.simclock import to_zigbee
from host_tools.hansim.zcl import Device
from host_tools.ota import fileformat as FF

V2 = 0x00020000
T0 = 1_800_000_000.0
IMG = FF.make_ota(FF.make_bundle([("ihd/x.py", bytes(300))], V2), V2, hw_min=0x0100,
                  hw_max=0x01FF)  # fmt: skip
IHD = 0x7A3C


def _spec(**kw):
    d = {"image": "unused"}
    d.update(kw)
    return O.OtaSpec(d, T0, "ota")


def _server(spec=None):
    t = [T0]
    hub = Device("comms_hub", 0x0000, bytes(8), lambda: t[0])
    srv = O.OtaImageServer(hub, 1, spec or _spec(), IMG)
    hub.endpoints[1] = {0x0019: srv}
    sent = []
    hub.send = lambda dest, dep, sep, cl, frame: sent.append((dest, cl, frame))
    srv.send_to = lambda: (IHD, 1)
    return hub, srv, t, sent


def _cmd(hub, cmd, payload, tsn=1):
    rsp = hub.handle_zcl(IHD, 1, 1, 0x0019, bytes((0x01, tsn, cmd)) + payload)
    return [(r[2], r[3:]) for r in rsp]


def _query(hub, cur=0x00010000, hw=0x0100):
    return _cmd(hub, 0x01, struct.pack("<BHHIH", 1, FF.MANUFACTURER_CODE, 0x0100, cur, hw))


def _block(hub, off, max_size=48):
    p = struct.pack("<BHHIIB", 0, FF.MANUFACTURER_CODE, 0x0100, V2, off, max_size)
    return _cmd(hub, 0x03, p)


def test_query_next_image():
    hub, srv, _, _ = _server()
    [(cmd, p)] = _query(hub)
    assert cmd == 0x02 and struct.unpack("<BHHII", p) == (0, 0xFFF1, 0x0100, V2, len(IMG))
    assert _query(hub, cur=V2) == [(0x02, b"\x98")]  # not newer
    assert _query(hub, hw=0x0200) == [(0x02, b"\x98")]  # outside the hardware range


def test_blocks_cap_wait_for_data_buffer_and_loss():
    spec = _spec(max_data_size=32, wait_for_data=[{"at_offset": 96, "delay": "30s"}],
                 buffer_blocks=4, refill="20s", min_block_period_ms=250,
                 link_loss=[{"at": "+1h", "duration": "10m"}])  # fmt: skip
    hub, srv, t, _ = _server(spec)
    [(cmd, p)] = _block(hub, 0)
    assert cmd == 0x05 and p[0] == 0 and p[13] == 32 and p[14:] == IMG[:32]
    _block(hub, 32)
    _block(hub, 64)
    [(_, p)] = _block(hub, 96)  # scripted episode
    st, ct, rt, mbp = struct.unpack("<BIIH", p)
    assert st == 0x97 and rt - ct == 30 and ct == to_zigbee(T0) and mbp == 250
    [(_, p)] = _block(hub, 96)
    assert p[0] == 0  # 4th block of the buffer
    [(_, p)] = _block(hub, 128)
    assert p[0] == 0x97  # hub buffer empty: refill pause
    t[0] += 21
    assert _block(hub, 128)[0][1][0] == 0
    t[0] = T0 + 3600 + 5  # link loss window: nothing comes back
    assert _block(hub, 160) == [] and srv.counters["dropped"] == 1
    assert srv.counters["wait_for_data"] == 2


def test_abort_and_upgrade_end_modes():
    hub, srv, _, _ = _server(_spec(abort_at_offset=48))
    assert _block(hub, 48) == [(0x05, b"\x95")]
    for mode, delay, want in (("now", 0, lambda z: (z, z)), ("relative", 90, lambda z: (0, 90)),
                              ("absolute", 90, lambda z: (z, z + 90)),
                              ("wait", 0, lambda z: (z, 0xFFFFFFFF))):  # fmt: skip
        hub, srv, t, _ = _server(_spec(upgrade={"mode": mode, "delay": delay}))
        [(cmd, p)] = _cmd(hub, 0x06, struct.pack("<BHHI", 0, 0xFFF1, 0x0100, V2))
        assert cmd == 0x07
        _, _, _, ct, ut = struct.unpack("<HHIII", p)
        assert (ct, ut) == want(to_zigbee(T0)), mode
    # an error status gets a Default Response and is recorded
    hub, srv, _, _ = _server()
    [(cmd, p)] = _cmd(hub, 0x06, struct.pack("<BHHI", 0x96, 0xFFF1, 0x0100, V2))
    assert cmd == 0x0B and p == b"\x06\x00" and srv.upgrade_end[0]["status"] == 0x96


def test_notify_and_readback():
    hub, srv, t, sent = _server(_spec(notify_at=["+10m"], readback_after="2m"))
    srv.tick(T0 + 60)
    assert sent == []
    srv.tick(T0 + 601)
    (dest, cl, frame) = sent.pop()
    assert dest == IHD and cl == 0x0019 and frame[0] == 0x09 and frame[2] == 0x00
    assert frame[3:] == struct.pack("<BBHHI", 3, 100, 0xFFF1, 0x0100, V2)
    t[0] = T0 + 601
    _cmd(hub, 0x06, struct.pack("<BHHI", 0, 0xFFF1, 0x0100, V2))
    srv.tick(T0 + 700)
    assert sent == []
    srv.tick(T0 + 722)
    (dest, cl, frame) = sent.pop()
    assert frame[0] == 0x08 and frame[2] == 0x00 and frame[3:] == b"\x02\x00"  # Read 0x0002
    tsn = frame[1]
    # the device answers (client -> server direction, global Read Attributes Response)
    rsp = bytes((0x00, tsn, 0x01)) + struct.pack("<HBBI", 0x0002, 0, 0x23, V2)
    assert hub.handle_zcl(IHD, 1, 1, 0x0019, rsp) == []
    assert srv.readback["upgraded"] and srv.readback["current_file_version"] == V2
    assert srv.status()["readback"]["expected"] == V2


def _scn(ota):
    return {
        "start": "2026-01-15T06:00:00Z",
        "meters": [{"fuel": "electricity", "node_id": "0x1234", "eui64": "00:1B:C5:0C:00:00:E5:01",
                    "profile": {"base_load_w": 285},
                    "tariff": {"unit_rate": 24500, "standing_charge": 60000,
                               "supplier_name": "Octavia Energy"}}],
        "ota": ota,
    }  # fmt: skip


def test_scenario_section_and_han_wiring(tmp_path):
    f = tmp_path / "fw.ota"
    f.write_bytes(IMG)
    scn = S.from_dict(_scn({"image": str(f), "notify_at": ["+5m"], "max_data_size": 40,
                            "upgrade": {"mode": "relative", "delay": "1m"}}))  # fmt: skip
    assert scn.ota.max_data_size == 40 and scn.ota.upgrade_delay_s == 60
    from host_tools.hansim.han import Han
    from host_tools.hansim.simclock import SimClock

    han = Han(scn, SimClock(scn.start_unix, 1))
    assert isinstance(han.hub.cluster(0x0019), O.OtaImageServer)
    assert han.status()["ota"]["image_size"] == len(IMG)
    with pytest.raises(S.ScenarioError, match="exactly one"):
        S.from_dict(_scn({"max_data_size": 40}))
    with pytest.raises(S.ScenarioError, match="unknown field"):
        S.from_dict(_scn({"image": str(f), "bogus": 1}))
    with pytest.raises(S.ScenarioError, match="upgrade.mode"):
        S.from_dict(_scn({"image": str(f), "upgrade": {"mode": "later"}}))
