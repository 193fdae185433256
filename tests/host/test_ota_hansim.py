# hansim Comms Hub OTA server (host_tools/hansim/ota.py) driven with raw ZCL frames: query (hw
# range, not newer), block serving with the hub's size cap, scripted WAIT_FOR_DATA, small hub
# buffer refills, link loss, ABORT, UpgradeEnd timing modes, ImageNotify payload, read-back of
# CurrentFileVersion; and the scenario `ota` section (validation, wiring into the Han).
# Certification faults: both WAIT_FOR_DATA forms (zigpy as referee), mismatched / wildcard /
# refused / unsolicited (and spoofed) UpgradeEndResponses; signed builds (`build.sign`).
import os
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
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KEYS = os.path.join(ROOT, "tests", "ota_keys")


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
    with pytest.raises(S.ScenarioError, match="wait_form: 'short' is not one of"):
        S.from_dict(_scn({"image": str(f), "wait_form": "short"}))


def _end(hub, st=0, mfr=0xFFF1, itype=0x0100, ver=V2):
    return _cmd(hub, 0x06, struct.pack("<BHHI", st, mfr, itype, ver))


@pytest.mark.parametrize("form, size", [(None, 11), ("with_min_block_period", 11), ("without", 9)])
def test_wait_for_data_both_forms_zigpy_referee(form, size):
    # zigpy 2.4.0 (zigpy/zcl/clusters/general.py, Ota.ImageBlockResponseCommand): after status
    # WAIT_FOR_DATA come current_time, request_time and minimum_block_period, each a StructField
    # `requires=lambda s: s.status == foundation.Status.WAIT_FOR_DATA`, none optional: zigpy
    # knows only the form with MinimumBlockPeriod (OTA rev 1.1) and cannot read the one
    # without (`<BII`, what Silicon Labs' server sends unless built with its
    # MinimumBlockPeriod option): "Data is too short to contain 2 bytes".
    from zigpy.zcl.clusters.general import Ota

    c = Ota.ImageBlockResponseCommand
    kw = {} if form is None else {"wait_form": form}
    spec = _spec(wait_for_data=[{"at_offset": 0, "delay": "45s"}], min_block_period_ms=300, **kw)
    hub, srv, _, _ = _server(spec)
    [(cmd, p)] = _block(hub, 0)
    assert cmd == 0x05 and len(p) == size and srv.counters["wait_for_data"] == 1
    z = to_zigbee(T0)
    assert struct.unpack_from("<BII", p) == (0x97, z, z + 45)
    if size == 11:
        rsp, rest = c.deserialize(p)
        assert rest == b"" and rsp.status == 0x97 and rsp.minimum_block_period == 300
        assert (rsp.current_time, rsp.request_time) == (z, z + 45) and rsp.serialize() == p
    else:
        with pytest.raises(ValueError, match="too short"):
            c.deserialize(p)
        # the same three fields zigpy reads when a MinimumBlockPeriod follows
        rsp, _ = c.deserialize(p + b"\x00\x00")
        assert (rsp.status, rsp.current_time, rsp.request_time) == (0x97, z, z + 45)
    assert _block(hub, 0)[0][1][0] == 0  # once only: then the block


