# fw: heapsize=1M
# Meters service and time-of-use / block tariffs (docs/meters.md "Time-of-use and block
# tariffs"), against a scripted ESME: each half-hour is costed at the price in force during it
# (a change at 05:30 or 00:30: the half-hour before at the old price though it closes after the
# change), the next price and when it starts reach the Model (GetScheduledPrices), a pushed
# PublishPrice is taken from the bound meter only, a hostile one counted and refused, and a
# block tariff's half-hour that crosses a threshold is split at it.
import fwtest

PORTABLE = True

ELEC = (0x1234, 1)
HH = 1800
DAY = 400_000_000 - 400_000_000 % 86400  # a UTC midnight
_METERING, _PRICE, _DM = 0x0702, 0x0700, 0x0708


class Frame:
    def __init__(self, node, ep, args=None, secured=True):
        self.node, self.src_ep, self.args, self.secured = node, ep, args, secured

    def default_status(self):
        return None


def publish(start, dur_min, price, tier, label, eid, provider=1):
    return {"provider_id": provider, "issuer_event_id": eid, "rate_label": label.encode(),
            "trailing_digit_and_tier": 0x50 | tier, "price": price, "start_time": start,
            "duration_min": dur_min}  # fmt: skip


class Meter:
    # An ESME in kWh (register in Wh) with a daily schedule [(start_s, dur_min, price, tier,
    # label)] from DAY; answers GetCurrentPrice with the period in force and GetScheduledPrices
    # with the ones after it.
    def __init__(self, schedule, t):
        self.schedule = schedule
        self.t = t
        self.attrs = {
            _METERING: {0x0300: 0, 0x0301: 1, 0x0302: 1000, 0x0000: 5_000_000, 0x0400: 1500},
            _PRICE: {0x0301: 50000},
            _DM: {0x0101: b"Octavia Energy"},
        }
        self.scheduled_asks = 0

    def events(self):
        out = []
        for day in (DAY - 86400, DAY, DAY + 86400):
            for i, (s, d, p, tier, label) in enumerate(self.schedule):
                out.append(publish(day + s, d, p, tier, label, day // 86400 * 10 + i))
        return out

    def current(self):
        now = self.t[0]
        for e in self.events():
            if e["start_time"] <= now < e["start_time"] + e["duration_min"] * 60:
                return e
        return None

    def after(self, t, n):
        return [e for e in self.events() if e["start_time"] > t][:n]


class Zcl:
    def __init__(self, meter):
        self.m = meter
        self.handlers = {}

    def on_report(self, cluster, fn):
        pass

    def on_command(self, cluster, cmd_id, direction, fn):
        self.handlers[(cluster, cmd_id)] = fn

    async def command(self, node, ep, cluster, cmd_id, values=None, rsp_cmd=None, **kw):
        e = self.m.current()
        return Frame(node, ep, dict(e)) if e else None

    async def send(self, node, ep, cluster, cmd_id, payload=b"", **kw):
        import struct

        assert cluster == _PRICE and cmd_id == 0x01  # GetScheduledPrices
        self.m.scheduled_asks += 1
        t, n = struct.unpack("<IB", payload)
        for e in self.m.after(t, n):  # each answered as a PublishPrice
            self.push(e)
        return True

    def push(self, args, node=ELEC[0], ep=ELEC[1], secured=True, cmd=0x00):
        return self.handlers[(_PRICE, cmd)](Frame(node, ep, args, secured), args)

    async def read_attributes(self, node, ep, cluster, ids, **kw):
        d = self.m.attrs.get(cluster, {})
        return {a: d[a] for a in ids if a in d}


class History:
    def __init__(self):
        self.rows = []

    def append(self, meter, t, wh, cost, standing=None):
        self.rows.append((t, wh, cost, standing))

    def visible_from(self, meter):
        return 0

    def today(self, meter, t):
        day = t - t % 86400
        return [(r[0], r[0] + HH, r[1], r[2], 1) for r in self.rows if r[0] >= day]


class Cfg:
    def get(self, k):
        return {"meter_poll_s": 10, "gas_poll_s": 1800}.get(k)


def _setup(schedule, start):
    from ihd.meters.registry import Meter as RM
    from ihd.meters.registry import Registry
    from ihd.meters.service import MeterService
    from ihd.runtime import clock
    from ihd.state import model as M

    clock.reset()
    t = [start]
    clock.set_source(lambda: t[0])
    meter = Meter(schedule, t)
    reg = Registry()
    reg.bind(RM("elec", *ELEC))
    hist = History()
    mdl = M.Model(now_fn=lambda: t[0])
    zcl = Zcl(meter)
    svc = MeterService(zcl, reg, hist, mdl, Cfg())
    svc.bind(reg.get("elec"), M.FUEL_ELEC, M.FUEL_ELEC)
    return svc, meter, zcl, hist, mdl, t


def _run(svc, meter, t, to, step=60, wh=10):
    st = svc.states["elec"]
    while t[0] < to:
        t[0] = min(to, t[0] + step)
        meter.attrs[_METERING][0x0000] += wh
        assert fwtest.run(svc.poll(st))


def _check_change_at(hh_min, old, new):
    # day rate until hh:mm, night after (or the reverse): the half-hour before the change is
    # closed after it (at the first reading past it) and still costed at the old price
    ch = hh_min * 60
    sched = [(0, ch // 60, old, 1, "Before"), (ch, (86400 - ch) // 60, new, 2, "After")]
    svc, meter, zcl, hist, mdl, t = _setup(sched, DAY + ch - 2 * HH + 5)
    _run(svc, meter, t, DAY + ch + HH + 30)
    f = mdl.elec
    rows = {r[0]: r for r in hist.rows}
    before, after = rows[DAY + ch - HH], rows[DAY + ch]
    assert before[1] == 300 and before[2] == 300 * old // 1000, before
    assert after[1] == 300 and after[2] == 300 * new // 1000, after
    assert f.unit_rate_mp_kwh == new and f.tier == 2 and f.tier_label == "After"
    return svc, mdl


def test_a_price_change_at_0530_and_0030_costs_each_half_hour_at_its_price():
    for hh_min, old, new in ((5 * 60 + 30, 28000, 9000), (30, 27000, 7500)):
        _check_change_at(hh_min, old, new)


def test_next_rate_and_when_it_starts_reach_the_model():
    night, day = 8000, 30000
    sched = [(30 * 60, 7 * 60, night, 1, "Night"), (7 * 3600 + 1800, 17 * 60, day, 2, "Day")]
    sched.append((0, 30, day, 2, "Day"))
    sched.sort()
    svc, meter, zcl, hist, mdl, t = _setup(sched, DAY + 3 * 3600)
    _run(svc, meter, t, DAY + 3 * 3600 + 120)
    f = mdl.elec
    assert f.unit_rate_mp_kwh == night and f.tier_label == "Night"
    assert f.next_rate_mp_kwh == day and f.next_rate_utc == DAY + 7 * 3600 + 1800
    assert meter.scheduled_asks >= 1
    st = svc.states["elec"]
    assert len(st.prices.ev) <= 4
    # at the change the next price goes in force, and the meter is asked again
    asks = meter.scheduled_asks
    _run(svc, meter, t, DAY + 7 * 3600 + 1800 + 30, step=600)
    assert f.unit_rate_mp_kwh == day and f.tier_label == "Day"
    assert f.next_rate_mp_kwh == night and f.next_rate_utc == DAY + 86400 + 1800
    assert meter.scheduled_asks > asks


def test_pushed_price_from_the_bound_meter_only():
    from ihd.zigbee.zcl import foundation as F

    sched = [(0, 24 * 60, 20000, 1, "Standard")]
    svc, meter, zcl, hist, mdl, t = _setup(sched, DAY + 3600)
    _run(svc, meter, t, DAY + 3600 + 60)
    assert mdl.elec.unit_rate_mp_kwh == 20000
    new = publish(DAY + 3600 + 1800, 60, 35000, 3, "Peak", 999)
    assert zcl.push(new, node=0x6666) == F.NOT_AUTHORIZED  # not a bound meter
    assert zcl.push(new, secured=False) == F.NOT_AUTHORIZED  # not APS-encrypted
    assert svc.c.get("foreign_prices") == 2 and mdl.elec.next_rate_mp_kwh is None
    assert zcl.push(new) is None
    assert mdl.elec.next_rate_mp_kwh == 35000 and mdl.elec.next_rate_utc == DAY + 5400
    # hostile values: counted, never taken
    for bad in (publish(DAY, 60, 0xFFFFFFFF, 1, "x", 5), publish(DAY, 0, 100, 1, "x", 6),
                publish(0xFFFFFFFE, 60, 100, 1, "x", 7)):  # fmt: skip
        assert zcl.push(bad) is None
    assert svc.c.get("bad_prices") == 3
    for i in range(20):  # a flood of future prices: the list stays bounded
        zcl.push(publish(DAY + 86400 * (i + 2), 30, 100 + i, 1, "f", 100 + i))
    assert len(svc.states["elec"].prices.ev) <= 4
    assert mdl.elec.next_rate_mp_kwh == 35000  # the nearest kept
    _run(svc, meter, t, DAY + 5400 + 30)
    assert mdl.elec.unit_rate_mp_kwh == 35000 and mdl.elec.tier_label == "Peak"
    row = [r for r in hist.rows if r[0] == DAY + 3600][0]
    assert row[2] == row[1] * 20000 // 1000  # closed after the change, costed before it


def test_block_tariff_splits_the_half_hour_crossing_a_threshold():
    sched = [(0, 24 * 60, 20000, 1, "Block")]
    svc, meter, zcl, hist, mdl, t = _setup(sched, DAY + 60)
    p = meter.attrs[_PRICE]
    # thresholds in kWh x 1/1000 (the meter's formatting): 1 kWh, 2 kWh; a daily period
    p.update({0x0100: 1000, 0x0101: 2000, 0x0200: DAY, 0x0201: 1, 0x0204: 0x01,
              0x0400: 10000, 0x0401: 20000, 0x0402: 40000})  # fmt: skip
    _run(svc, meter, t, DAY + 4 * HH + 30, wh=30)  # 900 Wh per half-hour
    st = svc.states["elec"]
    assert st.blocks is not None and st.blocks.th == (1000, 2000)
    costs = [r[2] for r in hist.rows]
    whs = [r[1] for r in hist.rows]
    assert whs[:3] == [840, 900, 900], whs  # the first reading is the baseline
    assert costs[0] == 840 * 10000 // 1000
    # 160 Wh to the first threshold at block 1, 740 at block 2
    assert costs[1] == 160 * 10000 // 1000 + 740 * 20000 // 1000
    assert costs[2] == 260 * 20000 // 1000 + 640 * 40000 // 1000
    assert mdl.elec.unit_rate_mp_kwh == 40000  # block 3 now
    # the block attributes unanswered once (a noisy link): the block tariff held is kept
    real = zcl.read_attributes

    async def lost(node, ep, cluster, ids, **kw):
        return None if cluster == _PRICE else await real(node, ep, cluster, ids, **kw)

    zcl.read_attributes = lost
    fwtest.run(svc._read_blocks(st, 5))
    zcl.read_attributes = real
    assert st.blocks is not None and st.blocks.th == (1000, 2000)
    # a new block period (PublishBlockPeriod) starts again from block 1
    zcl.push({"provider_id": 1, "issuer_event_id": 9, "block_period_start_time": t[0] - t[0] % HH,
              "block_period_duration": 1, "block_period_control": 0,
              "block_period_duration_type": 0x01, "tariff_type": 0,
              "tariff_resolution_period": 0}, cmd=0x01)  # fmt: skip
    assert st.blocks.used_wh == 0


def test_after_a_change_of_supplier_the_old_suppliers_next_periods_are_refused():
    # Time-of-use: every period has its own issuer event id, so the previous supplier's next
    # period (its provider id) is refused too, until the proposed supplier's price arrives.
    from ihd.tenancy.core import Event

    sched = [(0, 12 * 60, 20000, 1, "Day"), (12 * 3600, 12 * 60, 10000, 2, "Evening")]
    svc, meter, zcl, hist, mdl, t = _setup(sched, DAY + 3600)
    _run(svc, meter, t, DAY + 3600 + 60)
    assert mdl.elec.unit_rate_mp_kwh == 20000 and mdl.elec.next_rate_mp_kwh == 10000
    ev = Event("cos", "elec", 1, 77, t[0], 0, "command")
    ev.t = t[0]
    ev.proposed_provider_id = 302
    ev.proposed_name = "Brightwater"
    svc.tenancy_clearer(ev)
    svc.forget("elec")
    assert mdl.elec.unit_rate_mp_kwh is None and mdl.elec.next_rate_mp_kwh is None
    assert zcl.push(publish(DAY + 12 * 3600, 720, 10000, 2, "Evening", 4242)) is None
    _run(svc, meter, t, DAY + 2 * 3600 + 600, step=600)  # asked again an hour later: still old
    st = svc.states["elec"]
    assert st.prices.ev == [] and mdl.elec.unit_rate_mp_kwh is None
    assert svc.c.get("old_prices") >= 2
    assert zcl.push(publish(DAY + 3600, 600, 27000, 1, "Standard", 1, provider=302)) is None
    assert mdl.elec.unit_rate_mp_kwh == 27000
