# fw: heapsize=512K
# (on the 64-bit port the firmware compiles from source: the service loads zcl/clusters.py
# first, and compiling zcl/client.py after it needs more than the default 256K; frozen and
# .mpy builds compile nothing)
# Prepayment service against a scripted ZCL peer that encodes/decodes with the real clusters.py
# schemas: GBCS CS01b bytes, top-up results, no-answer handling (kept, never re-sent), lockout
# (persisted), emergency credit, alerts once per crossing, money scaling, mode changes, CoT.
import os

import fwtest

PORTABLE = True

CS01B = "73950067887105178605"
ELEC = (0x1234, 1)
GAS = (0x5678, 2)
PREPAY_PCC = 0x0497
CREDIT_PCC = 0x0C94


class Rsp:
    # Looks like zcl.client.Frame for the service.
    def __init__(self, node, ep, cmd_id=None, args=None, status=None, secured=True):
        self.node, self.src_ep, self.cmd_id, self.args, self._st = node, ep, cmd_id, args, status
        self.secured = secured

    def default_status(self):
        return self._st


class FakeMeter:
    # Minimal meter: attributes + ConsumerTopUp / SelectAvailableEmergencyCredit behaviour.
    def __init__(self, node, ep, credit=2_000_000):
        self.node, self.ep = node, ep
        self.attrs = {0x0000: PREPAY_PCC, 0x0001: credit, 0x0002: 0, 0x0003: 0x01,
                      0x0005: 0, 0x0010: 500_000, 0x0011: 250_000, 0x0031: 300_000,
                      0x0502: 0, 0x0503: 826}  # fmt: skip
        self.used = set()
        self.silent = False  # no answer to commands
        self.result = None  # force a ResultType

    def top_up(self, values):
        code = bytes(values["top_up_code"]).decode()
        if self.silent:
            return None
        from ihd.state import utrn

        rt = self.result
        if rt is None:
            rt = 0x02 if code in self.used else (0x00 if utrn.is_valid(code) else 0x01)
        if rt == 0x00:
            self.used.add(code)
            value = utrn.amount_mp(code) // 10 ** self.attrs[0x0502]
            self.attrs[0x0001] += value
            return self._rsp(0x03, b"\x00" + _u32(value) + b"\x02" + _u32(self.attrs[0x0001]))
        return self._rsp(0x03, bytes((rt,)) + b"\xff\xff\xff\xff\x02\xff\xff\xff\xff")

    def select_ec(self, values):
        if self.silent:
            return None
        if not self.attrs[0x0003] & 0x08:
            return Rsp(self.node, self.ep, 0x0B, status=0x93)  # ACTION_DENIED
        self.attrs[0x0003] = (self.attrs[0x0003] & ~0x08) | 0x30
        self.attrs[0x0002] = self.attrs[0x0010]
        return Rsp(self.node, self.ep, 0x0B, status=0x00)

    def _rsp(self, cmd_id, payload):
        from ihd.zigbee.zcl import clusters as CL

        row = CL.command(0x0705, CL.S2C, cmd_id)
        return Rsp(self.node, self.ep, cmd_id, CL.decode(row[2], payload))


def _u32(v):
    return bytes((v & 0xFF, (v >> 8) & 0xFF, (v >> 16) & 0xFF, (v >> 24) & 0xFF))


class FakeZcl:
    def __init__(self):
        self.meters = {}
        self.sent = []  # (node, cmd_id, payload bytes, kwargs)
        self.report_fns = []

    def on_report(self, cluster, fn):
        self.report_fns.append(fn)

    def report(self, node, ep, attr_id, value):
        for fn in self.report_fns:
            fn(Rsp(node, ep), attr_id, value)

    async def command(self, node, ep, cluster, cmd_id, values=None, rsp_cmd=None, **kw):
        from ihd.zigbee.zcl import clusters as CL

        row = CL.command(cluster, CL.C2S, cmd_id)
        kw["rsp_cmd"] = rsp_cmd
        self.sent.append((node, cmd_id, CL.encode(row[2], values), kw))
        m = self.meters[node]
        return m.top_up(values) if cmd_id == 0x04 else m.select_ec(values)

    async def read_attributes(self, node, ep, cluster, ids, **kw):
        m = self.meters[node]
        if m.silent:
            return None
        return {a: m.attrs[a] for a in ids if a in m.attrs}

    async def configure_reporting(self, node, ep, cluster, records, **kw):
        return [(0, None, None)]


