# fw: heapsize=2M timeout=600 interp=unix64,unix32-frozen
# History from the meter (meters/backfill.py) against a scripted ESME on a real history store:
# a device's first reading fills the half-hour ring from GetProfile pages (bounded requests,
# real readings kept); a hostile meter (pre-T intervals, an end time in the future, more periods
# than asked, a short payload, a foreign sender) never writes before visible_from nor after
# what was asked; status codes end the gap or halve the page; no answer backs off; a meter
# without GetProfile gives day totals for whole missing GMT days; a long outage's measured
# energy not accounted for by the meter is one record at the gap's end.
import struct

import fwtest
import powercut

ELEC = (0x1234, 1)
HH = 1800
DAY = 86400
T_NOW = 822_000_000 - 822_000_000 % DAY + 6 * 3600 + 600  # 2026-01-17T06:10Z (GMT)
_METERING = 0x0702


def wh_at(t):
    # the scripted meter's consumption in the half-hour starting at t
    return 100 + (t // HH) % 37


class Frame:
    def __init__(self, payload, node=ELEC[0], ep=ELEC[1], default=None):
        self.payload = payload
        self.node, self.src_ep, self.secured, self.cluster = node, ep, True, _METERING
        self.eui64 = None
        self._default = default

    def default_status(self):
        return self._default


class Meter:
    # GetProfile served from wh_at; `mode` scripts misbehaviour.
    def __init__(self):
        self.mode = "ok"
        self.asked = []  # (end_time, periods)
        self.oldest = 0  # no intervals before this
        self.attrs = {0x0300: 0, 0x0301: 1, 0x0302: 1000, 0x0000: 5_000_000, 0x0400: 500}
        self.day_reads = 0

    def profile(self, end, n):
        self.asked.append((end, n))
        m = self.mode
        if m == "silent":
            return None
        if m == "unsup":
            return Frame(b"\x00\x81", default=0x81)
        if m == "foreign":
            return Frame(self._rsp(end, n), node=0x9999)
        if m == "too_many" and n > 6:
            return Frame(struct.pack("<IBBB", end, 4, 2, 0))
        if m == "hostile":
            end, n = end + 4 * HH, n + 5  # in the future, more than asked, from before T
        if m == "short":
            return Frame(self._rsp(end, n)[:-2])
        if m == "quarter":
            return Frame(struct.pack("<IBBB", end, 0, 3, 1) + b"\x01\x00\x00")
        return Frame(self._rsp(end, n))

    def _rsp(self, end, n):
        k = 0
        out = b""
        while k < n and end - (k + 1) * HH >= self.oldest:
            out += struct.pack("<I", wh_at(end - (k + 1) * HH))[:3]
            k += 1
        if k == 0:
            return struct.pack("<IBBB", end, 5, 2, 0)
        return struct.pack("<IBBB", end, 0, 2, k) + out


class Zcl:
    def __init__(self, meter):
        self.m = meter

    def on_report(self, cluster, fn):
        pass

    def on_command(self, cluster, cmd_id, direction, fn):
        pass  # pushed prices: none here

    async def request(self, node, ep, cluster, cmd_id, payload=b"", **kw):
        assert cluster == _METERING and cmd_id == 0x00 and len(payload) == 6
        ch, end, n = struct.unpack("<BIB", payload)
        assert ch == 0 and 1 <= n <= 24
        return self.m.profile(end, n)

    async def command(self, *a, **kw):
        return None

    async def read_attributes(self, node, ep, cluster, ids, **kw):
        if cluster != _METERING:
            return None
        out = {}
        for a in ids:
            if a == 0x045C:
                out[a] = 0
            elif a == 0x0403 or 0x0420 <= a <= 0x042C:
                self.m.day_reads += 1
                back = 1 if a == 0x0403 else 2 + (a - 0x0420) // 2
                ds = (T_NOW // DAY - back) * DAY
                out[a] = sum(wh_at(ds + i * HH) for i in range(48))
            elif a in self.m.attrs:
                out[a] = self.m.attrs[a]
        return out


class _Cfg:
    def get(self, k):
        return {"meter_poll_s": 10, "gas_poll_s": 1800}.get(k)


def _setup(image=None):
    from ihd.history.view import HistoryView
    from ihd.meters.registry import Meter as RM
    from ihd.meters.registry import Registry
    from ihd.meters.service import MeterService
    from ihd.runtime import clock
    from ihd.state import model as M

    clock.reset()
    t = [T_NOW]
    clock.set_source(lambda: t[0])
    dev, store = powercut.boot(image, block_count=192)
    view = HistoryView(store)
    meter = Meter()
    reg = Registry()
    reg.bind(RM("elec", *ELEC))
    mdl = M.Model(now_fn=lambda: t[0])
    svc = MeterService(Zcl(meter), reg, view, mdl, _Cfg())
    svc.bind(reg.get("elec"), M.FUEL_ELEC, M.FUEL_ELEC)
    st = svc.states["elec"]
    st.set_rate(24500)  # one flat price for all time
    return svc, meter, store, st, t, dev


def _steps(svc, n=40):
    from ihd.runtime import clock

    for _ in range(n):
        fwtest.run(svc.backfill.step(clock.deadline(3600)))


def _hh(store, lo, hi):
    # {start: wh} of the stored half-hours in [lo, hi)
    return {r[1]: r[2] for r in store.dump(0) if r[0] == "hh" and lo <= r[1] < hi}


def test_first_reading_fills_the_ring_in_bounded_pages():
    svc, meter, store, st, t, _ = _setup()
    open_hh = T_NOW - T_NOW % HH
    store.append(0, open_hh - 10 * HH, 7, 70)  # a real reading already held
    store.flush()
    assert fwtest.run(svc.poll(st))  # the first reading: baseline, the gap opens
    _steps(svc)
    lo = open_hh - 9 * DAY
    got = _hh(store, lo - DAY, open_hh + HH)
    assert min(got) == lo and max(got) == open_hh - HH and len(got) == 9 * 48
    for s, wh in got.items():
        assert wh == (7 if s == open_hh - 10 * HH else wh_at(s)), (s, wh)
    # costed by the one costing rule (meters/service.py cost_hh)
    rows = [r for r in store.dump(0) if r[0] == "hh" and r[1] == lo]
    assert rows[0][3] == wh_at(lo) * 24500 // 1000
    assert len(meter.asked) <= 24 and all(n <= 24 for _, n in meter.asked)
    assert meter.asked[0] == (open_hh, 24)  # the newest missing first, paged back
    c = svc.c
    assert c.get("backfill_hh") == 9 * 48 - 1 and c.get("bad_values") == 0
    assert svc.backfill.gaps[0][8] == 0  # closed
    # today's total shown includes today's half-hours from the meter
    day0 = T_NOW - T_NOW % DAY
    assert svc.model.fuels[0].today_wh == sum(wh for s, wh in got.items() if s >= day0) > 0
    n = len(meter.asked)
    _steps(svc)
    assert len(meter.asked) == n  # nothing more asked


def test_hostile_meter_never_writes_before_visible_from_or_after_the_end_asked():
    svc, meter, store, st, t, _ = _setup()
    open_hh = T_NOW - T_NOW % HH
    t_cot = open_hh - 5 * HH - 600  # a change of tenancy, mid half-hour, 3 h ago
    store.truncate(0, t_cot)
    meter.mode = "hostile"
    assert fwtest.run(svc.poll(st))
    _steps(svc)
    for r in store.dump(0):
        assert r[1] >= t_cot - t_cot % DAY and (r[0] != "hh" or r[1] >= t_cot), r
    got = _hh(store, 0, 1 << 30)
    # the hostile answers end 2 h after what was asked: those intervals are ignored, and
    # the ones kept are the meter's values at the time they claim
    assert got and max(got) <= open_hh - HH and min(got) >= t_cot
    for s, wh in got.items():
        assert wh == wh_at(s)
    assert all(end - n * HH >= t_cot - HH for end, n in meter.asked)  # never asked before T
    assert svc.c.get("bad_values") >= 2


def test_statuses_backoff_and_foreign_answers():
    from ihd.runtime import clock

    svc, meter, store, st, t, _ = _setup()
    g_of = lambda: svc.backfill.gaps[0]  # noqa: E731
    meter.mode = "silent"
    assert fwtest.run(svc.poll(st))
    _steps(svc, 3)
    assert len(meter.asked) == 1 and g_of()[4] == 60  # backed off 60 s: not asked again yet
    assert svc.c.get("backfill_refusals") == 1
    # a foreign node's answer is refused the same way
    meter.mode = "foreign"
    g_of()[3] = clock.deadline(0)  # the backoff over
    _steps(svc, 1)
    assert g_of()[4] == 120 and _hh(store, 0, 1 << 30) == {}
    # "too many periods": the page is halved and asked again at once
    meter.mode = "too_many"
    g_of()[3] = clock.deadline(0)
    _steps(svc, 4)
    assert [n for _, n in meter.asked[2:5]] == [24, 12, 6]
    assert _hh(store, 0, 1 << 30)  # filled at 6 a page
    # a 15-minute profile is not half-hours: the gap ends, GetProfile is not used again
    meter.mode = "quarter"
    svc.backfill.open(st, T_NOW - 3 * DAY, T_NOW - 2 * DAY, -1)
    n = len(meter.asked)
    _steps(svc, 3)
    assert len(meter.asked) == n + 1
    assert svc.backfill.gaps[0][11] == 1 and svc.c.get("bad_values") == 2  # foreign, quarter


def test_no_intervals_that_old_and_a_meter_without_getprofile():
    # The meter holds 2 days of profile: the older part of the ring stays empty, no more is
    # asked once it says "no intervals". Then a meter that refuses GetProfile: day totals of
    # whole missing days only (the ones with half-hours are kept as they are).
    svc, meter, store, st, t, dev = _setup()
    open_hh = T_NOW - T_NOW % HH
    meter.oldest = open_hh - 2 * DAY
    assert fwtest.run(svc.poll(st))
    _steps(svc)
    got = _hh(store, 0, 1 << 30)
    assert min(got) == open_hh - 2 * DAY and len(got) == 96
    days = {r[1] for r in store.dump(0) if r[0] == "day"}
    # day totals for the previous days the profile did not reach (GMT days, whole, missing)
    want = {(T_NOW // DAY - b) * DAY for b in range(3, 9)}
    assert want <= days, (sorted(want), sorted(days))
    for r in store.dump(0):
        if r[0] == "day" and r[1] in want:
            assert r[2] == sum(wh_at(r[1] + i * HH) for i in range(48))
    assert svc.c.get("backfill_days") == 6
    # GetProfile unsupported (a Default Response)
    svc2, meter2, store2, st2, _, _ = _setup()
    meter2.mode = "unsup"
    assert fwtest.run(svc2.poll(st2))
    _steps(svc2)
    assert len(meter2.asked) == 1 and svc2.backfill.gaps[0][11] == 1
    assert svc2.c.get("backfill_days") == 8 and _hh(store2, 0, 1 << 30) == {}


def test_long_outage_remainder_is_one_record():
    # The meter unheard for a day while the device runs: the gap goes to the backfill. A meter
    # with profile: its half-hours, no lump. One without: the whole energy at the gap's end.
    for mode in ("ok", "unsup"):
        svc, meter, store, st, t, _ = _setup()
        meter.oldest = T_NOW  # the boot gap: no intervals (day totals only)
        assert fwtest.run(svc.poll(st))
        _steps(svc)
        meter.mode, meter.oldest = mode, 0
        t0 = t[0]
        t[0] += DAY + 2 * HH
        meter.attrs[0x0000] += 48 * 150
        assert fwtest.run(svc.poll(st))
        _steps(svc)
        first = t0 - t0 % HH
        got = _hh(store, first + HH, t[0] - t[0] % HH)
        if mode == "ok":
            assert len(got) == (t[0] - t[0] % HH - first - HH) // HH
            for s, wh in got.items():
                assert wh == wh_at(s)
        else:
            assert list(got.values()) == [48 * 150], got
            assert max(got) == t[0] - t[0] % HH - HH


def test_waits_for_the_tenancy_check():
    # app.py: the backfill's gate is the tenancy watcher's first round since boot
    svc, meter, store, st, t, _ = _setup()
    ready = [False]
    svc.backfill_wait_for(lambda: ready[0])
    assert fwtest.run(svc.poll(st))
    _steps(svc, 5)
    assert meter.asked == [] and _hh(store, 0, 1 << 30) == {}
    ready[0] = True
    _steps(svc, 2)
    assert len(meter.asked) == 2


def test_ram_kept_by_the_backfill():
    # What the backfill keeps between requests: the Backfill object and one gap list per meter
    # (printed per interpreter: the 32-bit frozen figure is the one a board keeps).
    import gc

    from ihd.meters.backfill import Backfill

    svc, meter, store, st, t, _ = _setup()
    gc.collect()
    before = gc.mem_alloc()
    bf = Backfill(svc)
    bf.open(st, T_NOW - DAY, T_NOW, -1)
    bf.gaps[1] = [0] * 16  # the second meter's gap, the same shape
    gc.collect()
    kept = gc.mem_alloc() - before
    print("backfill keeps %d B" % kept)
    assert 0 < kept < 800, kept


def test_a_past_half_hour_is_costed_at_the_same_time_of_days_known_price():
    # The HAN carries no past prices: a half-hour before every price known (a backfilled day)
    # is costed at a known price for its time of day on a later day, else the rate now.
    from ihd.meters import tariff as TF

    svc, _, _, st, _, _ = _setup()
    day0 = T_NOW - T_NOW % DAY
    st.prices.clear()
    # today: Night (9000) 00:30-07:30 then Day (30000) 07:30 until changed; Day in force now
    for start, mins, rate in ((day0 + HH, 420, 9000), (day0 + 15 * HH, 0xFFFF, 30000)):
        st.prices.add(TF.event(start, mins, rate, 1, None, 1, start, start))
    st.unit_rate_mp_kwh = 30000
    assert svc.cost_hh(st, day0 - DAY + 4 * HH, 1000) == 9000  # yesterday 02:00: Night's
    assert svc.cost_hh(st, day0 - 2 * DAY + 20 * HH, 1000) == 30000  # 10:00: Day's
    assert svc.cost_hh(st, day0 - DAY, 1000) == 30000  # 00:00: no price known then: now's
    assert svc.cost_hh(st, day0 + 4 * HH, 1000) == 9000  # a known time: its own price
    st.prices.clear()
    st.unit_rate_mp_kwh = None
    assert svc.cost_hh(st, day0 - DAY, 1000) == 0  # no price at all: uncosted


def test_the_backfill_and_its_module_go_once_no_gap_is_open():
    # ~2 KB of a Pico's heap: made when a gap opens, dropped by the meters loop's step when
    # none is open, made again by the next gap.
    import sys

    from ihd.runtime import clock

    svc, meter, store, st, t, _ = _setup()
    assert svc.backfill is None  # nothing open yet
    assert fwtest.run(svc.poll(st))  # the first reading opens the ring's gap
    assert svc.backfill is not None and svc.backfill.busy()
    for _ in range(60):
        if svc.backfill is None:
            break
        fwtest.run(svc.backfill_step(clock.deadline(3600)))
    assert svc.backfill is None and "ihd.meters.backfill" not in sys.modules
    assert len(_hh(store, 0, 1 << 31)) == 9 * 48  # filled first
    n = len(meter.asked)
    svc.forget("elec")  # a change of tenancy: the next reading opens a gap again
    assert fwtest.run(svc.poll(st))
    assert svc.backfill is not None and len(meter.asked) == n
