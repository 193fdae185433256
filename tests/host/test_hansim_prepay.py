# hansim Prepayment server: UTRN generator vs the firmware's checker, scenario validation,
# ConsumerTopUp results and error form on the wire, emergency credit, consumption and debt
# recovery over time; then the firmware PrepayService end to end through the real firmware ZCL
# client against the simulated ESME / GPF (both money scalings).
import asyncio
import copy
import json
import struct

import pytest

from host_tools import upy_shim
from host_tools.hansim import prepay as HP
from host_tools.hansim import scenario
from host_tools.hansim.meters import build_devices
from host_tools.hansim.scenario import ScenarioError

upy_shim.install()

IHD = 0x7A3C
CS01B = "73950067887105178605"
ESME, GPF = 0x1234, 0x2B7A


def _dict():
    with open(scenario.os.path.join(scenario.SCENARIO_DIR, "prepay.json")) as fh:
        return json.load(fh)


class World:
    def __init__(self, d=None):
        self.scn = scenario.from_dict(d or _dict(), "prepay.json")
        self.t = self.scn.start_unix
        built = build_devices(self.scn, lambda: self.t)
        self.devices = {dev.node_id: dev for dev in built["devices"]}
        self.meters = built["meters"]
        self.tsn = 0

    def acc(self, name):
        return self.meters[name][0].prepay

    def cmd(self, node, cmd, payload, cluster=0x0705):
        self.tsn += 1
        frame = bytes((0x01, self.tsn, cmd)) + payload
        return self.devices[node].handle_zcl(IHD, 1, 1, cluster, frame)

    def read(self, node, attr_id):
        dev = self.devices[node]
        return dev.cluster(0x0705).value(attr_id)


def _top_up_payload(code, origin=0x02):
    raw = code.encode()
    return bytes((origin, len(raw))) + raw


# ---------------- UTRN generator ----------------


def test_check_digit_generator_matches_gbcs_vector_and_firmware():
    from ihd.state import utrn as FW

    assert HP.check_digit(CS01B[:19]) == 5 and HP.utrn_error(CS01B) is None
    assert HP.ptut_value_pence(CS01B) == 1250
    for i in range(300):
        cls = "pennies" if i % 3 else "pounds"
        code = HP.make_utrn(i * 27 % 8192, cls, counter=i, mac=i * 7919)
        assert FW.is_valid(code) and HP.utrn_error(code) is None
        assert FW.amount_mp(code) == HP.ptut_value_pence(code) * 1000
    assert HP.utrn_error(CS01B[:19] + "0") == "check digit wrong (expected 5)"
    assert "20 digits" in HP.utrn_error("123")
    with pytest.raises(ValueError):
        HP.make_utrn(8192)


# ---------------- scenario ----------------


def test_prepay_scenario_loads_both_meters_prepayment():
    scn = scenario.load("prepay")
    for name in ("esme", "gpf"):
        assert scn.meter(name).payment_mode == "prepayment"
    pp = scn.meter("esme").prepayment
    assert pp["debts"][1] == {"label": "Loan", "amount": 1000000, "recovery": "payment",
                              "percent_x100": 1000}  # fmt: skip
    assert (CS01B, None) in pp["utrns"]  # receipt spacing removed
    # other scenarios keep their defaults
    assert scenario.load("test_faults").meter("esme").prepayment["emergency_credit"] == 500000


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["meters"][0]["prepayment"]["utrns"].append(CS01B[:19] + "1"),
         "check digit wrong"),
        (lambda d: d["meters"][0]["prepayment"].update(bogus=1), "unknown field(s) bogus"),
        (lambda d: d["meters"][0]["prepayment"]["debts"].append({"amount": 5}), "per_day"),
        (lambda d: d["meters"][0]["prepayment"]["debts"][1].update(percent=150), "[0, 100]"),
        (lambda d: d["meters"][1]["prepayment"].update(keypad_locked="yes"), "true or false"),
        (lambda d: d["meters"][0]["prepayment"]["debts"].extend([{"amount": 1, "per_day": 1}] * 2),
         "at most 3"),
    ],
)  # fmt: skip
def test_prepayment_validation_errors(mutate, message):
    d = copy.deepcopy(_dict())
    mutate(d)
    with pytest.raises(ScenarioError) as e:
        scenario.from_dict(d, "prepay.json")
    assert message in str(e.value) and "prepayment" in str(e.value)


# ---------------- ConsumerTopUp on the wire ----------------


def test_top_up_accepted_response_bytes():
    w = World()
    before = w.read(GPF, 0x0001)
    (rsp,) = w.cmd(GPF, 0x04, _top_up_payload(CS01B))
    assert rsp[:3] == bytes((0x19, w.tsn, 0x03))  # S->C, cluster, default response disabled
    result, value, src, credit = struct.unpack("<BIBI", rsp[3:])
    assert (result, value, src) == (0x00, 1_250_000, 0x02)
    assert credit == before + 1_250_000 == w.read(GPF, 0x0001)
    assert w.read(GPF, 0x0020) == 1_500_000 + 1_250_000  # TotalCreditAdded
    assert w.read(GPF, 0x0103) == CS01B.encode() and w.read(GPF, 0x0102) == 0x02  # top-up log