_n = [0]


def _setup(now=100_000, scale=0, path=None, model=True):
    from ihd.meters.registry import Meter, Registry
    from ihd.prepay.service import PrepayService
    from ihd.runtime import atomic, clock
    from ihd.state import model as M

    clock.reset()
    t = [now]
    clock.set_source(lambda: t[0])
    if path is None:
        d = "/tmp/ihd-prepay-%d" % (os.getpid() if hasattr(os, "getpid") else 1)
        try:
            os.mkdir(d)
        except OSError:
            pass
        _n[0] += 1
        path = "%s/state%d" % (d, _n[0])
        atomic.remove(path)
    reg = Registry()
    reg.bind(Meter("elec", *ELEC))
    reg.bind(Meter("gas", *GAS))
    z = FakeZcl()
    z.meters[ELEC[0]] = FakeMeter(*ELEC)
    z.meters[GAS[0]] = FakeMeter(*GAS)
    for m in z.meters.values():
        m.attrs[0x0502] = scale
        if scale:
            for a in (0x0001, 0x0010, 0x0011, 0x0031):
                m.attrs[a] //= 10**scale
    mdl = M.Model(now_fn=lambda: t[0]) if model else None
    buzz = []
    s = PrepayService(z, reg, mdl, path)
    s.alerted.connect(lambda a: buzz.append((a[0], a[1])))  # as app.py's buzzer
    return s, z, mdl, t, buzz, path


def _code(pence, counter=1, cls=0):
    from ihd.state import utrn as U

    hi = (counter << 15) | (cls << 13) | pence
    return U.make(str(U.PPTD_OFFSET + (hi << 32) + 0x1234567))


# ---------------- GBCS CS01b wire example ----------------


def test_cs01b_request_bytes_with_our_originating_device():
    from ihd.prepay import service as S
    from ihd.state import prepay as P
    from ihd.zigbee.zcl import frame as FR
    from ihd.zigbee.zcl.client import Zcl

    s, z, _, _, _, _ = _setup()
    r = fwtest.run(s.top_up("gas", CS01B))
    assert r.code == P.ACCEPTED
    node, cmd, payload, kw = z.sent[0]
    assert node == GAS[0] and cmd == 0x04
    assert kw["retries"] == 0 and kw["rsp_cmd"] == 0x03
    # our choice: OriginatingDevice 0x02 (IHD); the vector (a remote top-up) has 0x00 (ESI)
    assert payload == b"\x02\x14" + CS01B.encode()
    frame = Zcl.build(FR.CLUSTER, FR.C2S, 0x00, 0x04, payload)
    assert bytes(frame) == b"\x01\x00\x04\x02\x14" + CS01B.encode()
    # with ESI as originator the service produces the vector byte for byte
    s.originating_device = S.ORIG_ESI
    s.discard_pending("gas")
    z.meters[GAS[0]].used.clear()
    fwtest.run(s.top_up("gas", CS01B))
    frame = Zcl.build(FR.CLUSTER, FR.C2S, 0x00, 0x04, z.sent[1][2])
    assert bytes(frame) == bytes.fromhex("0100040014") + b"73950067887105178605"


