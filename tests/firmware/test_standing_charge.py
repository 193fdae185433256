# fw: heapsize=1M
# One standing-charge rule (docs/meters.md "Standing charge"): a day's cost is its half-hours'
# energy costs plus that day's standing charge, once, for every fuel, on Home ("Today"), in
# the History day bars (8 days / 5 weeks / 13 months) and its "Today" total; half-hour bars
# are energy only. Checked through the real store + view + meters service, for electricity
# and gas, and for a day that a change of tenancy cuts (the case where electricity used to
# lose its standing charge while gas kept it).
import powercut
from ihd.history.view import HistoryView
from ihd.meters import units
from ihd.meters.registry import Meter, Registry
from ihd.meters.service import MeterService
from ihd.runtime import clock
from ihd.state import model as M
from ihd.ui import fmt

DAY = 86400
D0 = fmt.days_from_civil(2026, 1, 15) * DAY
HH = 1800
SC = (53350, 31430)  # standing charge mp/day: elec, gas
RATE = (24500, 6040)


class _Zcl:
    def on_report(self, cluster, fn):
        pass

    def on_command(self, cluster, cmd_id, direction, fn):
        pass


class _Cfg:
    def get(self, k):
        return {"meter_poll_s": 10, "gas_poll_s": 1800}.get(k)


def _service(now):
    clock.reset()
    clock.set_source(lambda: now[0])
    _, store = powercut.boot(block_count=200)
    view = HistoryView(store)
    model = M.Model(now_fn=lambda: now[0])
    model.history_source = view
    reg = Registry()
    svc = MeterService(_Zcl(), reg, view, model, _Cfg())
    for name, node, fuel in (("elec", 0x1234, 0), ("gas", 0x2B7A, 1)):
        reg.bind(Meter(name, node, 1))
        svc.bind(reg.get(name), fuel, fuel)
        st = svc.states[name]
        st.fmt = units.Formatting(units.UNIT_KWH, 1, 1000)
        st.set_rate(RATE[fuel])
        st.standing_mp_day = SC[fuel]
    clock.set_source(lambda: now[0])
    return svc, view, model


def _day_bar(model, fuel, day_start):
    for start, wh, cost in model.history(fuel, M.P_8D):
        if start - start % DAY == day_start:
            return wh, cost
    return None


def _check(svc, view, model, now, day_start, vf=0):
    for fuel in (0, 1):
        rows = [r for r in model.history(fuel, M.P_DAY) if r[1] is not None]
        energy_cost = sum(r[2] for r in rows)
        for r in rows:  # half-hours: energy only
            assert r[2] == r[1] * RATE[fuel] // 1000, r
        today = model.view_today(fuel)
        bar = _day_bar(model, fuel, day_start)
        # the open half-hour is empty (readings on the boundary): Home == the day bar
        assert today[1] == energy_cost + SC[fuel], (fuel, today, energy_cost)
        assert bar is not None and bar[1] == today[1] and bar[0] == today[0], (fuel, bar, today)


def test_every_day_cost_includes_its_standing_charge_once():
    now = [D0 + 60]
    svc, view, model = _service(now)
    reg = [1000000, 2000000]
    for i in range(1, 20):  # readings on half-hour boundaries: 19 closed half-hours
        now[0] = D0 + i * HH
        for fuel in (0, 1):
            reg[fuel] += 100 + 7 * i + fuel
            svc.fold(fuel, reg[fuel], now[0])
    _check(svc, view, model, now, D0)
    # yesterday's bar keeps its own standing charge once, also after the day has ended
    now[0] = D0 + DAY + 2 * HH
    for fuel in (0, 1):
        svc.fold(fuel, reg[fuel] + 50, now[0])
    for fuel in (0, 1):
        y = _day_bar(model, fuel, D0)
        hh = [r for r in view.store.today(fuel, D0 + 100) if r[4]]  # yesterday's half-hours
        assert len(hh) >= 18 and all(r[3] == r[2] * RATE[fuel] // 1000 for r in hh)
        assert y == (sum(r[2] for r in hh), sum(r[3] for r in hh) + SC[fuel]), (fuel, y)


def test_a_day_cut_by_a_change_of_tenancy_keeps_the_standing_charge_written_after_it():
    now = [D0 + 60]
    svc, view, model = _service(now)
    reg = [1000000, 2000000]
    t_cut = D0 + 10 * HH
    for i in range(1, 21):
        now[0] = D0 + i * HH
        if now[0] == t_cut + HH:  # the change of tenancy on elec, at T (a boundary)
            view.truncate(0, t_cut)
            svc.forget("elec")
            model.set_visible_from(0, t_cut)
            svc.states["elec"].fmt = units.Formatting(units.UNIT_KWH, 1, 1000)
        for fuel in (0, 1):
            reg[fuel] += 120 + fuel
            svc.fold(fuel, reg[fuel], now[0])
    _check(svc, view, model, now, D0)
    # only post-T half-hours of elec are in the day, with the day's standing charge once
    bar = _day_bar(model, 0, D0)
    post = [r for r in model.history(0, M.P_DAY) if r[1] is not None]
    assert post and min(r[0] for r in post) >= t_cut
    assert bar[1] == sum(r[2] for r in post) + SC[0]


def test_store_day_value_counts_the_standing_charge_after_visible_from():
    _, store = powercut.boot(block_count=200)
    d = D0 // DAY
    for i in range(10):
        store.append(0, D0 + i * HH, 100, 2450, standing_mp=50000)
    store.flush()
    assert store.day_value(0, d)[1] == 10 * 2450 + 50000
    assert store.truncate(0, D0 + 5 * HH)
    v = store.day_value(0, d)
    assert v[1] == 5 * 2450, v  # the old occupant's standing charge went with T
    store.append(0, D0 + 12 * HH, 100, 2450, standing_mp=60000)
    store.flush()
    v = store.day_value(0, d)
    assert v[1] == 6 * 2450 + 60000, v
