# hansim scenarios: parsing/validation, deterministic meter values, Device Management behaviour
# per mode, and the fault-injection knobs.
import asyncio
import copy
import json
import struct

import pytest

from host_tools.hansim import ash, scenario
from host_tools.hansim import ezsp as ez
from host_tools.hansim.han import Han
from host_tools.hansim.meters import MeterState
from host_tools.hansim.scenario import ScenarioError
from host_tools.hansim.sim import FaultyLink, Simulator
from host_tools.hansim.simclock import SimClock, parse_iso_utc, to_zigbee

IHD = 0x7A3C


def _default_dict():
    with open(scenario.os.path.join(scenario.SCENARIO_DIR, "default.json")) as fh:
        return json.load(fh)


class FakeEzsp:
    # stands in for the NCP: records what the HAN hands to the firmware
    def __init__(self, node_id=IHD):
        self.cfg = ez.NcpConfig(node_id=node_id)
        self.endpoints = {}
        self.response_delay_s = 0.0
        self.rx = []

    def incoming_message(self, sender, sender_eui64, aps, payload):
        self.rx.append((sender, aps.cluster, aps.src_ep, aps.dst_ep, bytes(payload)))


def _han(name, t_offset_s=0.0):
    scn = scenario.load(name)
    clock = SimClock(scn.start_unix, speed=0.0)  # frozen: tests move time by hand
    clock.advance(t_offset_s)
    han = Han(scn, clock)
    han.ezsp = FakeEzsp(scn.ncp_node_id)
    han.network_up(True)
    return scn, clock, han


def _spoof(**kw):
    # a valid spoof event (docs/scenario-format.md "spoof"), fields overridden by kw
    ev = {"type": "spoof", "at": "+30m", "from": "esme",
          "frame": {"type": "change_of_tenancy", "implementation_time": "+10m",
                    "provider_id": 301, "issuer_event_id": 900000000}}  # fmt: skip
    ev.update(kw)
    return ev


def _zcl(han, node, cluster, frame, ep=1):
    return han.devices[node].handle_zcl(IHD, 1, ep, cluster, frame)


# ---- parsing / validation --------------------------------------------------------------------


def test_builtin_scenarios_load():
    for name in ("default", "test_tenancy_attrs", "test_faults"):
        scn = scenario.load(name)
        assert scn.meters and scn.start_unix > 0
    scn = scenario.load("default")
    esme, gpf = scn.meter("esme"), scn.meter("gpf")
    assert (esme.node_id, esme.endpoint, esme.fuel) == (0x1234, 1, "electricity")
    assert (gpf.node_id, gpf.fuel) == (0x2B7A, "gas")
    assert esme.tariff.unit_rate == 24500 and esme.tariff.standing_charge == 60000
    assert gpf.tariff.unit_rate == 6000 and gpf.tariff.standing_charge == 30000
    assert esme.tariff.currency == 826 and esme.payment_mode == "credit"
    cot = [e for e in scn.events if e["type"] == "change_of_tenancy"][0]
    assert cot["at_unix"] - scn.start_unix == 3 * 3600
    assert cot["implementation_unix"] - scn.start_unix == 5 * 3600
    assert scenario.eui64_str(esme.eui64) == "00:1B:C5:0C:00:00:E5:01"


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("start"), "missing required field 'start'"),
        (lambda d: d.update(start="2026-01-15T06:00:00"), "no timezone"),
        (lambda d: d["meters"][0].update(fuel="water"), "meters[0].fuel: 'water' is not one of"),
        (lambda d: d["meters"][0].update(colour="red"), "unknown field(s) colour"),
        (lambda d: d["meters"][1].update(node_id="0x1234"), "node ids must be unique"),
        (lambda d: d["meters"][0].update(eui64="00:11"), "meters[0].eui64: bad EUI64"),
        (lambda d: d["meters"][0].update(device_management="some"), "device_management"),
        (lambda d: d["meters"][0]["profile"].update(daily_shape=[1, 2]), "daily_shape"),
        (
            lambda d: d["events"].append(
                {"type": "meter_offline", "at": "+1h", "meter": "esme", "duration": "5 minutes"}
            ),
            "events[1].duration: bad",
        ),
        (lambda d: d["events"].append({"type": "reboot", "at": "+1h"}), "events[1].type"),
        (lambda d: d["events"][0].update(meter="wind"), "events[0].meter"),
        (lambda d: d["events"][0].pop("implementation_time"), "implementation_time"),
        (lambda d: d["ncp"].update(ezsp_version=12), "ezsp_version: 12 out of range"),
        (lambda d: d["events"].append(_spoof(**{"from": "wind"})),
         "events[1].from: 'wind' is neither a meter (esme, gpf) nor a node id"),
        (lambda d: d["events"].append(_spoof(frame={"type": "ping"})), "events[1].frame.type"),
        (lambda d: d["events"].append(_spoof(aps_encrypted="no")), "aps_encrypted: true or"),
        (lambda d: d["events"].append(_spoof(frame={"type": "change_of_tenancy"})),
         "events[1].frame: missing required field 'implementation_time'"),
        (lambda d: d["events"].append(_spoof(frame=dict(_spoof()["frame"], meter="esme"))),
         "events[1].frame: unknown field(s) meter"),
        (lambda d: d["events"].append(_spoof(frame={
            "type": "report_attributes", "cluster": "0x0702",
            "attributes": [{"id": 0, "type": "0x25", "value": "many"}]})),
         "events[1].frame.attributes[0].value: cannot encode as ZCL type 0x25"),
        (lambda d: d["events"].append(_spoof(frame={"type": "zcl", "cluster": 6, "hex": "0x"})),
         "events[1].frame.hex: not hex"),
    ],
)  # fmt: skip
def test_validation_errors_are_clear(mutate, message):
    d = _default_dict()
    mutate(d)
    with pytest.raises(ScenarioError) as ei:
        scenario.from_dict(d, "x.json")
    assert message in str(ei.value)
    assert str(ei.value).startswith("x.json")


