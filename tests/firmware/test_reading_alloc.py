# fw: interp=unix64,unix32-frozen heapsize=1M
# Meter readings in small ints (a 32-bit port's small ints are < 2^30): register scaling exact
# for any uint48 x uint24 / uint24 (against plain big-int arithmetic), gas litres -> Wh with a
# carried remainder (no drift), costs to the 1e-5 GBP; and a reading folded into today's total
# and the open half-hour allocates nothing: the fold entry point (plain small ints), the raw
# uint48 as two halves, and the existing path from a decoded attribute value (register < 2^30);
# the export register (CurrentSummationReceived) the same way, in a home that exports.
# Closing a half-hour (history append; flash every 8) may allocate and is checked for values.
import fwtest
import powercut
from ihd.history.store import EXPORT
from ihd.history.view import HistoryView
from ihd.meters import units
from ihd.meters.registry import Meter, Registry
from ihd.meters.service import MeterService
from ihd.runtime import clock
from ihd.state import model as M
from ihd.ui import fmt

DAY = 86400
T0 = fmt.days_from_civil(2026, 1, 15) * DAY + 18 * 3600  # 18:00Z
RATE = 24500  # mp/kWh
STANDING = 53350
GAS_RATE = 6040


def _lcg(seed):
    x = [seed]

    def nxt(n):
        x[0] = (x[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return x[0] % n

    return nxt


def _ref_milli(raw, mult, div):
    num = raw * mult * 1000
    q = (abs(num) + div // 2) // div
    return -q if num < 0 else q


def test_scaling_is_exact_for_any_uint48_register():
    rnd = _lcg(7)
    cases = [
        (18000000, 1, 1000),  # an 18 MWh Wh register
        (1800000000, 1, 100000),  # the same in 0.01 Wh: raw >= 2^30
        (18000000000, 1, 1000000),  # in mWh: raw ~1.8e10 ("milli-Wh totals")
        ((1 << 48) - 1, 1, 1000000),
        ((1 << 48) - 1, 0xFFFFFF, 0xFFFFFF),  # result far beyond 2^30: big-int fallback
        (12345678, 3, 4),
        (999, 7, 3600),
        (1 << 30, 1, 1),
    ]
    for _ in range(300):
        raw = rnd(1 << 24) << 24 | rnd(1 << 24)
        if rnd(3) == 0:
            raw >>= rnd(40)
        mult = (1, 1, 3, 10, 7, rnd(1 << 24) + 1)[rnd(6)]
        div = (1, 10, 1000, 100000, 1000000, 3600, rnd(1 << 24) + 1)[rnd(7)]
        cases.append((raw, mult, div))
    for raw, mult, div in cases:
        f = units.Formatting(units.UNIT_KWH, mult, div)
        want = _ref_milli(raw, mult, div)
        assert units.scaled_milli(raw, f) == want, (raw, mult, div)
        assert units.milli_u48(raw >> 24, raw & 0xFFFFFF, f) == want, (raw, mult, div)
        if raw < 1 << 23:
            assert units.scaled_milli(-raw, f) == -want  # demand (int24) exports
    # wire bytes (ZCL little endian) -> halves
    raw = 18000000000
    b = bytes((raw >> (8 * i)) & 0xFF for i in range(6))
    assert (units.u24_le(b, 3) << 24 | units.u24_le(b, 0)) == raw


def test_ratio_remainder_and_cost_identities():
    rnd = _lcg(11)
    for _ in range(300):
        num = rnd(1 << 30) + 1
        den = (rnd(1 << 28) >> rnd(28)) + 1
        r = units.Ratio(num, den)
        x = rnd(1 << 24) << 24 | rnd(1 << 24)
        x >>= rnd(48)
        carry = rnd(r.den)
        q = r.scale(x >> 24, x & 0xFFFFFF, carry)
        assert r.num * den == num * r.den  # the reduced fraction is the same number
        assert q * r.den + r.rem == x * r.num + carry, (num, den, x, carry)
        assert 0 <= r.rem < r.den
    for wh in (0, 1, 999, 1000, 123456, 9999999, -1, -1001):
        for rate in (24500, 6040, 0, -1500, 999999, 5000000):
            assert units.cost_mp(wh, rate) == wh * rate // 1000, (wh, rate)


def test_gas_conversion_carries_its_remainder():
    st_ratio = units.gas_ratio(39500, 1022640)
    assert (st_ratio.num, st_ratio.den) == (336619, 30000)
    for cv, cf in ((39500, 1022640), (39480, 1022640), (39501, 1022640), (40123, 1000000)):
        r = units.gas_ratio(cv, cf)
        total = wh = rem = 0
        rnd = _lcg(cv)
        for _ in range(200):
            d = rnd(3000)
            total += d
            wh += r.scale(d >> 24, d & 0xFFFFFF, rem)
            rem = r.rem
            assert wh == total * cf * cv // 3600000000, (cv, cf, total)


class _Zcl:
    def on_report(self, cluster, fn):
        self.fn = fn

    def on_command(self, cluster, cmd_id, direction, fn):
        pass


class _Cfg:
    def get(self, k):
        return {"meter_poll_s": 10, "gas_poll_s": 1800}.get(k)


class _Frame:
    def __init__(self, node):
        self.node = node
        self.src_ep = 1
        self.secured = True


class _Readings:
    # Feeds the service 10 s readings; keeps the elec register in two halves itself (1.8e10
    # is a big int on a 32-bit port) and uses no closure (calling one with more than a few
    # free variables allocates).
    def __init__(self, svc, now, reg_mwh, inc_mwh, litres):
        self.svc = svc
        self.now = now
        self.hi = reg_mwh >> 24
        self.lo = reg_mwh & 0xFFFFFF
        self.inc = inc_mwh
        self.litres = litres

    x_hi = 0
    x_lo = 0

    def step(self):
        now = self.now
        now[0] += 10
        lo = self.lo + self.inc
        if lo >> 24:
            lo &= 0xFFFFFF
            self.hi += 1
        self.lo = lo
        self.svc.summation_u48(0, self.hi, lo, now[0])
        self.x_lo += 2345  # export register in mWh, well below 2^24 here
        self.svc.export_u48(self.x_hi, self.x_lo, now[0])
        self.litres += 37
        self.svc.fold(1, self.litres, now[0])


class _Records:
    # What zcl hands a records handler (foundation.Records): parallel arrays, a uint48 as
    # hi * 2^24 + lo.
    def __init__(self):
        self.n = 3
        self.attr = [0x0400, 0x0000, 0x0001]
        self.hi = [0, 0, 0]
        self.lo = [0, 0, 0]
        self.status = bytearray(3)

    def find(self, a):
        for i in range(self.n):
            if self.attr[i] == a:
                return i
        return -1

    def ok(self, i):
        return True

    def value(self, i):
        return self.hi[i] * 16777216 + self.lo[i]


def _service(now):
    _, store = powercut.boot(block_count=200)
    view = HistoryView(store)
    model = M.Model(now_fn=lambda: now[0])
    model.history_source = view
    reg = Registry()
    svc = MeterService(_Zcl(), reg, view, model, _Cfg())
    for name, node, fuel in (("elec", 0x1234, 0), ("gas", 0x2B7A, 1)):
        reg.bind(Meter(name, node, 1))
        svc.bind(reg.get(name), fuel, fuel)
    e, g = svc.states["elec"], svc.states["gas"]
    e.fmt = units.Formatting(units.UNIT_KWH, 1, 1000000)  # register in mWh
    e.set_rate(RATE)
    e.standing_mp_day = STANDING
    g.fmt = units.Formatting(units.UNIT_M3, 1, 1000)  # litres
    g.set_rate(GAS_RATE)
    g.standing_mp_day = 31430
    clock.set_source(lambda: now[0])
    return svc, view, model


def test_fold_in_the_open_half_hour_allocates_nothing():
    now = [T0 + 60]
    svc, view, model = _service(now)
    reg_mwh = 18000000000  # elec register in mWh (1.8e10: a big int on 32-bit)
    litres = 12000000  # gas register: 12000 m3
    svc.summation_u48(0, reg_mwh >> 24, reg_mwh & 0xFFFFFF, now[0])  # baselines
    svc.fold(1, litres, now[0])
    # the home exported at noon (a stored export half-hour: the view's export cache is used)
    view.append(EXPORT, T0 - 6 * 3600, 777, 0)
    svc.export_u48(0, 0, now[0])  # export baseline
    inc_mwh = 1234567  # 1.23 kWh between readings: sub-Wh parts carry in the register
    base = model.elec.today_wh
    r = _Readings(svc, now, reg_mwh, inc_mwh, litres)
    r.step()  # warm up: first use of every path
    with fwtest.HeapLocked():
        for _ in range(50):
            r.step()
    assert model.export_today_wh == 777 + (r.x_lo + 500) // 1000  # the exact sum, to the Wh
    reg_mwh = r.hi << 24 | r.lo
    litres = r.litres
    e_wh = (reg_mwh + 500) // 1000 - (18000000000 + 500) // 1000
    assert model.elec.today_wh == base + e_wh
    assert model.elec.today_cost_mp == e_wh * RATE // 1000 + STANDING
    g_wh = (litres - 12000000) * 1022640 * 39500 // 3600000000
    assert (
        model.gas.today_wh == g_wh and model.gas.today_cost_mp == g_wh * GAS_RATE // 1000 + 31430
    )
    # the existing path from decoded attribute values (Wh register < 2^30, demand)
    frame = _Frame(0x1234)
    wh_reg = 18000000
    svc.states["elec"].fmt = units.Formatting(units.UNIT_KWH, 1, 1000)
    svc._on_report(frame, 0x0000, wh_reg)  # lower than the mWh total: a new baseline
    now[0] += 10
    wh_reg += 3
    svc._on_report(frame, 0x0000, wh_reg)
    svc._on_report(frame, 0x0400, 2345)
    before = model.elec.today_wh
    with fwtest.HeapLocked():
        for _ in range(20):
            now[0] += 10
            wh_reg += 3
            svc._on_report(frame, 0x0000, wh_reg)
            svc._on_report(frame, 0x0400, 2345)
    assert model.elec.today_wh == before + 60 and model.elec.demand_w == 2345
    # the records path (a report or a poll decoded into foundation.Records): any register size
    svc.states["elec"].fmt = units.Formatting(units.UNIT_KWH, 1, 1000000)
    rec = _Records()
    rec.lo[0] = 1500000  # 1500 W in this meter's unit (mW)
    rec.hi[1], rec.lo[1] = 18000000000 >> 24, 18000000000 & 0xFFFFFF
    rec.hi[2], rec.lo[2] = 1, 5000000  # export register beyond 2^24 mWh: two halves
    svc._on_records(frame, rec)  # a new baseline (the register is in mWh again)
    before = model.elec.today_wh
    x_before = model.export_today_wh
    with fwtest.HeapLocked():
        for _ in range(20):
            now[0] += 10
            rec.lo[1] += 4321  # 4.321 Wh
            rec.lo[2] += 1999  # 1.999 Wh exported
            svc._on_records(frame, rec)
    assert (
        model.elec.today_wh == before + (20 * 4321 + 500) // 1000 and model.elec.demand_w == 1500
    )
    assert model.export_today_wh - x_before in (39, 40)  # 39.98 Wh, the register rounded
    assert now[0] < T0 + 1800  # all of it inside the open half-hour
    clock.set_source(None)


def test_half_hour_close_writes_exact_intervals():
    now = [T0 + 60]
    svc, view, model = _service(now)
    reg = 18000000000
    svc.summation_u48(0, reg >> 24, reg & 0xFFFFFF, now[0])
    start = reg
    for _ in range(400):  # 400 x 15 s: crosses three half-hour boundaries
        now[0] += 15
        reg += 987654
        svc.summation_u48(0, reg >> 24, reg & 0xFFFFFF, now[0])
    rows = view.history(0, M.P_DAY, now[0])
    closed = [r for r in rows if r[1] is not None]
    assert [r[0] for r in closed] == [T0, T0 + 1800, T0 + 3600]
    for r in closed:
        assert r[2] == r[1] * RATE // 1000  # to the 1e-5 GBP
    total_wh = (reg + 500) // 1000 - (start + 500) // 1000
    assert model.elec.today_wh == total_wh  # to the Wh: every delta counted once
    assert (
        model.elec.today_cost_mp
        == sum(r[2] for r in closed) + (svc.states["elec"].hh_wh * RATE // 1000) + STANDING
    )
    clock.set_source(None)