def test_cs01b_success_response_decodes():
    from ihd.prepay import account as A
    from ihd.state import prepay as P
    from ihd.zigbee.zcl import clusters as CL
    from ihd.zigbee.zcl import frame as FR

    raw = bytes.fromhex("09000300D0121300 00C0AA7F01".replace(" ", ""))
    hdr = FR.Header().parse(raw)
    assert hdr.frame_type == FR.CLUSTER and hdr.direction == FR.S2C and hdr.cmd_id == 0x03
    args = CL.decode(CL.command(0x0705, CL.S2C, 0x03)[2], raw[hdr.payload_off :])
    r = A.decode_top_up_response(args, scale=0)
    assert r.code == P.ACCEPTED and r.ok()
    assert r.amount_mp == 1_250_000 and r.credit_mp == 25_144_000
    assert A.money_text(r.amount_mp) == "£12.50" and A.money_text(r.credit_mp) == "£251.44"
    assert r.source == 0x00 and r.text() == "Top-up accepted"


def test_error_response_form_and_result_types():
    from ihd.prepay import account as A
    from ihd.state import prepay as P

    err = {"result_type": 0x01, "top_up_value": 0xFFFFFFFF, "source_of_top_up": 0,
           "credit_remaining": 0xFFFFFFFF}  # fmt: skip
    r = A.decode_top_up_response(err)
    assert r.code == P.REJ_INVALID and r.amount_mp is None and r.credit_mp is None
    for rt, code in ((2, P.REJ_DUPLICATE), (3, P.REJ_ERROR), (4, P.REJ_MAX_CREDIT),
                     (5, P.REJ_KEYPAD_LOCK), (6, P.REJ_TOO_LARGE), (0x11, P.ACCEPTED),
                     (0x7F, P.REJ_ERROR)):  # fmt: skip
        err["result_type"] = rt
        assert A.decode_top_up_response(err).code == code
    assert P.message(P.REJ_DUPLICATE) == "Code already used"


# ---------------- top-up flow ----------------


def test_top_up_accepted_updates_model_and_masked_log():
    from ihd.state import model as M
    from ihd.state import prepay as P

    s, z, mdl, t, _, _ = _setup()
    assert fwtest.run(s.refresh("elec"))
    code = _code(1000)
    r = fwtest.run(s.top_up("elec", code[:4] + " " + code[4:]))  # spaces as on a receipt
    assert r.code == P.ACCEPTED and r.amount_mp == 1_000_000
    assert r.credit_mp == 3_000_000
    assert r.utrn == " ".join(code[i : i + 4] for i in range(0, 20, 4))
    assert mdl.view_prepay(M.FUEL_ELEC)[0] == 3_000_000
    assert mdl.elec.mode == M.MODE_PREPAY
    assert s.pending("elec") is None
    entry = s.top_up_log()[0]
    assert entry[1:4] == ("elec", 1_000_000, P.ACCEPTED)
    assert entry[4] == "**** **** **** **** " + code[-4:]
    assert code not in repr(s.top_up_log())


def test_duplicate_is_rejected_with_message():
    from ihd.state import prepay as P

    s, z, _, _, _, _ = _setup()
    code = _code(500)
    assert fwtest.run(s.top_up("elec", code)).code == P.ACCEPTED
    r = fwtest.run(s.top_up("elec", code))
    assert r.code == P.REJ_DUPLICATE and r.text() == "Code already used"
    assert not r.maybe_applied and r.credit_mp is None
    assert s.top_up_log()[0][3] == P.REJ_DUPLICATE


def test_mistyped_code_is_not_sent():
    from ihd.state import prepay as P

    s, z, _, _, _, _ = _setup()
    bad = CS01B[:5] + CS01B[6] + CS01B[5] + CS01B[7:]  # adjacent swap
    r = fwtest.run(s.top_up("gas", bad))
    assert r.code == P.BAD_CHECK and r.text() == "Code mistyped: check digits"
    assert fwtest.run(s.top_up("gas", CS01B[:19])).code == P.BAD_FORMAT
    assert z.sent == []