def test_unknown_scenario_lists_builtins():
    with pytest.raises(ScenarioError, match="default"):
        scenario.load("no_such_scenario")


# ---- deterministic values ---------------------------------------------------------------------


def test_meter_values_deterministic_and_consistent():
    scn = scenario.load("default")
    a = MeterState(scn.meter("esme"), scn.start_unix)
    b = MeterState(copy.deepcopy(scn.meter("esme")), scn.start_unix)
    assert a.summation(scn.start_unix) == scn.meter("esme").initial_reading_wh
    last = 0
    for h in range(0, 48 * 3600, 1234):
        t = scn.start_unix + h
        assert a.summation(t) == b.summation(t) and a.demand(t) == b.demand(t)
        assert a.summation(t) >= last
        last = a.summation(t)
    # realistic: ~8 kWh/day for a UK home, demand within a few kW
    day = a.summation(scn.start_unix + 86400) - a.summation(scn.start_unix)
    assert 4000 < day < 14000
    # yesterday's consumption attribute equals the register difference over yesterday
    esme_dev = Han(scn, SimClock(scn.start_unix + 30 * 3600, 0)).devices[0x1234]
    metering = esme_dev.cluster(0x0702)
    prev_day = metering.value(0x0403)
    assert 4000 < prev_day < 14000
    assert metering.value(0x0401) > 0  # today so far


