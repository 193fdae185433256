# hansim as trust centre (docs/joining.md): the simulated NCP admits a join only when the
# preconfigured key from setInitialSecurityState is the AES-MMO key of the whitelisted install
# code for its EUI64; active scan; v13/v14 join-failure statuses; hub offline -> NETWORK_DOWN and
# failed rejoins; Match_Desc answered by both meters; KE server and NCP stand-in crypto agree.
import asyncio
import json
import os
import struct

import pytest

from host_tools.hansim import ezsp as ez
from host_tools.hansim import scenario, trust
from host_tools.hansim.han import Han
from host_tools.hansim.simclock import SimClock

CODE = "83FED3407A939723A5C639B26916D505"
KEY = bytes.fromhex("66B6900981E1EE3CA4206B6B861C02BB")
SCN = os.path.join(scenario.SCENARIO_DIR, "join_install_code.json")


def make(version=14, **changes):
    with open(SCN) as f:
        d = json.load(f)
    d.update(changes)
    scn = scenario.from_dict(d)
    han = Han(scn, SimClock(scn.start_unix, scn.speed))
    out = []
    cfg = ez.NcpConfig(version=version, eui64=scn.ncp_eui64, node_id=scn.ncp_node_id,
                       commissioned=scn.ncp_commissioned)  # fmt: skip
    ncp = ez.EzspNcp(cfg, out.append, han)
    han.ezsp = ncp
    ncp.handle(bytes((0, 0, 0, version)))  # legacy version(v): accepted
    out.clear()
    return scn, han, ncp, out


def cmd(ncp, fid, params=b"", seq=1):
    ncp.handle(bytes((seq, 0, 1)) + struct.pack("<H", fid) + params)


def frames(out):
    # -> [(frame id, is callback, params)]
    return [(f[3] | f[4] << 8, bool(f[1] & 0x10), f[5:]) for f in out]


def st(version, params):
    return struct.unpack_from("<I" if version >= 14 else "<B", params)[0]


def join(scn, ncp, key, bitmask=0x0900):
    cmd(ncp, 0x68, struct.pack("<H16s16sB8s", bitmask, key, bytes(16), 0, bytes(8)))
    params = scn.extended_pan_id + struct.pack("<HbBBHBI", scn.pan_id, 3, scn.channel, 0, 0, 0, 0)
    cmd(ncp, 0x1F, bytes((3,)) + params)


def test_install_code_key_matches_firmware_vector():
    full = trust.parse_install_code(CODE)
    assert full[-2:] == b"\xc3\xb5"
    assert trust.link_key(full) == KEY
    with pytest.raises(ValueError):
        trust.parse_install_code(CODE + "C3B6")


@pytest.mark.parametrize("version", [13, 14])
def test_join_admitted_with_right_key(version):
    scn, han, ncp, out = make(version)
    cmd(ncp, 0x17, b"\x03\x00")
    assert st(version, frames(out)[-1][2]) == (0x17 if version >= 14 else 0x93)  # NOT_JOINED
    out.clear()
    join(scn, ncp, KEY)
    f = frames(out)
    assert [x[0] for x in f] == [0x68, 0x1F, 0x19]
    assert st(version, f[2][2]) == (0x15 if version >= 14 else 0x90)
    assert ncp.network_up and ncp.cfg.commissioned and han.up
    assert han.trust.admitted == [scn.ncp_eui64]
    # a reboot resumes the network: networkInit SUCCESS + NETWORK_UP
    ncp.reset()
    ncp.handle(bytes((0, 0, 0, version)))
    out.clear()
    cmd(ncp, 0x17, b"\x03\x00")
    assert [st(version, x[2]) for x in frames(out)] == [0, 0x15 if version >= 14 else 0x90]


@pytest.mark.parametrize("version", [13, 14])
def test_wrong_install_code_refused(version):
    scn, han, ncp, out = make(version)
    join(scn, ncp, bytes(16))
    f = frames(out)
    assert f[-1][0] == 0x19 and f[-1][1]
    assert st(version, f[-1][2]) == (0x17 if version >= 14 else 0x94)  # JOIN_FAILED (v13)
    assert not ncp.network_up and not ncp.cfg.commissioned
    assert han.trust.counters["joins_refused"] == 1
    # no preconfigured key flag: refused even with the right bytes
    out.clear()
    join(scn, ncp, KEY, bitmask=0x0800)
    assert not ncp.network_up


def test_unlisted_eui64_refused():
    scn, han, ncp, out = make(14)
    ncp.cfg.eui64 = bytes(range(8))
    join(scn, ncp, KEY)
    assert not ncp.network_up


