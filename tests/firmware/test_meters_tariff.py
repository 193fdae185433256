# fw: heapsize=1M
# Meters service and the change control bits (docs/tenancy.md "Control bits"), against a
# scripted meter: after a change of supplier the previous supplier's tariff is not used for any
# half-hour after T (cleared at T, its price refused while the meter still publishes it, the
# cost unknown until another arrives); Clear IHD Data - Supplier clears and re-reads it on a
# change of tenancy; a tariff read in flight across the change is discarded; messages before
# T go on 0x200 / 0x400; a failed ambient threshold read is retried with backoff.
import fwtest

PORTABLE = True

ELEC = (0x1234, 1)
HH = 1800
T0 = 400_000_000 - 400_000_000 % HH  # a half-hour boundary
T = T0 + HH + 600  # the change's implementation time, mid half-hour
# ids as the tables in zigbee/zcl/clusters.py name them (the fake meter's own view)
_METERING, _PRICE, _DM = 0x0702, 0x0700, 0x0708
_THR_LO, _THR_HI, _NAME = 0x0400, 0x0401, 0x0101


class Rsp:
    def __init__(self, node, ep, args):
        self.node, self.src_ep, self.args, self.secured = node, ep, args, True

    def default_status(self):
        return None


class FakeMeter:
    # An ESME in kWh (register in Wh), publishing one current price.
    def __init__(self):
        self.attrs = {
            _METERING: {0x0300: 0, 0x0301: 1, 0x0302: 1000, 0x0000: 5_000_000, 0x0400: 1500,
                        0x0207: 2},
            _PRICE: {0x0301: 60000},
            _DM: {_NAME: b"Octavia Energy"},
        }  # fmt: skip
        self.price = self.publish(24500, provider=1, eid=1000)
        self.silent = set()  # clusters that do not answer
        self.reads = []  # (cluster, ids) of the Device Management reads
        self.during_read = None  # fn() run while a read is in flight (a change applied)

    @staticmethod
    def publish(price, provider, eid):
        return {"provider_id": provider, "issuer_event_id": eid, "rate_label": b"Standard",
                "trailing_digit_and_tier": 0x51, "price": price,
                "start_time": 0, "duration_min": 0xFFFF}  # fmt: skip


class FakeZcl:
    def __init__(self, meter):
        self.m = meter

    def on_report(self, cluster, fn):
        pass

    def on_command(self, cluster, cmd_id, direction, fn):
        pass

    async def send(self, node, ep, cluster, cmd_id, payload=b"", **kw):
        return True  # GetScheduledPrices: this meter publishes no next price

    async def command(self, node, ep, cluster, cmd_id, values=None, rsp_cmd=None, **kw):
        if cluster in self.m.silent or self.m.price is None:
            return None
        return Rsp(node, ep, dict(self.m.price))

    async def read_attributes(self, node, ep, cluster, ids, **kw):
        m = self.m
        if cluster == _DM:
            m.reads.append((cluster, tuple(ids)))
        fn, m.during_read = m.during_read, None
        if fn is not None:
            fn()
        if cluster in m.silent:
            return None
        d = m.attrs.get(cluster, {})
        return {a: d[a] for a in ids if a in d}


class FakeHistory:
    def __init__(self):
        self.rows = []  # (meter, start, wh, cost, standing)
        self.vf = {0: 0, 1: 0}

    def append(self, meter, t, wh, cost, standing=None):
        self.rows.append((meter, t, wh, cost, standing))

    def visible_from(self, meter):
        return self.vf[meter]

    def truncate(self, meter, t):
        self.vf[meter] = t
        self.rows = [r for r in self.rows if r[0] != meter or r[1] >= t]

    def today(self, meter, t):
        day = t - t % 86400
        return [(r[1], r[1] + HH, r[2], r[3], 1) for r in self.rows
                if r[0] == meter and r[1] >= max(day, self.vf[meter])]  # fmt: skip


class _Cfg:
    def get(self, k):
        return {"meter_poll_s": 10, "gas_poll_s": 1800}.get(k)