def test_no_answer_keeps_code_and_never_resends_by_itself():
    from ihd.state import prepay as P

    s, z, _, t, _, path = _setup()
    code = _code(2000)
    z.meters[ELEC[0]].silent = True
    r = fwtest.run(s.top_up("elec", code))
    assert r.code == P.NO_ANSWER and r.text() == "No answer: code kept, retry"
    assert len(z.sent) == 1 and z.sent[0][3]["retries"] == 0
    assert s.pending("elec") == code
    # the pending code survives a reboot
    s2 = PrepaySvc(z, path)
    assert s2.pending("elec") == code
    # the service's own refresh loop never re-sends it
    fwtest.run(s2.refresh("elec"))
    assert len(z.sent) == 1
    # the user asks again; the first attempt had in fact got through -> duplicate
    z.meters[ELEC[0]].silent = False
    z.meters[ELEC[0]].used.add(code)
    r = fwtest.run(s2.retry("elec"))
    assert len(z.sent) == 2
    assert r.code == P.REJ_DUPLICATE and r.maybe_applied
    assert s2.pending("elec") is None
    assert s2.ledger.rejects == 0  # not counted towards the lockout


def PrepaySvc(z, path):
    from ihd.meters.registry import Meter, Registry
    from ihd.prepay.service import PrepayService

    reg = Registry()
    reg.bind(Meter("elec", *ELEC))
    reg.bind(Meter("gas", *GAS))
    return PrepayService(z, reg, None, path)


def test_rejections_lock_entry_with_backoff_persisted():
    from ihd.state import prepay as P

    s, z, _, t, _, path = _setup()
    z.meters[ELEC[0]].result = 0x01  # meter says invalid (bad MAC)
    for i in range(2):
        r = fwtest.run(s.top_up("elec", _code(100 + i)))
        assert r.code == P.REJ_INVALID and r.lock_s == 0
    r = fwtest.run(s.top_up("elec", _code(200)))
    assert r.code == P.REJ_INVALID and r.lock_s == 60
    n = len(z.sent)
    r = fwtest.run(s.top_up("elec", _code(300)))
    assert r.code == P.LOCKED and r.lock_s == 60 and len(z.sent) == n
    # reboot: still locked
    s2 = PrepaySvc(z, path)
    assert s2.lock_remaining_s() == 60
    assert fwtest.run(s2.top_up("gas", CS01B)).code == P.LOCKED
    t[0] += 61
    # next round of 3 rejections doubles the lock (local check-digit failures count too)
    bad = CS01B[:19] + "0"
    for _ in range(3):
        r = fwtest.run(s2.top_up("gas", bad))
    assert r.code == P.BAD_CHECK and r.lock_s == 120
    t[0] += 121
    z.meters[ELEC[0]].result = None
    assert fwtest.run(s2.top_up("elec", _code(400))).code == P.ACCEPTED
    assert s2.ledger.lock_level == 0 and s2.lock_remaining_s() == 0


# ---------------- emergency credit ----------------


def test_emergency_credit_taken_when_available():
    from ihd.runtime import clock
    from ihd.state import prepay as P

    s, z, mdl, t, _, _ = _setup()
    m = z.meters[ELEC[0]]
    m.attrs[0x0001] = 100_000
    m.attrs[0x0003] = 0x02 | 0x04 | 0x08  # low, EC enabled + available
    fwtest.run(s.refresh("elec"))
    assert s.ec_offer("elec") == 500_000
    r = fwtest.run(s.select_emergency_credit("elec"))
    assert r.code == P.EC_SELECTED and r.ok() and r.ec_mp == 500_000
    node, cmd, payload, _ = z.sent[-1]
    assert cmd == 0x00
    t_b = clock.now()
    assert payload == bytes((t_b & 0xFF, (t_b >> 8) & 0xFF, (t_b >> 16) & 0xFF, t_b >> 24, 0x02))
    assert mdl.elec.ec_in_use and mdl.elec.ec_avail_mp == 500_000
    assert s.ec_offer("elec") is None