def test_gas_updates_every_half_hour():
    scn = scenario.load("default")
    gas = MeterState(scn.meter("gpf"), scn.start_unix)
    t0 = scn.start_unix + 3600  # on a half-hour boundary
    assert gas.summation(t0) == gas.summation(t0 + 1799)
    assert gas.summation(t0 + 1800) > gas.summation(t0)
    # m3 in litres (divisor 1000) vs kWh in Wh via the alternative attributes
    _scn, _clock, han = _han("default", 20 * 3600)
    metering = han.devices[0x2B7A].cluster(0x0702)
    assert metering.value(0x0300) == 0x01 and metering.value(0x0312) == 0x00
    litres, wh = metering.value(0x0401), metering.value(0x0C01)
    assert wh > 0 and abs(litres - wh * 1000 // 11221) <= 1


def test_read_attributes_via_zcl():
    _scn, clock, han = _han("default", 600)
    (rsp,) = _zcl(
        han, 0x1234, 0x0702, bytes((0x00, 0x33, 0x00)) + struct.pack("<HH", 0x0400, 0x7777)
    )
    assert rsp[:3] == bytes((0x18, 0x33, 0x01))
    attr, st, typ = struct.unpack_from("<HBB", rsp, 3)
    assert (attr, st, typ) == (0x0400, 0, 0x2A)
    assert struct.unpack_from("<HB", rsp, 10) == (0x7777, 0x86)  # UNSUPPORTED_ATTRIBUTE
    (rsp,) = _zcl(han, 0x0000, 0x000A, bytes((0x00, 0x34, 0x00, 0x00, 0x00)))
    assert struct.unpack_from("<I", rsp, 7)[0] == to_zigbee(clock.now())
    # write to a read-only attribute -> READ_ONLY; unknown global command -> 0x82
    (rsp,) = _zcl(han, 0x1234, 0x0702, bytes((0x00, 0x35, 0x02, 0x00, 0x00, 0x25)) + bytes(6))
    assert rsp == bytes((0x18, 0x35, 0x04, 0x88, 0x00, 0x00))
    (rsp,) = _zcl(han, 0x1234, 0x0702, bytes((0x00, 0x36, 0x1F)))
    assert rsp == bytes((0x18, 0x36, 0x0B, 0x1F, 0x82))


def test_publish_price():
    _scn, clock, han = _han("default", 60)
    (rsp,) = _zcl(han, 0x1234, 0x0700, bytes((0x01, 0x10, 0x00, 0x00)))
    assert rsp[:3] == bytes((0x19, 0x10, 0x00))
    provider, n = struct.unpack_from("<IB", rsp, 3)
    label_end = 8 + n
    assert provider == 301 and rsp[8:label_end] == b"Standard"
    _issuer, now, uom, currency, digit_tier = struct.unpack_from("<IIBHB", rsp, label_end)
    assert now == to_zigbee(clock.now()) and currency == 826 and digit_tier >> 4 == 5
    (price,) = struct.unpack_from("<I", rsp, label_end + 12 + 1 + 4 + 2)
    assert price == 24500


# ---- Device Management per mode -------------------------------------------------------------


def test_tenancy_commands_mode_not_found_then_publish():
    scn, clock, han = _han("default", 3600)
    get_cot = bytes((0x01, 0x21, 0x00))
    assert _zcl(han, 0x1234, 0x0708, get_cot) == [bytes((0x18, 0x21, 0x0B, 0x00, 0x8B))]
    dm = han.devices[0x1234].cluster(0x0708)
    assert dm.value(0x0200) == 0xFFFFFFFF
    clock.advance(2 * 3600 + 1)  # the ESME learns of the change at +3h
    (rsp,) = _zcl(han, 0x1234, 0x0708, get_cot)
    impl = to_zigbee(scn.start_unix + 5 * 3600)
    assert rsp == bytes((0x19, 0x21, 0x00)) + struct.pack("<IIBII", 301, 853326000, 0, impl, 0x600)
    assert dm.value(0x0200) == impl and dm.value(0x0201) == 0x600
    # no supplier change pending -> NOT_FOUND; unsupported command -> UNSUP_CLUSTER_COMMAND
    assert _zcl(han, 0x1234, 0x0708, bytes((0x01, 0x22, 0x01))) == [
        bytes((0x18, 0x22, 0x0B, 0x01, 0x8B))
    ]
    assert _zcl(han, 0x1234, 0x0708, bytes((0x01, 0x23, 0x02, 0x01))) == [
        bytes((0x18, 0x23, 0x0B, 0x02, 0x81))
    ]


def test_attributes_only_and_none_modes_and_push():
    scn, clock, han = _han("test_tenancy_attrs", 0)
    assert _zcl(han, 0x1234, 0x0708, bytes((0x01, 0x40, 0x00))) == [
        bytes((0x18, 0x40, 0x0B, 0x00, 0x81))
    ]
    # GPF has no Device Management cluster at all
    assert _zcl(han, 0x2B7A, 0x0708, bytes((0x01, 0x41, 0x00))) == [
        bytes((0x18, 0x41, 0x0B, 0x00, 0xC3))
    ]
    read = bytes((0x00, 0x42, 0x00)) + struct.pack("<2H", 0x0200, 0x0201)
    (rsp,) = _zcl(han, 0x1234, 0x0708, read)
    assert rsp[3:] == struct.pack("<HBBIHBBI", 0x0200, 0, 0xE2, 0xFFFFFFFF, 0x0201, 0, 0x1B, 0)
    han.tick()
    assert han.ezsp.rx == []
    clock.advance(601)  # push at +10m
    han.tick()
    ((sender, cluster, src_ep, dst_ep, frame),) = han.ezsp.rx
    impl = to_zigbee(scn.start_unix + 3600)
    assert (sender, cluster, src_ep, dst_ep) == (0x1234, 0x0708, 1, 1)
    assert frame[0] == 0x09 and frame[2] == 0x00  # S->C cluster cmd PublishChangeOfTenancy
    assert frame[3:] == struct.pack("<IIBII", 77, 1001, 0, impl, 512)
    (rsp,) = _zcl(han, 0x1234, 0x0708, read)
    assert rsp[3:] == struct.pack("<HBBIHBBI", 0x0200, 0, 0xE2, impl, 0x0201, 0, 0x1B, 512)


def test_change_of_supplier_publish():
    scn, clock, han = _han("test_faults", 120)
    (rsp,) = _zcl(han, 0x1234, 0x0708, bytes((0x01, 0x50, 0x01)))
    impl = to_zigbee(scn.start_unix + 2 * 86400)
    assert rsp == (
        bytes((0x19, 0x50, 0x01))
        + struct.pack("<IIBIII", 1, 5001, 0, 2, impl, 0x400)
        + b"\x09New Power"
        + b"\x0c0800 999 000"
    )
    dm = han.devices[0x1234].cluster(0x0708)
    assert dm.value(0x0110) == 2 and dm.value(0x0111) == b"New Power"


# ---- fault injection ---------------------------------------------------------------------------


def test_fault_events_from_scenario():
    async def main():
        scn, clock, han = _han("test_faults", 0)
        resets = []
        rates = []
        han.on_ncp_reset = lambda: resets.append(clock.now())
        han.on_corruption = rates.append
        esme = han.devices[0x1234]
        sent = []
        aps = ez.ApsFrame(ez.aps_frame(0x0109, 0x0702, 1, 1, 0, 0, 1))
        clock.advance(10 * 60 + 1)
        han.tick()
        assert han.offline(esme)
        han.deliver_from_ncp(0x1234, aps, bytes((0, 1, 0, 0, 0)), sent.append)
        await asyncio.sleep(0.9)
        assert sent == [ez.DELIVERY_FAILED] and han.ezsp.rx == []
        clock.advance(5 * 60)
        han.tick()
        assert not han.offline(esme)
        clock.advance(5 * 60)  # +20m: slow responses 0.5 s for 5 minutes
        han.tick()
        assert esme.response_delay_s == 0.5
        clock.advance(10 * 60)  # +30m: corruption on, slow responses over
        han.tick()
        assert esme.response_delay_s == 0.0 and rates == [0.01]
        clock.advance(10 * 60)  # +40m: corruption over, NCP reset
        han.tick()
        assert rates == [0.01, 0.0] and len(resets) == 1

    asyncio.run(main())


def test_faulty_link_is_seeded():
    data = bytes(range(256)) * 20
    a, b = FaultyLink(5, 0.02), FaultyLink(5, 0.02)
    out = a.apply(data)
    assert out == b.apply(data) and out != data
    assert 40 < a.damaged < 170
    assert FaultyLink(5, 0.0).apply(data) == data


def test_ncp_reset_requires_reinit():
    async def main():
        sim = Simulator(scenario.load("default"), speed=1)
        wire = bytearray()
        sim._raw_write = wire.extend
        frames = []
        sim.ash.on_frame = lambda f: (frames.append(f), sim.ezsp.handle(f))
        sim.ash.data_received(bytes.fromhex("1AC038BC7E"))  # RST
        assert bytes(wire) == bytes.fromhex("1AC1020B0A527E")
        sim.ezsp.version_set = True
        sim.ezsp._bring_up()
        assert sim.han.up
        wire.clear()
        sim.ncp_reset()
        assert bytes(wire) == bytes.fromhex("1AC1020B0A527E")  # unsolicited RSTACK
        assert not sim.ezsp.version_set and not sim.ezsp.network_up and not sim.han.up
        await sim.close()

    asyncio.run(main())


def test_ash_nak_on_corruption_and_piggyback():
    out = []
    frames = []
    link = ash.AshNcp(out.append, frames.append, lambda: None)
    link.data_received(bytes.fromhex("1AC038BC7E"))
    out.clear()
    good = ash.encode_frame(0x00, ash.randomize(bytes((0, 0, 0, 4))))  # DATA(0,0) version(4)
    bad = bytearray(good)
    bad[2] ^= 0x01
    link.data_received(bytes(bad))
    assert out == [ash.encode_frame(0xA0)] and frames == []  # NAK(0)
    out.clear()
    link.on_frame = lambda f: (frames.append(f), link.send(b"\x00\x80\x00\x0d\x02\x30\x74"))
    link.data_received(good)
    assert frames[0] == bytes((0, 0, 0, 4))
    # response DATA(frm 0, ack 1): the ack is piggybacked, no separate ACK frame
    assert out == [ash.encode_frame(0x01, ash.randomize(b"\x00\x80\x00\x0d\x02\x30\x74"))]
    assert link.unacked and link.rx_ack == 1
    out.clear()
    link.data_received(ash.encode_frame(0x81))  # host ACK(1)
    assert not link.unacked and out == []


def test_ezsp_invalid_command_widths():
    for version, reason in ((13, b"\x31"), (14, b"\x31\x00\x00\x00")):
        out = []
        ncp = ez.EzspNcp(ez.NcpConfig(version=version), out.append)
        ncp.handle(bytes((0, 0, 0x01, 0x26, 0x00)))  # getEui64 before version
        assert out[-1][3:5] == b"\x58\x00"
        ncp.handle(bytes((0, 0, 0, version)))  # legacy version(N)
        assert out[-1] == bytes((0, 0x80, 0, version, 2, 0x40, 0x74))
        ncp.handle(bytes((1, 0, 0x01, 0x99, 0x01)))  # unknown frame id 0x0199
        assert out[-1] == bytes((1, 0x80, 0x01, 0x58, 0x00)) + reason


def test_start_time_parsing():
    assert parse_iso_utc("2000-01-01T00:00:00Z") == 946684800
    with pytest.raises(ScenarioError):
        scenario.parse_time("yesterday", 0, "x")
    assert scenario.parse_duration("1h30m", "x") == 5400


def test_join_flow_when_not_commissioned():
    out = []
    cfg = ez.NcpConfig(version=14, commissioned=False)
    ncp = ez.EzspNcp(cfg, out.append)
    ncp.handle(bytes((0, 0, 0, 14)))
    assert ncp.version_set

    def cmd(seq, frame_id, params=b""):
        out.clear()
        ncp.handle(bytes((seq, 0, 0x01)) + struct.pack("<H", frame_id) + params)
        return [(f[3] | f[4] << 8, f[1], f[5:]) for f in out]

    assert cmd(1, ez.NETWORK_INIT, b"\x00\x00") == [
        (ez.NETWORK_INIT, 0x80, struct.pack("<I", 0x17))
    ]
    assert cmd(2, ez.SET_INITIAL_SECURITY_STATE, struct.pack("<H", 0x0900) + bytes(41)) == [
        (ez.SET_INITIAL_SECURITY_STATE, 0x80, bytes(4))
    ]
    params = bytes(8) + struct.pack("<HbBBHBI", 0x1A62, 8, 20, 0, 0, 0, 1 << 20)
    # response first, then the stackStatusHandler(NETWORK_UP) callback (FC 0x90)
    assert cmd(3, ez.JOIN_NETWORK, b"\x02" + params) == [
        (ez.JOIN_NETWORK, 0x80, bytes(4)),
        (ez.STACK_STATUS_HANDLER, 0x90, struct.pack("<I", 0x15)),
    ]
    assert cfg.channel == 20 and cfg.commissioned
    assert cmd(4, ez.NETWORK_STATE) == [(ez.NETWORK_STATE, 0x80, b"\x02")]
    assert cmd(5, ez.LEAVE_NETWORK, b"\x00") == [
        (ez.LEAVE_NETWORK, 0x80, bytes(4)),
        (ez.STACK_STATUS_HANDLER, 0x90, struct.pack("<I", 0x16)),
    ]


def test_control_channel():
    async def main():
        sim = Simulator(scenario.load("default"), speed=1)
        addr = await sim.start_control("127.0.0.1", 0)
        host, port = addr.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))

        async def ask(req):
            writer.write((json.dumps(req) + "\n").encode())
            await writer.drain()
            return json.loads(await reader.readline())

        try:
            t0 = await ask({"cmd": "time"})
            assert t0["ok"] and t0["utc"].startswith("2026-01-15T06:00")
            t1 = await ask({"cmd": "advance", "seconds": 3 * 3600 + 5})
            assert t1["zigbee"] - t0["zigbee"] in range(3 * 3600 + 5, 3 * 3600 + 8)
            st = await ask({"cmd": "status"})
            assert st["ok"] and st["events_fired"] == 1 and len(st["devices"]) == 3
            v = await ask({"cmd": "read", "device": "esme", "cluster": 0x0708, "attr": 0x0201})
            assert v == {"ok": True, "value": 0x600}
            # spoofed frames: the `spoof` event fired now, and the older "spoof" command
            assert await ask({"cmd": "event", "event": _spoof()}) == {"ok": True}
            cot = {"type": "change_of_tenancy", "meter": "esme", "implementation_time": "+1h",
                   "provider_id": 1, "issuer_event_id": 2}  # fmt: skip
            rogue = {"cmd": "spoof", "event": cot, "node": 0x5555, "aps_encrypted": False}
            assert await ask(rogue) == {"ok": True}
            st = await ask({"cmd": "status"})
            assert st["counters"]["spoofs"] == 2 and st["events_fired"] == 2
            bad = await ask({"cmd": "nope"})
            assert not bad["ok"] and "unknown cmd" in bad["error"]
        finally:
            writer.close()
            await sim.close()

    asyncio.run(main())