@pytest.mark.parametrize(
    "fields, want",
    [
        ({"manufacturer_code": "wrong"}, (0xFFF2, 0x0100, V2)),
        ({"image_type": "wrong"}, (0xFFF1, 0x0101, V2)),
        ({"file_version": "wrong"}, (0xFFF1, 0x0100, V2 + 1)),
        ({"manufacturer_code": "0x1234", "image_type": 0x0200, "file_version": "0x00010000"},
         (0x1234, 0x0200, 0x00010000)),
        ({"manufacturer_code": "wildcard", "image_type": "wildcard", "file_version": "wildcard"},
         (0xFFFF, 0xFFFF, 0xFFFFFFFF)),
        ({"file_version": "0xFFFFFFFF"}, (0xFFF1, 0x0100, 0xFFFFFFFF)),
    ],
)  # fmt: skip
def test_upgrade_end_response_identity_faults(fields, want):
    # upgrade_end_response: the identity fields of the hub's UpgradeEndResponse, wrong or the
    # legal wildcards; zigpy's upgrade_end_response schema reads them back.
    from zigpy.zcl.clusters.general import Ota

    hub, srv, _, _ = _server(_spec(upgrade_end_response=fields))
    [(cmd, p)] = _end(hub)
    assert cmd == 0x07
    rsp, rest = Ota.ClientCommandDefs.upgrade_end_response.schema.deserialize(p)
    assert rest == b"" and (rsp.manufacturer_code, rsp.image_type, rsp.file_version) == want
    z = to_zigbee(T0)
    assert (rsp.current_time, rsp.upgrade_time) == (z, z)  # upgrade "now"
    (rec,) = srv.status()["upgrade_end_sent"]
    assert rec["kind"] == "response" and rec["from"] == "0x0000"
    assert (rec["manufacturer_code"], rec["image_type"], rec["file_version"]) == (
        "0x%04X" % want[0], "0x%04X" % want[1], "0x%08X" % want[2])  # fmt: skip
    assert srv.counters["upgrade_end_responses"] == 1


def test_upgrade_end_error_instead_of_response():
    # upgrade_end_error: a Default Response (ABORT 0x95 by default) in place of the
    # UpgradeEndResponse, for the first `count` SUCCESS requests (0: all); no read-back follows.
    hub, srv, t, _ = _server(_spec(upgrade_end_error={"status": "0x95", "count": 1}))
    assert _end(hub) == [(0x0B, b"\x06\x95")]
    assert srv._readback_due is None
    [(cmd, _)] = _end(hub)  # the next request is answered
    assert cmd == 0x07
    st = srv.status()
    assert [e["kind"] for e in st["upgrade_end_sent"]] == ["error", "response"]
    assert st["upgrade_end_sent"][0]["status"] == 0x95
    assert st["counters"]["upgrade_end_errors"] == 1
    assert [e["status"] for e in st["upgrade_end"]] == [0, 0]  # both requests recorded
    hub, srv, _, _ = _server(_spec(upgrade_end_error={"status": 0x01}))
    assert _end(hub) == _end(hub) == [(0x0B, b"\x06\x01")]  # every time
    assert _end(hub, st=0x96) == [(0x0B, b"\x06\x00")]  # an error report: acknowledged
    with pytest.raises(S.ScenarioError, match="upgrade_end_error.status: 0 out of range"):
        _spec(upgrade_end_error={"status": 0})


def test_unsolicited_upgrade_end_from_hub_and_spoofed_sender():
    spec = _spec(unsolicited_end=[
        {"at": "+20m", "from": "0x1234", "endpoint": 9, "aps_encrypted": False,
         "file_version": "wildcard", "upgrade": {"mode": "relative", "delay": "30s"}},
        {"at": "+10m"},  # from the hub, the image's identity, upgrade now
    ])  # fmt: skip
    hub, srv, _, sent = _server(spec)
    injected = []
    srv.inject = lambda *a: injected.append(a)
    srv.tick(T0 + 599)
    assert sent == [] and injected == []
    srv.tick(T0 + 600)
    ((dest, cl, frame),) = sent
    z = to_zigbee(T0 + 600)
    assert dest == IHD and cl == 0x0019 and frame[0] == 0x09 and frame[2] == 0x07
    assert struct.unpack("<HHIII", frame[3:]) == (0xFFF1, 0x0100, V2, z, z)
    srv.tick(T0 + 1200)
    assert len(sent) == 1
    ((node, src_ep, cl, frame, encrypted),) = injected
    assert (node, src_ep, cl, encrypted) == (0x1234, 9, 0x0019, False)
    assert frame[0] == 0x09 and frame[2] == 0x07
    assert struct.unpack("<HHIII", frame[3:]) == (0xFFF1, 0x0100, 0xFFFFFFFF, 0, 30)
    srv.tick(T0 + 7200)
    assert len(sent) == 1 and len(injected) == 1  # each once
    recs = srv.status()["upgrade_end_sent"]
    assert [(r["kind"], r["from"], r["aps_encrypted"]) for r in recs] == [
        ("unsolicited", "0x0000", True), ("unsolicited", "0x1234", False)]  # fmt: skip
    assert srv.counters["unsolicited_ends"] == 2 and srv.upgrade_end == []
    with pytest.raises(
        S.ScenarioError, match=r"unsolicited_end\[0\]: missing required field 'at'"
    ):
        _spec(unsolicited_end=[{"from": 1}])
    with pytest.raises(S.ScenarioError, match="image_type: 65536 out of range"):
        _spec(upgrade_end_response={"image_type": 0x10000})