def test_emergency_credit_refused_when_not_available():
    from ihd.state import prepay as P

    s, z, _, _, _, _ = _setup()
    fwtest.run(s.refresh("gas"))
    r = fwtest.run(s.select_emergency_credit("gas"))
    assert r.code == P.EC_NOT_AVAILABLE and not r.ok()
    assert z.sent == []  # decided locally from CreditStatus
    # the meter says available but then denies: REFUSED with the status
    z.meters[GAS[0]].attrs[0x0003] = 0x0C
    fwtest.run(s.refresh("gas"))
    z.meters[GAS[0]].attrs[0x0003] = 0x04
    r = fwtest.run(s.select_emergency_credit("gas"))
    assert r.code == P.REFUSED and r.status == 0x93


# ---------------- alerts ----------------


def test_low_credit_alert_fires_once_per_crossing():
    from ihd.state import prepay as P

    s, z, mdl, t, buzz, _ = _setup()
    fwtest.run(s.refresh("elec"))  # £20, level £3
    from ihd.state.model import Changes

    seen = Changes(mdl)  # what a display loop sees
    for credit in (400_000, 310_000, 290_000, 200_000, 100_000, 280_000, 320_000):
        z.report(ELEC[0], ELEC[1], 0x0001, credit)
    assert buzz == [("elec", P.ALERT_LOW_CREDIT)]
    assert seen.alert and mdl.elec.low_credit is False  # 320k: no longer low, not re-armed
    assert s.alerts()[0][:2] == ("elec", P.ALERT_LOW_CREDIT)
    s.acknowledge("elec")
    assert s.alerts() == []
    seen.alert = False
    z.report(ELEC[0], ELEC[1], 0x0001, 290_000)  # within hysteresis: no new alert
    assert len(buzz) == 1 and not seen.alert and mdl.elec.low_credit
    z.report(ELEC[0], ELEC[1], 0x0001, 360_000)  # >= level + 50p: re-armed
    z.report(ELEC[0], ELEC[1], 0x0001, 250_000)
    assert buzz == [("elec", P.ALERT_LOW_CREDIT)] * 2 and seen.alert


def test_ec_in_use_alert_once():
    from ihd.state import prepay as P

    s, z, mdl, t, buzz, _ = _setup()
    fwtest.run(s.refresh("gas"))
    z.report(GAS[0], GAS[1], 0x0003, 0x24)
    z.report(GAS[0], GAS[1], 0x0003, 0x24)
    z.report(GAS[0], GAS[1], 0x0002, 450_000)
    assert buzz.count(("gas", P.ALERT_EC_IN_USE)) == 1
    assert mdl.gas.ec_in_use


def test_reports_from_unbound_source_ignored():
    s, z, mdl, t, buzz, _ = _setup()
    fwtest.run(s.refresh("elec"))
    z.report(0x9999, 1, 0x0001, 5)
    z.report(ELEC[0], 7, 0x0001, 5)  # right node, wrong endpoint
    assert s.account("elec").credit_mp() == 2_000_000 and buzz == []


# ---------------- scaling and mode ----------------


def test_scaling_gbcs_1e5_and_pence():
    from ihd.prepay import account as A
    from ihd.state import model as M

    for scale, raw in ((0, 25_144_000), (3, 25_144)):
        s, z, mdl, _, _, _ = _setup(scale=scale)
        z.meters[ELEC[0]].attrs[0x0001] = raw
        fwtest.run(s.refresh("elec"))
        assert s.account("elec").credit_mp() == 25_144_000
        assert A.money_text(mdl.view_prepay(M.FUEL_ELEC)[0]) == "£251.44"
        r = fwtest.run(s.top_up("elec", CS01B))
        assert r.amount_mp == 1_250_000 and r.credit_mp == 26_394_000
    assert A.to_mp(1250, 3) == 1_250_000 and A.to_mp(-5, 5) == -500_000