# ---- APS security as the NCP reports it; spoofed frames ----------------------------------------


def _ncp_han(version, events=()):
    # the default scenario with the real simulated NCP (EzspNcp) recording its EZSP frames
    d = _default_dict()
    d["events"] = list(events)
    scn = scenario.from_dict(d, "t.json")
    clock = SimClock(scn.start_unix, speed=0.0)
    han = Han(scn, clock)
    frames = []
    ncp = ez.EzspNcp(ez.NcpConfig(version=version, node_id=scn.ncp_node_id), frames.append, han)
    ncp.version_set = True  # as after the host's version negotiation
    ncp.network_up = True
    han.ezsp = ncp
    han.network_up(True)
    return scn, clock, han, frames


def _incoming(frames, version):
    # incomingMessageHandler callbacks the firmware would get, parsed by bellows 1.2.1
    import bellows.types as bt
    from bellows.ezsp.v13.commands import COMMANDS as C13
    from bellows.ezsp.v14.commands import COMMANDS as C14

    schema = (C14 if version >= 14 else C13)["incomingMessageHandler"][2]
    out = []
    for f in frames:
        if (
            f[1] & 0x18 == 0x10
            and struct.unpack_from("<H", f, 3)[0] == ez.INCOMING_MESSAGE_HANDLER
        ):
            out.append(bt.deserialize_dict(f[5:], schema)[0])
    frames.clear()
    return out