def _setup():
    from ihd.meters.registry import Meter, Registry
    from ihd.meters.service import MeterService
    from ihd.runtime import clock
    from ihd.state import model as M

    clock.reset()
    t = [T0 + 10]
    clock.set_source(lambda: t[0])
    meter = FakeMeter()
    reg = Registry()
    reg.bind(Meter("elec", *ELEC))
    hist = FakeHistory()
    mdl = M.Model(now_fn=lambda: t[0])
    svc = MeterService(FakeZcl(meter), reg, hist, mdl, _Cfg())
    svc.bind(reg.get("elec"), M.FUEL_ELEC, M.FUEL_ELEC)
    return svc, meter, hist, mdl, t


def _poll(svc, meter, t, to, step=60, wh_per_step=60):
    # Readings every `step` s up to time `to`, the register growing wh_per_step each.
    st = svc.states["elec"]
    while t[0] < to:
        t[0] = min(to, t[0] + step)
        meter.attrs[_METERING][0x0000] += wh_per_step
        assert fwtest.run(svc.poll(st))


def _event(kind, control, t=T, name="Brightwater", eid=853326000):
    from ihd.tenancy.core import Event

    ev = Event(kind, "elec", 301, eid, t, control, "command")
    ev.t = t  # the effective T, as the watcher's on_event sets it
    if kind == "cos":
        ev.proposed_provider_id = 302
        ev.proposed_name = name
    return ev


def _apply(svc, hist, mdl, ev):
    # What the watcher's apply() does for the meters service: truncate, `clearing`, forget,
    # visible_from.
    hist.truncate(0, ev.impl_time)
    svc.tenancy_clearer(ev)
    svc.forget(ev.meter)
    mdl.set_visible_from(0, ev.impl_time)


def _costs(hist, since):
    return [(r[1], r[3], r[4]) for r in hist.rows if r[1] >= since]


def test_change_of_supplier_old_tariff_never_costs_after_t():
    svc, meter, hist, mdl, t = _setup()
    st = svc.states["elec"]
    _poll(svc, meter, t, T - 5)
    assert st.unit_rate_mp_kwh == 24500 and mdl.elec.unit_rate_mp_kwh == 24500
    assert mdl.supplier == "Octavia Energy"
    first = hist.rows[0]
    assert first[1] == T0 and first[3] == first[2] * 24500 // 1000 > 0  # costed before T
    t[0] = T
    _apply(svc, hist, mdl, _event("cos", 0))  # no bits: a change of supplier all the same
    assert st.unit_rate_mp_kwh is None and st.standing_mp_day is None
    f = mdl.elec
    assert f.unit_rate_mp_kwh is None and f.standing_mp_day is None and f.tier is None
    assert mdl.supplier == "Brightwater"  # the proposed supplier's name, from the event
    # The meter still publishes the previous supplier's price and name: neither is used.
    _poll(svc, meter, t, T0 + 3 * HH + 60)
    assert st.unit_rate_mp_kwh is None and mdl.elec.unit_rate_mp_kwh is None
    assert svc.c.get("old_prices") >= 1 and svc.c.get("tariffs_cleared") == 1
    assert mdl.supplier == "Brightwater"
    after = _costs(hist, T)
    assert after and all(c == 0 and sc is None for _s, c, sc in after), after
    today = mdl.view_today(0)
    assert today is not None and today[0] > 0 and today[1] is None  # cost unknown, not £0.00
    # The new supplier's price (another issuer event id) is used from when it is read.
    meter.price = meter.publish(30000, provider=302, eid=2000)
    t[0] += 3600  # the tariff cadence
    _poll(svc, meter, t, t[0] + HH)
    assert st.unit_rate_mp_kwh == 30000 and mdl.elec.unit_rate_mp_kwh == 30000
    assert mdl.view_today(0)[1] is not None
    assert mdl.supplier == "Brightwater"  # the ESME's name is still the previous one's
    last = hist.rows[-1]
    assert last[3] == last[2] * 30000 // 1000 and last[3] > 0
    meter.attrs[_DM][_NAME] = b"Brightwater Energy"
    t[0] += 3600
    _poll(svc, meter, t, t[0] + 20)
    assert mdl.supplier == "Brightwater Energy"