class _Ncp:
    # stands in for the simulated NCP: what the firmware would be handed, with the APS options
    def __init__(self):
        self.cfg = type("Cfg", (), {"node_id": IHD})()
        self.endpoints = {1: None}
        self.rx = []

    def incoming_message(self, sender, sender_eui64, aps, payload):
        self.rx.append((sender, aps.src_ep, aps.cluster, aps.options, bytes(payload)))


def test_unsolicited_end_through_the_han_spoofed_unencrypted(tmp_path):
    f = tmp_path / "fw.ota"
    f.write_bytes(IMG)
    scn = S.from_dict(_scn({"image": str(f), "unsolicited_end": [
        {"at": "+5m", "from": "0x1234", "aps_encrypted": False, "manufacturer_code": "wrong"},
        {"at": "+6m"}]}))  # fmt: skip
    from host_tools.hansim.han import Han
    from host_tools.hansim.simclock import SimClock

    clock = SimClock(scn.start_unix, speed=0.0)
    han = Han(scn, clock)
    han.ezsp = _Ncp()
    han.network_up(True)
    clock.advance(6 * 60 + 1)
    han.tick()
    (spoofed, real) = han.ezsp.rx
    assert spoofed[:4] == (0x1234, 1, 0x0019, 0x0000)  # the ESME's address, APS bit clear
    assert struct.unpack_from("<H", spoofed[4], 3)[0] == 0xFFF2
    assert real[:4] == (0x0000, 1, 0x0019, 0x0020)  # the hub, APS-encrypted
    st = han.status()
    assert st["counters"]["spoofs"] == 1 and st["ota"]["counters"]["unsolicited_ends"] == 2


def test_build_sign_with_a_pem_key(tmp_path, monkeypatch):
    # build.sign: the scenario's contract with host_tools/ota/signing.py:
    # signing.load_private_key(path) -> the key, FF.build_firmware_ota(..., sign_key=key).
    # A small tree stands in for the firmware's (the file format is the same).
    from host_tools.ota import signing

    monkeypatch.setattr(
        FF, "firmware_files", lambda v, board, compiled: [("ihd/x.py", b"x = 1\n")]
    )
    trusted = signing.load_public_keys(os.path.join(KEYS, "ota-test-p256.pub.pem"))
    other = signing.load_public_keys(os.path.join(KEYS, "ota-other-p256.pub.pem"))
    key = os.path.join(KEYS, "ota-test-p256.pem")
    img = O.OtaSpec({"build": {"version": "0.2.0.0", "sign": key}}, T0, "ota").load_image()
    assert signing.verify_file(img, trusted)[0] == signing.VALID
    assert signing.verify_file(img, other)[0] == signing.UNKNOWN
    unsigned = O.OtaSpec({"build": {"version": "0.2.0.0"}}, T0, "ota").load_image()
    assert signing.verify_file(unsigned, trusted)[0] == signing.UNSIGNED
    srv = O.OtaImageServer(Device("hub", 0, bytes(8), lambda: T0), 1, None, img)
    assert srv.version == V2 and srv.image == img  # served as any image
    # relative: to the working directory (as `image`); a missing key is refused at load
    monkeypatch.chdir(ROOT)
    spec = O.OtaSpec({"build": {"version": "0.2.0.0", "sign": "tests/ota_keys/ota-test-p256.pem"}},
                     T0, "ota")  # fmt: skip
    assert spec.build is not None and spec.build["sign"] == key
    with pytest.raises(S.ScenarioError, match="ota.build.sign: 'nope.pem' is not a file"):
        S.from_dict(_scn({"build": {"version": "0.2.0.0", "sign": "nope.pem"}}))