def _sender(args):
    return args["nwk"] if "nwk" in args else args["sender"]


def _message(args):
    return bytes(args["message"] if "message" in args else args["messageContents"])


def _aps(args):
    return args["aps_frame"] if "aps_frame" in args else args["apsFrame"]


@pytest.mark.parametrize("version", [13, 14])
def test_se_frames_marked_aps_encrypted_zdo_not(version):
    # What the firmware reads as `secured` (ihd/zigbee/ezsp.py: apsFrame options & 0x0020,
    # EMBER_APS_OPTION_ENCRYPTION): every SE-profile frame from a simulated device has it, a ZDO
    # answer has not. bellows' EmberApsOption is the referee for the bit.
    import bellows.types as bt

    assert ez.APS_OPTION_ENCRYPTION == bt.EmberApsOption.APS_OPTION_ENCRYPTION == 0x0020
    scn, clock, han, frames = _ncp_han(version)
    esme = han.devices[0x1234]
    read = ez.ApsFrame(ez.aps_frame(0x0109, 0x0702, 1, 1, 0x0020, 0, 7))
    han._process(esme, read, bytes((0x00, 0x11, 0x00, 0x00, 0x00)))  # Read CurrentSummation
    zdo = ez.ApsFrame(ez.aps_frame(0x0000, 0x0005, 0, 0, 0, 0, 8))
    han._process(esme, zdo, bytes((0x21,)) + struct.pack("<H", 0x1234))  # Active_EP_req
    se_rsp, zdo_rsp = _incoming(frames, version)
    assert _sender(se_rsp) == 0x1234 and _aps(se_rsp).clusterId == 0x0702
    assert bt.EmberApsOption.APS_OPTION_ENCRYPTION in _aps(se_rsp).options
    assert _aps(zdo_rsp).profileId == 0 and not _aps(zdo_rsp).options & 0x0020