def test_mode_change_is_followed():
    from ihd.state import model as M
    from ihd.state import prepay as P

    s, z, mdl, _, _, _ = _setup()
    fwtest.run(s.refresh("elec"))
    assert mdl.prepay_mode() and s.prepayment_meters() == ["elec"]  # gas not read yet
    z.report(ELEC[0], ELEC[1], 0x0000, CREDIT_PCC)
    assert mdl.elec.mode == M.MODE_CREDIT
    assert fwtest.run(s.top_up("elec", CS01B)).code == P.NOT_PREPAY
    z.report(ELEC[0], ELEC[1], 0x0000, PREPAY_PCC)
    assert mdl.elec.mode == M.MODE_PREPAY


def test_debt_registers_and_accumulated_debt():
    s, z, mdl, _, _, _ = _setup()
    m = z.meters[ELEC[0]]
    m.attrs[0x0005] = 70_000
    fwtest.run(s.refresh("elec"))
    assert mdl.elec.debt_mp == 70_000
    m.attrs.update({0x0210: b"Gas arrears", 0x0211: 1_000_000, 0x0217: 20_000, 0x0216: 1,
                    0x0231: 500_000})  # fmt: skip
    fwtest.run(s.refresh("elec"))
    assert mdl.elec.debt_mp == 1_500_000
    assert s.account("elec").debts()[0] == ("Gas arrears", 1_000_000, 20_000, 1)


# ---------------- change of tenancy ----------------


T_COT = 100_500  # implementation time of the change in these tests (setup: now = 100_000)


def _old_and_new(s, t):
    # The previous occupant tops up both meters before T; the new one tops up the ESME after.
    fwtest.run(s.top_up("elec", _code(700)))  # 100_000
    fwtest.run(s.top_up("gas", CS01B))
    t[0] = T_COT + 100
    fwtest.run(s.top_up("elec", _code(800)))  # the new occupant's, after T


def test_top_up_log_cleared_before_t_only_per_bit():
    # Clear IHD Data - Consumer (0x200), Clear Transaction Log (0x2000) and Clear Prepayment Data
    # (0x4000) each clear the meter's top-up log made before T; what the new occupant did from T
    # on stays, so does the other meter's. Bits 7, 8, 10 (and none) leave the log alone.
    from ihd.state import utrn as U

    for bits in (0x0000, 0x0080, 0x0100, 0x0400, 0x1800, 0x0200, 0x2000, 0x4000, 0x6600):
        s, z, _, t, _, path = _setup()
        _old_and_new(s, t)
        s.tenancy_clearer("elec", bits, T_COT)
        got = [(e[1], e[4][-4:]) for e in s.top_up_log()]
        new = ("elec", U.mask(_code(800))[-4:])
        if bits & 0x6200:
            assert got == [new, ("gas", "8605")], (bits, got)
        else:
            assert len(got) == 3, (bits, got)
        assert [(e[1], e[4][-4:]) for e in PrepaySvc(z, path).top_up_log()] == got  # persisted


def test_clear_at_t_keeps_a_top_up_made_at_t():
    s, z, _, t, _, _ = _setup()
    fwtest.run(s.top_up("elec", _code(700)))
    s.tenancy_clearer("elec", 0x4000, 100_000)  # T = the second of that top-up
    assert len(s.top_up_log()) == 1
    s.tenancy_clearer("elec", 0x4000, 100_001)
    assert s.top_up_log() == []


def test_pending_code_cleared_only_if_entered_before_t():
    # A code left without an answer is the consumer's: 0x200 and 0x4000 drop it when it was
    # typed before T, never when typed after; the transaction log bit alone keeps it.
    for bits, dropped in ((0x2000, False), (0x0200, True), (0x4000, True)):
        s, z, _, t, _, path = _setup()
        z.meters[ELEC[0]].silent = True
        z.meters[GAS[0]].silent = True
        fwtest.run(s.top_up("elec", _code(900)))  # before T
        t[0] = T_COT + 10
        fwtest.run(s.top_up("gas", _code(901)))  # after T
        s.tenancy_clearer("elec", bits, T_COT)
        s.tenancy_clearer("gas", bits, T_COT)
        s2 = PrepaySvc(z, path)
        for svc in (s, s2):
            assert (svc.pending("elec") is None) == dropped, bits
            assert svc.pending("gas") == _code(901)