def test_top_up_rejections_use_the_error_form():
    w = World()
    w.cmd(GPF, 0x04, _top_up_payload(CS01B))
    err = b"\xff\xff\xff\xff"
    (dup,) = w.cmd(GPF, 0x04, _top_up_payload(CS01B))
    assert dup[3:] == b"\x02" + err + b"\x02" + err
    assert w.read(GPF, 0x0400) & 0x0006 == 0x0006  # TopUpCodeError | AlreadyUsed
    (bad,) = w.cmd(GPF, 0x04, _top_up_payload(CS01B[:19] + "0"))
    assert bad[3] == 0x01 and bad[4:8] == err and bad[9:] == err
    (short,) = w.cmd(GPF, 0x04, _top_up_payload("12345"))
    assert short[3] == 0x01
    # mapped amount beats the PTUT value
    (ok,) = w.cmd(ESME, 0x04, _top_up_payload("73944427607365224621"))
    assert struct.unpack_from("<I", ok, 4)[0] == 1_000_000


def test_top_up_limits_keypad_and_unknown_codes():
    d = _dict()
    pp = d["meters"][1]["prepayment"]
    pp.update(max_credit_per_top_up=1_000_000, accept_any_valid=False)
    d["meters"][0]["prepayment"]["max_credit"] = 1_000_000
    w = World(d)
    assert w.cmd(GPF, 0x04, _top_up_payload(CS01B))[0][3] == 0x06  # too large
    assert w.cmd(GPF, 0x04, _top_up_payload(HP.make_utrn(100)))[0][3] == 0x01  # not issued
    assert w.cmd(ESME, 0x04, _top_up_payload(CS01B))[0][3] == 0x04  # max credit
    d["meters"][1]["prepayment"]["keypad_locked"] = True
    d["meters"][0]["payment_mode"] = "credit"
    w = World(d)
    assert w.cmd(GPF, 0x04, _top_up_payload(CS01B))[0][3] == 0x05
    assert w.cmd(ESME, 0x04, _top_up_payload(CS01B))[0][3] == 0x03
    assert w.read(ESME, 0x0000) == 0x0C94 and w.read(GPF, 0x0000) == 0x0497


# ---------------- emergency credit, consumption, debt ----------------


def test_emergency_credit_cycle_and_status_bits():
    w = World()
    acc = w.acc("esme")
    ec_cmd = struct.pack("<IB", 0, 0x02)
    st = w.read(ESME, 0x0003)
    assert st & HP.CREDIT_OK and st & HP.EC_ENABLED and not st & HP.EC_AVAILABLE
    (dr,) = w.cmd(ESME, 0x00, ec_cmd)
    assert dr[2] == 0x0B and dr[3:] == bytes((0x00, 0x93))  # not available: denied
    # credit falls with consumption (+ standing charge + time debt) until below the threshold
    c0 = w.read(ESME, 0x0001)
    w.t += 3600
    assert w.read(ESME, 0x0001) < c0
    while not w.read(ESME, 0x0003) & HP.EC_AVAILABLE:
        w.t += 600
    st = w.read(ESME, 0x0003)
    assert st & HP.LOW_CREDIT and w.read(ESME, 0x0002) == 500_000
    assert w.read(ESME, 0x0400) & 0x0041 == 0x0041  # LowCreditWarning | ECAvailable
    (dr,) = w.cmd(ESME, 0x00, ec_cmd)
    assert dr[3:] == bytes((0x00, 0x00))
    while w.read(ESME, 0x0001) >= 0:
        w.t += 600
    st = w.read(ESME, 0x0003)
    assert st & HP.EC_SELECTED and st & HP.EC_IN_USE and not st & HP.CREDIT_OK
    assert 0 < w.read(ESME, 0x0002) < 500_000
    assert w.read(ESME, 0x0002) == 500_000 + w.read(ESME, 0x0001)
    # a top-up repays the EC; 10 % goes to the payment-based debt
    (rsp,) = w.cmd(ESME, 0x04, _top_up_payload("73944427607365224621"))
    credit = struct.unpack_from("<i", rsp, 9)[0]
    assert acc.debts[1].outstanding(w.t) == 1_000_000 - 100_000
    assert credit == w.read(ESME, 0x0001) > 0
    st = w.read(ESME, 0x0003)
    assert not st & (HP.EC_SELECTED | HP.EC_IN_USE) and st & HP.CREDIT_OK


def test_time_based_debt_recovery():
    w = World()
    assert w.read(ESME, 0x0211) == 2_500_000 and w.read(ESME, 0x0217) == 50_000
    assert w.read(ESME, 0x0210) == b"Arrears" and w.read(ESME, 0x0221) == 1_000_000
    c0, used0 = w.read(ESME, 0x0001), w.meters["esme"][0].bill_to_date(w.t)
    w.t += 2 * 86400
    assert w.read(ESME, 0x0211) == 2_400_000
    assert w.read(ESME, 0x0005) == 2_400_000 + 1_000_000  # AccumulatedDebt: outstanding
    used = w.meters["esme"][0].bill_to_date(w.t) - used0
    assert w.read(ESME, 0x0001) == c0 - used - 100_000