@pytest.mark.parametrize("version", [13, 14])
def test_spoof_event_unencrypted_cot_from_the_esme_address(version):
    # The `spoof` event: a PublishChangeOfTenancy from the ESME's own short address and
    # endpoint, APS encryption bit clear, byte for byte what the meter itself would publish
    # for the same change (one encoder: clusters.publish_change_payload).
    ev = _spoof(at="+30m")
    scn, clock, han, frames = _ncp_han(version, [ev])
    (parsed,) = scn.events
    assert (parsed["node"], parsed["endpoint"], parsed["aps_encrypted"]) == (0x1234, 1, False)
    clock.advance(29 * 60)
    han.tick()
    assert _incoming(frames, version) == []
    clock.advance(61)
    han.tick()
    (args,) = _incoming(frames, version)
    aps = _aps(args)
    assert _sender(args) == 0x1234 and (aps.profileId, aps.clusterId) == (0x0109, 0x0708)
    assert (aps.sourceEndpoint, aps.destinationEndpoint) == (1, 1)
    assert not aps.options & 0x0020  # unencrypted
    if version >= 14:  # the NCP maps the short address to the ESME's EUI64
        assert str(args["eui64"]).upper() == "00:1B:C5:0C:00:00:E5:01"
    msg = _message(args)
    impl = to_zigbee(scn.start_unix + 600)
    assert msg[0] == 0x09 and msg[2] == 0x00  # cluster-specific S->C PublishChangeOfTenancy
    assert msg[3:] == struct.pack("<IIBII", 301, 900000000, 0, impl, 0x200)
    assert han.meters["esme"].pending("change_of_tenancy", clock.now()) is None  # it knows nothing
    # the same change published by the meter: the same payload
    real = {
        "type": "change_of_tenancy",
        "meter": "esme",
        "at": "+0s",
        "implementation_time": "+10m",
        "provider_id": 301,
        "issuer_event_id": 900000000,
    }
    han.meters["esme"].add_event(scn._event(real, "t", ["esme", "gpf"]))
    dm = han.devices[0x1234].cluster(0x0708)
    assert dm.tenancy_payload(clock.now()) == msg[3:]
    assert han.status()["counters"]["spoofs"] == 1