def test_lockout_cleared_only_when_earned_before_t():
    from ihd.state import prepay as P

    bad = CS01B[:19] + "0"
    s, z, _, t, _, path = _setup()
    for _ in range(3):
        fwtest.run(s.top_up("gas", bad))  # the previous occupant's: locked
    assert s.lock_remaining_s() == 60
    s.tenancy_clearer("gas", 0x2000 | 0x0200, T_COT)  # not prepayment data: the lock stays
    assert s.lock_remaining_s() == 60
    s.tenancy_clearer("gas", 0x4000, T_COT)
    assert s.lock_remaining_s() == 0 and PrepaySvc(z, path).lock_remaining_s() == 0
    t[0] = T_COT + 10  # the new occupant's rejections after T are kept
    for _ in range(3):
        r = fwtest.run(s.top_up("gas", bad))
    assert r.lock_s == 60
    s.tenancy_clearer("gas", 0x4000, T_COT)
    assert s.lock_remaining_s() == 60
    assert fwtest.run(s.top_up("elec", CS01B)).code == P.LOCKED


def test_alerts_before_t_cleared_and_re_armed():
    # The previous occupant's low-credit alert: gone from the list (0x200, 0x4000) and, with
    # prepayment data cleared, re-armed so that the new occupant hears it at the next crossing.
    from ihd.state import prepay as P

    s, z, mdl, t, buzz, path = _setup()
    fwtest.run(s.refresh("elec"))
    z.report(ELEC[0], ELEC[1], 0x0001, 200_000)  # low: alert, disarmed
    assert buzz == [("elec", P.ALERT_LOW_CREDIT)] and s.alerts()
    s.tenancy_clearer("elec", 0x2000, T_COT)  # transaction log only: the alert stays
    assert s.alerts()
    s.tenancy_clearer("elec", 0x0200, T_COT)
    assert s.alerts() == []
    t[0] = T_COT + 10
    z.report(ELEC[0], ELEC[1], 0x0001, 190_000)  # still low, not re-armed: no new alert
    assert len(buzz) == 1
    s.tenancy_clearer("elec", 0x4000, T_COT)
    assert PrepaySvc(z, path).ledger.armed("elec", P.ALERT_LOW_CREDIT)  # persisted
    z.meters[ELEC[0]].attrs[0x0001] = 180_000
    fwtest.run(s.refresh("elec"))  # the re-read the clear asked for: still low, alert
    assert buzz == [("elec", P.ALERT_LOW_CREDIT)] * 2
    # that one fired after T: the same clear (the watcher re-running) keeps it
    s.tenancy_clearer("elec", 0x4000 | 0x0200, T_COT)
    assert [a[:2] for a in s.alerts()] == [("elec", P.ALERT_LOW_CREDIT)]
    z.report(ELEC[0], ELEC[1], 0x0001, 170_000)
    assert len(buzz) == 2


def test_prepayment_data_bit_re_reads_the_account():
    s, z, mdl, t, _, _ = _setup()
    fwtest.run(s.refresh("elec"))
    assert s.account("elec").known()
    s._wake.clear()
    s.tenancy_clearer("elec", 0x0200, T_COT)
    assert s.account("elec").known() and s._wake.is_set()  # refreshed whatever the bits
    s.tenancy_clearer("elec", 0x4000, T_COT)
    assert not s.account("elec").known()  # the values as last heard are gone
    fwtest.run(s.refresh("elec"))
    assert s.account("elec").known()