def test_active_scan_reports_the_hub_network_unless_offline():
    scn, han, ncp, out = make(14)
    cmd(ncp, 0x1A, struct.pack("<BIB", 1, 0x07FFF800, 3))
    f = frames(out)
    assert [x[0] for x in f] == [0x1A, 0x1B, 0x1C]
    ch, pan, xpan, allow, prof, _upd, lqi, _rssi = struct.unpack("<BH8sBBBBb", f[1][2])
    assert (ch, pan, xpan, allow, prof) == (15, 0x1A62, scn.extended_pan_id, 1, 2)
    out.clear()
    han.set_hub_online(False)
    cmd(ncp, 0x1A, struct.pack("<BIB", 1, 0x07FFF800, 3))
    assert [x[0] for x in frames(out)] == [0x1A, 0x1C]
    out.clear()
    cmd(ncp, 0x1A, struct.pack("<BIB", 1, 1 << 11, 3))  # channel 15 not in the mask
    assert [x[0] for x in frames(out)] == [0x1A, 0x1C]


def test_hub_offline_network_down_and_rejoin():
    scn, han, ncp, out = make(14)
    join(scn, ncp, KEY)
    assert ncp.network_up
    out.clear()
    han.set_hub_online(False)
    assert not ncp.network_up and not han.up
    assert frames(out)[-1][0] == 0x19 and st(14, frames(out)[-1][2]) == 0x16
    out.clear()
    cmd(ncp, 0x21, struct.pack("<BIBB", 1, 0x07FFF800, 3, 3))  # secure rejoin: hub gone
    assert [st(14, x[2]) for x in frames(out)] == [0, 0x16]
    han.set_hub_online(True)
    out.clear()
    cmd(ncp, 0x21, struct.pack("<BIBB", 1, 0x07FFF800, 3, 3))
    assert [st(14, x[2]) for x in frames(out)] == [0, 0x15]
    assert ncp.network_up


def test_hub_offline_event_in_scenario():
    scn, han, ncp, out = make(14, events=[{"type": "hub_offline", "at": "+1m", "duration": "5m"}])
    assert scn.events[0]["duration_s"] == 300


def test_match_desc_answered_by_both_meters():
    async def main():
        scn, han, ncp, out = make(14)
        join(scn, ncp, KEY)
        out.clear()
        req = struct.pack("<BHHB", 0x21, 0xFFFD, 0x0109, 1) + struct.pack("<H", 0x0702) + b"\x00"
        aps = ez.ApsFrame(ez.aps_frame(0x0000, 0x0006, 0, 0, 0x0040, 0, 0))
        sent = []
        han.deliver_from_ncp(0x0000, aps, req, sent.append)
        await asyncio.sleep(0.1)
        return scn, out, sent

    scn, out, sent = asyncio.run(main())
    assert sent == [0]
    rsps = {}
    for fid, cb, p in frames(out):
        assert fid == 0x45 and cb
        aps = ez.ApsFrame(p[1:12])
        assert (aps.profile, aps.cluster) == (0, 0x8006)
        sender = struct.unpack_from("<H", p, 12)[0]
        msg = p[31 : 31 + p[30]]
        tsn, status, addr, n = struct.unpack_from("<BBHB", msg)
        assert (tsn, status, addr) == (0x21, 0, sender)
        rsps[sender] = list(msg[5 : 5 + n])
    assert rsps == {0x3E51: [1], 0x6A0C: [1]}


def test_cbke_ncp_and_ke_server_agree():
    scn, han, ncp, out = make(14)
    ke = han.hub.cluster(0x0800)
    from host_tools.hansim.zcl import Request

    def send(cmd_id, payload):
        req = Request(ke, scn.ncp_node_id, 1, 0x01, 7, cmd_id, payload, None)
        ke.handle(req)
        return req.responses[0]

    cmd(ncp, 0xEC)
    cert = frames(out)[-1][2][4:]
    assert trust.cert_subject(cert) == scn.ncp_eui64
    rsp = send(0x00, struct.pack("<HBB", 2, 5, 5) + cert)
    assert rsp[2] == 0x00 and struct.unpack_from("<HBB", rsp, 3) == (2, 2, 2)
    hub_cert = rsp[7:]
    out.clear()
    cmd(ncp, 0xE8)
    qeu = frames(out)[-1][2][4:]
    rsp = send(0x01, qeu)
    assert rsp[2] == 0x01
    qev = rsp[3:]
    out.clear()
    cmd(ncp, 0xEA, b"\x01" + hub_cert + qev)
    f = frames(out)
    assert f[-1][0] == 0xEB
    macu, macv = f[-1][2][4:20], f[-1][2][20:36]
    rsp = send(0x02, macu)
    assert rsp[2] == 0x02 and rsp[3:] == macv
    assert han.trust.key_established == [scn.ncp_eui64]
    # a wrong MACU is answered with TerminateKeyEstablishment(BAD_KEY_CONFIRM)
    send(0x00, struct.pack("<HBB", 2, 5, 5) + cert)
    send(0x01, qeu)
    rsp = send(0x02, bytes(16))
    assert rsp[2] == 0x03 and rsp[3] == trust.KE_BAD_KEY_CONFIRM