def test_spoof_event_report_attributes_and_raw_zcl():
    # Generic frames: a Report Attributes (Metering CurrentSummationDelivered, InstantaneousDemand)
    # from a rogue node, APS-encrypted on request; a raw ZCL frame; a change of supplier.
    evs = [
        _spoof(at="+1m", **{"from": "0x5555"}, endpoint=3, aps_encrypted=True, frame={
            "type": "report_attributes", "cluster": "0x0702", "attributes": [
                {"id": "0x0000", "type": "0x25", "value": 99999999},
                {"id": "0x0400", "type": "0x2A", "value": -5}]}),
        _spoof(at="+2m", frame={"type": "zcl", "cluster": "0x0006", "hex": "01 77 02"}),
        _spoof(at="+3m", frame={"type": "change_of_supplier", "implementation_time": "+1h",
                                "provider_id": 1, "issuer_event_id": 2, "proposed_provider_id": 3,
                                "proposed_provider_name": "Rogue"}),
    ]  # fmt: skip
    scn, clock, han, frames = _ncp_han(14, evs)
    clock.advance(200)
    han.tick()
    rep, raw, cos = _incoming(frames, 14)
    assert _sender(rep) == 0x5555 and _aps(rep).sourceEndpoint == 3
    assert _aps(rep).options & 0x0020 and _aps(rep).clusterId == 0x0702
    assert str(rep["eui64"]).upper() == "FF:FF:FF:FF:FF:FF:FF:FF"  # no device has that address
    msg = _message(rep)
    assert msg[0] == 0x18 and msg[2] == 0x0A  # global, S->C, no default response: Report
    demand = (-5).to_bytes(3, "little", signed=True)
    assert msg[3:] == (struct.pack("<HB", 0, 0x25) + (99999999).to_bytes(6, "little")
                       + struct.pack("<HB", 0x0400, 0x2A) + demand)  # fmt: skip
    assert _aps(raw).clusterId == 0x0006 and _message(raw) == bytes((0x01, 0x77, 0x02))
    assert not _aps(raw).options & 0x0020
    m = _message(cos)
    impl = to_zigbee(scn.start_unix + 3600)
    assert m[2] == 0x01  # PublishChangeOfSupplier
    assert m[3:] == struct.pack("<IIBIII", 1, 2, 0, 3, impl, 0x200) + b"\x05Rogue\x00"


# ---- hub_time: one device's Time cluster off the network's clock -------------------------------