def test_cot_keeps_the_tariff_unless_clear_supplier_data():
    svc, meter, hist, mdl, t = _setup()
    st = svc.states["elec"]
    _poll(svc, meter, t, T - 5)
    t[0] = T
    for bits in (0, 0x0080, 0x0100, 0x0200, 0x2000, 0x4000):
        _apply(svc, hist, mdl, _event("cot", bits))
        assert st.unit_rate_mp_kwh == 24500 and mdl.elec.unit_rate_mp_kwh == 24500, bits
        assert mdl.supplier == "Octavia Energy"
    _apply(svc, hist, mdl, _event("cot", 0x0400))  # Clear IHD Data - Supplier
    assert st.unit_rate_mp_kwh is None and mdl.elec.unit_rate_mp_kwh is None
    assert mdl.supplier is None and mdl.elec.cost_unknown
    # the same supplier: its price is read again at once and used
    _poll(svc, meter, t, T + 20)
    assert st.unit_rate_mp_kwh == 24500 and mdl.supplier == "Octavia Energy"
    assert svc.c.get("old_prices") == 0


def test_tariff_read_in_flight_across_the_change_is_discarded():
    svc, meter, hist, mdl, t = _setup()
    st = svc.states["elec"]
    _poll(svc, meter, t, T0 + 30)
    t[0] = T

    def change():  # applied while the standing charge read of the tariff is in flight
        _apply(svc, hist, mdl, _event("cos", 0))

    meter.during_read = change
    fwtest.run(svc._read_tariff(st))
    assert meter.during_read is None  # it ran
    assert st.unit_rate_mp_kwh is None and mdl.elec.unit_rate_mp_kwh is None
    assert mdl.supplier == "Brightwater" and svc.c.get("discarded") == 1


def test_failed_threshold_read_is_retried_with_backoff():
    from ihd.state import model as M

    svc, meter, hist, mdl, t = _setup()
    st = svc.states["elec"]

    def thr_reads():
        return len([r for r in meter.reads if r == (_DM, (_THR_LO, _THR_HI))])

    _poll(svc, meter, t, T0 + 20)  # the meter holds no thresholds: its own indicator is used
    assert thr_reads() == 1 and st.thresholds is None and mdl.ambient == M.AMBIENT_HIGH
    assert svc.c.get("threshold_failures") == 1
    _poll(svc, meter, t, T0 + 60)
    assert thr_reads() == 1  # not before the backoff
    _poll(svc, meter, t, T0 + 80)
    assert thr_reads() == 2  # 60 s later: asked again, still none; next in 120 s
    _poll(svc, meter, t, T0 + 190)
    assert thr_reads() == 2
    meter.attrs[_DM].update({_THR_LO: 1000, _THR_HI: 2000})  # set by the supplier meanwhile
    _poll(svc, meter, t, T0 + 210)
    assert thr_reads() == 3 and st.thresholds == (1000, 2000)
    assert mdl.ambient == M.AMBIENT_MEDIUM  # 1500 W from the thresholds, not the meter's "high"
    _poll(svc, meter, t, T0 + 400)
    assert thr_reads() == 3  # read once


def test_threshold_retry_survives_no_answer_bad_values_and_a_clock_jump_back():
    svc, meter, hist, mdl, t = _setup()
    st = svc.states["elec"]
    meter.attrs[_DM].update({_THR_LO: 3000, _THR_HI: 2000})  # low above high: unusable
    _poll(svc, meter, t, T0 + 20)
    assert st.thresholds is None and svc.c.get("bad_values") == 1
    for _ in range(12):  # backoff grows to once an hour, never gives up
        t[0] = st.thr_next_utc
        _poll(svc, meter, t, t[0] + 10)
    assert st.thr_backoff_s == 3600 and st.thresholds is None
    n = svc.c.get("threshold_failures")
    t[0] -= 86400 * 365  # the clock went back a year: the deadline is not waited for
    meter.attrs[_DM].update({_THR_LO: 1000})
    _poll(svc, meter, t, t[0] + 10)
    assert st.thresholds == (1000, 2000) and svc.c.get("threshold_failures") == n
    # a change of tenancy re-reads them at once
    meter.silent.add(_DM)
    _apply(svc, hist, mdl, _event("cot", 0, t=t[0]))
    _poll(svc, meter, t, t[0] + 10)
    assert st.thresholds is None and st.thr_backoff_s == 60  # no answer: retried as well