def test_ledger_from_before_entry_times_loads():
    # A state file written before the entries carried times: it loads; its entries count as
    # made before any T.
    import json

    from ihd.prepay.ledger import Ledger
    from ihd.runtime import atomic

    s, z, _, t, _, path = _setup()
    old = {"rejects": 1, "lock_level": 0, "lock_until": 0, "pending": {"gas": CS01B},
           "log": [[99_000, "gas", 1, 0, "x"]], "disarmed": ["gas/low_credit"]}  # fmt: skip
    atomic.write(path, json.dumps(old).encode())
    led = Ledger(path)
    led.load()
    assert led.pending == {"gas": CS01B} and not led.armed("gas", "low_credit")
    s2 = PrepaySvc(z, path)
    s2.tenancy_clearer("gas", 0x4000, T_COT)
    led = Ledger(path)
    led.load()
    assert led.pending == {} and led.log == [] and led.armed("gas", "low_credit")
    assert led.rejects == 0


def test_clear_log_still_forgets_everything():
    s, z, _, t, _, path = _setup()
    _old_and_new(s, t)
    s.clear_log("elec")
    assert [e[1] for e in s.top_up_log()] == ["gas"]
    s.clear_log()
    assert s.top_up_log() == [] and PrepaySvc(z, path).top_up_log() == []


# ---------------- names and events ----------------


def test_attribute_ids_are_named_as_in_the_cluster_table():
    # clusters.PP_ATTR_<NAME> is the attribute the Prepayment table calls <name>; every
    # register of every debt is read and found through them.
    from ihd.zigbee.zcl import clusters as CL

    names = [n for n in dir(CL) if n.startswith("PP_ATTR_")]
    assert len(names) >= 16
    for n in names:
        assert CL.attr_name(CL.PREPAYMENT, getattr(CL, n)) == n[8:].lower(), n
    assert CL.attr_name(CL.PREPAYMENT, CL.PP_ATTR_DEBT_AMOUNT_1 + 2 * CL.PP_DEBT_STEP) == (
        "debt_amount_3"
    )
    s, z, _, _, _, _ = _setup()
    m = z.meters[ELEC[0]]
    for k in range(3):
        m.attrs.update({0x0210 + 0x10 * k: b"D%d" % k, 0x0211 + 0x10 * k: 100_000 * (k + 1),
                        0x0217 + 0x10 * k: 1000 * (k + 1), 0x0216 + 0x10 * k: k})  # fmt: skip
    fwtest.run(s.refresh("elec"))
    assert s.account("elec").debts() == [("D0", 100_000, 1000, 0), ("D1", 200_000, 2000, 1),
                                         ("D2", 300_000, 3000, 2)]  # fmt: skip


def test_alerts_are_emitted_on_the_alerted_signal():
    from ihd.state import prepay as P

    s, z, _, _, buzz, _ = _setup()
    got = []
    s.alerted.connect(got.append)
    fwtest.run(s.refresh("elec"))
    z.report(ELEC[0], ELEC[1], 0x0001, 100_000)
    z.report(ELEC[0], ELEC[1], 0x0001, 90_000)
    assert [a[:2] for a in got] == [("elec", P.ALERT_LOW_CREDIT)]
    assert buzz == [("elec", P.ALERT_LOW_CREDIT)] and got[0] == s.alerts()[0]


def test_result_codes_have_texts():
    from ihd.prepay import service as S
    from ihd.state import prepay as P

    codes = (P.ACCEPTED, P.REJ_INVALID, P.REJ_DUPLICATE, P.REJ_ERROR, P.REJ_MAX_CREDIT,
             P.REJ_KEYPAD_LOCK, P.REJ_TOO_LARGE, P.BAD_FORMAT, P.BAD_CHECK, P.NO_ANSWER,
             P.BAD_ANSWER, P.LOCKED, P.NO_METER, P.NOT_PREPAY, P.REFUSED, P.BUSY, P.EC_SELECTED,
             P.EC_NOT_AVAILABLE)  # fmt: skip
    assert len(set(codes)) == len(codes)
    assert all(P.message(c) != "Error" for c in codes) and P.message(0x7F) == "Error"
    assert P.ACCEPTED is P.ACCEPTED and P.message is P.message and S.ORIG_ESI == 0
    assert fwtest.raises(AttributeError, getattr, S, "NO_SUCH_NAME")