def _read_time(han, node):
    (rsp,) = _zcl(han, node, 0x000A, bytes((0x00, 0x51, 0x00, 0x00, 0x00)))
    assert rsp[3:6] == bytes((0x00, 0x00, 0x00))  # attr 0x0000, SUCCESS
    return struct.unpack_from("<I", rsp, 7)[0]


def test_hub_time_events_jump_set_value_and_expire():
    d = _default_dict()
    d["events"] = [
        {"type": "hub_time", "at": "+10m", "jump": "+365d"},
        {"type": "hub_time", "at": "+20m", "jump": "-2h"},  # on top: +365d -2h
        {"type": "hub_time", "at": "+30m", "jump": -31536000, "device": "esme"},
        {"type": "hub_time", "at": "+40m", "value": "0xFFFFFFFE", "duration": "10m"},
        {"type": "hub_time", "at": "+1h", "set": "2030-06-01T00:00:00Z"},
        {"type": "hub_time", "at": "+70m", "reset": True},
    ]
    scn = scenario.from_dict(d, "t.json")
    clock = SimClock(scn.start_unix, speed=0.0)
    han = Han(scn, clock)
    han.ezsp = FakeEzsp(scn.ncp_node_id)
    han.network_up(True)

    def at(minutes):
        clock.set(scn.start_unix + minutes * 60)
        han.tick()
        return to_zigbee(clock.now())

    real = at(5)
    assert _read_time(han, 0x0000) == real == _read_time(han, 0x1234)
    real = at(10)
    assert _read_time(han, 0x0000) == real + 365 * 86400
    assert _read_time(han, 0x1234) == real  # the meter keeps the network's time
    assert han.clock.now() == scn.start_unix + 600  # and so does the network
    real = at(20)
    assert _read_time(han, 0x0000) == real + 365 * 86400 - 7200
    real = at(30)
    assert _read_time(han, 0x1234) == real - 365 * 86400
    real = at(40)
    assert _read_time(han, 0x0000) == 0xFFFFFFFE
    assert han.status()["hub_time"] == 0xFFFFFFFE
    real = at(50)  # the fixed value expired: back to the network's clock
    assert _read_time(han, 0x0000) == real
    real = at(60)
    assert _read_time(han, 0x0000) == to_zigbee(parse_iso_utc("2030-06-01T00:00:00Z"))
    real = at(65)
    assert _read_time(han, 0x0000) == to_zigbee(parse_iso_utc("2030-06-01T00:05:00Z"))
    real = at(70)
    assert _read_time(han, 0x0000) == real
    assert _read_time(han, 0x1234) == real - 365 * 86400  # reset names the hub only


@pytest.mark.parametrize(
    "event, message",
    [
        ({"jump": "1y"}, "events[0].jump: bad duration"),
        ({"jump": "+1h", "value": 0}, "exactly one of jump, set, value, reset"),
        ({}, "exactly one of jump, set, value, reset"),
        ({"value": "0x1FFFFFFFF"}, "events[0].value: 8589934591 out of range"),
        ({"reset": False}, "events[0].reset: true"),
        ({"jump": "+1h", "device": "gpf"}, "'gpf' has no Time cluster"),
        ({"jump": "+1h", "device": "wind"}, "events[0].device: 'wind' is not one of"),
        ({"jump": "+1h", "speed": 2}, "unknown field(s) speed"),
    ],
)
def test_hub_time_validation(event, message):
    d = _default_dict()
    d["events"] = [dict({"type": "hub_time", "at": "+1m"}, **event)]
    with pytest.raises(ScenarioError) as ei:
        scenario.from_dict(d, "x.json")
    assert message in str(ei.value)


def test_hub_time_from_the_control_channel():
    async def main():
        sim = Simulator(scenario.load("default"), speed=0.0001)
        addr = await sim.start_control("127.0.0.1", 0)
        host, port = addr.rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))

        async def ask(req):
            writer.write((json.dumps(req) + "\n").encode())
            await writer.drain()
            return json.loads(await reader.readline())

        try:
            ev = {"type": "hub_time", "jump": "-365d"}
            assert await ask({"cmd": "event", "event": ev}) == {"ok": True}
            st = await ask({"cmd": "status"})
            now = (await ask({"cmd": "time"}))["zigbee"]
            assert abs(st["hub_time"] - (now - 365 * 86400)) <= 2
            v = await ask({"cmd": "read", "device": "comms_hub", "cluster": 0x000A, "attr": 0})
            assert abs(v["value"] - (now - 365 * 86400)) <= 2
        finally:
            writer.close()
            await sim.close()

    asyncio.run(main())