# ---------------- firmware service end to end ----------------


class _Msg:
    def __init__(self, node, cluster, src_ep, dst_ep, payload):
        self.sender, self.sender_eui64, self.profile_id = node, None, 0x0109
        self.cluster_id, self.src_ep, self.dst_ep = cluster, src_ep, dst_ep
        self.aps_options, self.secured, self.lqi, self.rssi = 0, True, 255, -40
        self.payload = memoryview(payload)


class BridgeNcp:
    # firmware Zcl -> hansim Device.handle_zcl -> firmware Zcl.handle_incoming
    def __init__(self, world):
        self.world = world
        self.zcl = None
        self.sent = []

    async def send_unicast(self, node, cluster, src_ep, dst_ep, data, profile_id=0x0109):
        self.sent.append((node, cluster, bytes(data)))
        for r in self.world.devices[node].handle_zcl(IHD, src_ep, dst_ep, cluster, bytes(data)):
            asyncio.get_event_loop().call_soon(
                self.zcl.handle_incoming, _Msg(node, cluster, dst_ep, src_ep, r)
            )
        return 0


def _service(world, tmp_path):
    from ihd.meters.registry import Meter, Registry
    from ihd.prepay.service import PrepayService
    from ihd.runtime import clock
    from ihd.state import model as M
    from ihd.zigbee.zcl.client import Zcl

    clock.reset()
    clock.set_source(lambda: int(world.t) - 946684800)
    ncp = BridgeNcp(world)
    z = Zcl(ncp)
    ncp.zcl = z
    reg = Registry()
    reg.bind(Meter("elec", ESME, 1))
    reg.bind(Meter("gas", GPF, 1))
    mdl = M.Model(now_fn=clock.now)
    return PrepayService(z, reg, mdl, str(tmp_path / "prepay.st"), top_up_timeout_ms=500), ncp, mdl


@pytest.mark.parametrize("trailing_digit, scaling", [(5, 0), (2, 3)])
def test_firmware_service_against_hansim(tmp_path, trailing_digit, scaling):
    from ihd.state import model as M
    from ihd.state import prepay as P

    d = _dict()
    for m in d["meters"]:
        m["tariff"]["trailing_digit"] = trailing_digit
        m["tariff"]["unit_rate"] //= 10 ** (5 - trailing_digit)
        m["tariff"]["standing_charge"] //= 10 ** (5 - trailing_digit)
        pp = m["prepayment"]
        for k in ("initial_credit", "emergency_credit", "emergency_credit_threshold",
                  "low_credit_warning", "ihd_low_credit_warning", "max_credit"):  # fmt: skip
            if k in pp:
                pp[k] //= 10 ** (5 - trailing_digit)
        for debt in pp.get("debts", []):
            debt["amount"] //= 10 ** (5 - trailing_digit)
            if "per_day" in debt:
                debt["per_day"] //= 10 ** (5 - trailing_digit)
        pp["utrns"] = [u for u in pp["utrns"] if isinstance(u, str)]
    w = World(d)
    assert w.read(GPF, 0x0502) == scaling
    svc, ncp, mdl = _service(w, tmp_path)

    async def main():
        assert await svc.refresh("gas") and await svc.refresh("elec")
        assert mdl.gas.mode == M.MODE_PREPAY and mdl.elec.mode == M.MODE_PREPAY
        assert mdl.view_prepay(M.FUEL_GAS)[0] == 1_500_000  # £15.00 either way
        assert mdl.view_prepay(M.FUEL_ELEC)[2] == 3_500_000  # debts: £25 + £10
        r = await svc.top_up("gas", "7395 0067 8871 0517 8605")
        assert r.code == P.ACCEPTED and r.amount_mp == 1_250_000
        assert r.credit_mp == 2_750_000
        assert bytes(ncp.sent[-1][2][3:]) == b"\x02\x14" + CS01B.encode()
        r = await svc.top_up("gas", CS01B)
        assert r.code == P.REJ_DUPLICATE and r.text() == "Code already used"
        r = await svc.select_emergency_credit("gas")
        assert r.code == P.EC_NOT_AVAILABLE
        # run the ESME down below the EC threshold, then take EC
        while not w.read(ESME, 0x0003) & HP.EC_AVAILABLE:
            w.t += 1800
        await svc.refresh("elec")
        assert svc.ec_offer("elec") == 500_000
        assert [a[:2] for a in svc.alerts()] == [("elec", P.ALERT_LOW_CREDIT)]
        r = await svc.select_emergency_credit("elec")
        assert r.code == P.EC_SELECTED and r.ec_mp == 500_000
        assert w.acc("esme").ec_selected_at is not None
        # the meter stops answering: no answer, code kept, sent once
        w.devices[ESME].handle_zcl = lambda *a: []
        code = HP.make_utrn(700, counter=9)
        n = len(ncp.sent)
        r = await svc.top_up("elec", code)
        assert r.code == P.NO_ANSWER and svc.pending("elec") == code
        assert len(ncp.sent) == n + 1

    asyncio.run(main())
