# fw: heapsize=512K
# Issue 13, time faults: the judge of each new hub time (runtime/timejudge.py, applied by
# runtime/clock.py offer()), and the meters service under a hub clock that jumps: the clock sync
# asks the ESME's own clock, the poll loop keeps its deadlines in monotonic ticks (a step of the
# clock never puts it to sleep), a clock step re-dates the last reading instead of opening a
# gap of a year, and a real gap in readings is summarised in bounded work.
import asyncio
import time

import fwtest
from ihd.meters import service as S
from ihd.meters.registry import Meter, Registry
from ihd.meters.service import MeterService
from ihd.runtime import clock
from ihd.state import model as M

PORTABLE = True

DAY = 86400
YEAR = 365 * DAY
T = 9511 * DAY + 6 * 3600  # 2026-01-15T06:00:00Z
TH = 300  # a threshold for the pure judge tests
NEAR = 3 * 3600  # "our clock is right" in the service tests (x5000: the threshold is 10,300 s)


def _judge():
    from ihd.runtime import timejudge

    return timejudge


# ---- the judge, pure ----


def test_markers_and_implausible_times_are_refused():
    J = _judge()
    j = J.TimeJudge()
    for bad in (0, 0xFFFFFFFF, 0xFFFFFFFE, -5, None, b"\x00\x00\x00\x01"):
        assert j.judge(bad, None, TH) == J.INVALID, bad
        assert j.judge(bad, T, TH) == J.INVALID, bad
    # before this firmware existed, and more than 20 years after its build
    for far in (1, 86400 * 365, J.EARLIEST_DAY * DAY - 1, J.LATEST_DAY * DAY, 0xF0000000):
        assert j.judge(far, None, TH) == J.IMPLAUSIBLE, far
    assert j.judge(J.EARLIEST_DAY * DAY, None, TH) == J.FIRST
    assert j.judge(T + YEAR, None, TH) == J.FIRST  # never synced: a plausible time is taken


def test_small_corrections_accepted_jumps_confirmed_by_repeated_reads():
    J = _judge()
    j = J.TimeJudge(confirm_reads=3, confirm_s=600)
    assert j.judge(T + 250, T, TH) == J.ACCEPT
    assert j.judge(T - 300, T, TH) == J.ACCEPT
    # a year ahead: suspect until 3 reads agree over at least 600 s of our clock
    assert j.judge(T + YEAR, T, TH) == J.SUSPECT
    assert j.pending() == (YEAR, 1)
    assert j.judge(T + 300 + YEAR + 5, T + 300, TH) == J.SUSPECT
    assert j.judge(T + 590 + YEAR, T + 590, TH) == J.SUSPECT  # 3 reads, but only 590 s
    assert j.judge(T + 900 + YEAR, T + 900, TH) == J.STEP
    assert j.pending() is None
    # a glitch: one odd read between good ones never gets in, and restarts the count
    assert j.judge(T + YEAR, T, TH) == J.SUSPECT
    assert j.judge(T + 400, T + 400, TH) == J.ACCEPT
    assert j.judge(T + 800 + YEAR, T + 800, TH) == J.SUSPECT
    assert j.pending() == (YEAR, 1)
    # reads that disagree with each other (a wandering hub) are never confirmed
    for k in range(10):
        assert j.judge(T + k * 600 + YEAR + k * 3600, T + k * 600, TH) == J.SUSPECT


def test_the_meters_clock_decides_at_once():
    J = _judge()
    j = J.TimeJudge()
    assert j.judge(T + YEAR, T, TH, meter_utc=T + 20) == J.REFUSED  # the meter agrees with us
    assert j.judge(T - YEAR, T, TH, meter_utc=T - YEAR + 60) == J.STEP  # ... with the hub
    # a meter clock that agrees with neither, or is unusable, is no opinion: repeated reads
    assert j.judge(T + YEAR, T, TH, meter_utc=T + 5 * DAY) == J.SUSPECT
    assert j.judge(T + YEAR, T, TH, meter_utc=0xFFFFFFFF) == J.SUSPECT
    assert j.pending() == (YEAR, 2)


# ---- clock.offer: applied, counted, logged ----


def test_offer_applies_counts_and_logs():
    J = _judge()
    from ihd.runtime import log

    clock.reset()
    try:
        assert clock.offer(0xFFFFFFFE) == J.INVALID and not clock.synced()
        assert clock.offer(T) == J.FIRST and clock.synced()
        assert clock.offer(T + YEAR, meter_utc=T) == J.REFUSED
        assert abs(clock.now() - T) <= 2
        assert clock.offer(0xFFFFFFFE) == J.INVALID
        assert clock.offer(T - YEAR) == J.SUSPECT and abs(clock.now() - T) <= 2
        assert clock.disputed(T - YEAR) and not clock.disputed(T + 100)
        assert not clock.disputed(0xFFFFFFFE)
        assert clock.offer(T - YEAR, meter_utc=T - YEAR) == J.STEP
        assert abs(clock.now() - (T - YEAR)) <= 2
        assert abs(clock.offset() + YEAR) <= 2  # the step, for re-dating readings
        c = clock.c
        assert (c.get("invalid"), c.get("refused"), c.get("suspect"), c.get("steps")) == (
            2,
            1,
            1,
            1,
        )
        assert c.get("syncs") == 1
        text = "\n".join(log.recent())
        assert "0xfffffffe" in text and "refused" in text and "stepped by" in text
    finally:
        clock.reset()


# ---- the meters service against a hub and an ESME with their own clocks ----


class _Cfg:
    def get(self, k):
        return {"meter_poll_s": 10, "gas_poll_s": 1800}.get(k)


class _Hist:
    # records what the service appends (no store: the service's work is what is measured)
    n = 2

    def __init__(self):
        self.rows = []

    def append(self, meter, t, e, c, standing=None):
        self.rows.append((meter, t, e))
        return True

    def visible_from(self, meter):
        return 0

    def today_totals(self, meter, now):
        return [0, 0]


class _Zcl:
    # The hub (node 0) and the ESME (0x1234): each Time cluster is the real (simulated) time
    # plus its own offset, or a fixed value; the ESME's register grows 5 Wh per read.
    def __init__(self, scale):
        self.scale = scale
        self.t0 = time.ticks_ms()
        self.hub_off = self.meter_off = 0
        self.hub_fixed = None
        self.meter_time = True
        self.reads = {0x1234: 0, 0x2B7A: 0}
        self.reg = 1000000
        self.time_reads = {0: 0, 0x1234: 0}

    def real(self):
        return T + time.ticks_diff(time.ticks_ms(), self.t0) * self.scale // 1000

    def on_report(self, cluster, fn):
        pass

    def on_command(self, cluster, cmd_id, direction, fn):
        pass

    async def command(self, *a, **k):
        await asyncio.sleep_ms(0)
        return None

    async def read_attributes(self, node, ep, cluster, ids):
        await asyncio.sleep_ms(0)
        if cluster == S._TIME:
            if node == 0x0000:
                self.time_reads[0] += 1
                v = self.hub_fixed if self.hub_fixed is not None else self.real() + self.hub_off
                return {ids[0]: v, ids[1]: 0x03}
            if node == 0x1234 and self.meter_time:
                self.time_reads[0x1234] += 1
                return {ids[0]: self.real() + self.meter_off, ids[1]: 0x02}
            return None
        if cluster == S._METERING and tuple(ids) == tuple(S._FORMAT_IDS):
            return {ids[0]: 0, ids[1]: 1, ids[2]: 1000}
        if cluster == S._METERING and tuple(ids[:2]) == tuple(S._LIVE_IDS):
            # (the ESME's read also asks for its export register: this one has none)
            self.reads[node] += 1
            self.reg += 5
            return {S._SUMMATION: self.reg, S._DEMAND: 300}
        return None


def _service(scale, meters=(("elec", 0x1234, 0), ("gas", 0x2B7A, 1))):
    clock.reset()
    clock.set_scale(scale)
    z = _Zcl(scale)
    reg = Registry()
    hist = _Hist()
    svc = MeterService(z, reg, hist, M.Model(now_fn=clock.now), _Cfg())
    for name, node, fuel in meters:
        reg.bind(Meter(name, node, 1))
        svc.bind(reg.get(name), fuel, fuel)
    return svc, z, hist


def _run(svc, steps):
    # runs svc.run() while the steps (coroutines fns) run in turn; -> their results
    async def main():
        task = asyncio.create_task(svc.run())
        out = []
        try:
            for fn in steps:
                out.append(await fn())
        finally:
            # MicroPython's wait_for forwards a cancel that lands as its timeout fires to the
            # task it is reaping, which swallows it: cancel until the loop is really gone
            for _ in range(200):
                task.cancel()
                await asyncio.sleep_ms(2)
                if task.done():
                    break
            assert task.done()
        return out

    return fwtest.run(main())


def _reads_in(z, ms):
    async def fn():
        n = z.reads[0x1234]
        await asyncio.sleep_ms(ms)
        return z.reads[0x1234] - n

    return fn


def _act(f):
    async def fn():
        f()
        await asyncio.sleep_ms(0)

    return fn


def test_hub_jump_refused_by_the_meters_clock_and_polling_goes_on():
    # x5000: a 10 s poll every 2 ms, the hourly clock sync every 720 ms
    svc, z, hist = _service(5000)
    try:

        def jump():
            z.hub_off = YEAR

        got = _run(svc, (_reads_in(z, 150), _act(jump), _reads_in(z, 1200), _reads_in(z, 150)))
        assert got[0] >= 5 and got[2] >= 50 and got[3] >= 5, got
        assert abs(clock.now() - z.real()) < NEAR  # our clock stayed real
        assert clock.c.get("refused") >= 1 and clock.c.get("steps") == 0
        assert z.time_reads[0x1234] >= 1  # the ESME's clock was asked
        assert all(abs(t - z.real()) < 2 * DAY for _m, t, _e in hist.rows)
    finally:
        clock.reset()


def test_hub_0xfffffffe_never_taken():
    svc, z, hist = _service(5000)
    try:

        def bad():
            z.hub_fixed = 0xFFFFFFFE

        got = _run(svc, (_reads_in(z, 100), _act(bad), _reads_in(z, 1000)))
        assert got[2] >= 50, got
        assert abs(clock.now() - z.real()) < NEAR
        assert clock.c.get("invalid") >= 1
        assert len(hist.rows) < 100 and all(t < T + 2 * DAY for _m, t, _e in hist.rows)
    finally:
        clock.reset()


def test_confirmed_step_back_a_year_never_puts_the_poll_loop_to_sleep():
    # The hub and the ESME both go a year back (the device clock was wrong, say): the step is
    # taken; the next polls are due by monotonic ticks, not a year of UTC away.
    svc, z, hist = _service(5000)
    try:

        def back():
            z.hub_off = z.meter_off = -YEAR

        got = _run(svc, (_reads_in(z, 150), _act(back), _reads_in(z, 1200), _reads_in(z, 200)))
        assert abs(clock.now() - (z.real() - YEAR)) < NEAR
        assert got[3] >= 10, got  # still polling after the step
        # the readings after the step are dated on the new clock, none a year ahead of it
        assert all(t < clock.now() + 1800 for _m, t, _e in hist.rows if t < T - DAY)
        assert clock.c.get("steps") == 1
    finally:
        clock.reset()


def test_confirmed_step_forward_is_no_gap_of_a_year():
    svc, z, hist = _service(5000)
    try:

        def fwd():
            z.hub_off = z.meter_off = YEAR

        got = _run(svc, (_reads_in(z, 150), _act(fwd), _reads_in(z, 1200), _reads_in(z, 150)))
        # a few half-hours were closed (x5000 for ~1.5 s: ~2 h simulated), never one per
        # half-hour of the year the clock moved
        assert len(hist.rows) < 40, len(hist.rows)
        assert sum(e for m, _t, e in hist.rows if m == 0) <= z.reg - 1000000
        assert got[3] >= 5, got
        assert clock.c.get("steps") == 1 and svc.c.get("gaps") == 0
    finally:
        clock.reset()


def test_without_a_meter_clock_repeated_reads_confirm_a_jump():
    # gas only (a GPF has no Time cluster): the jump is taken after 3 agreeing reads, 5 minutes
    # of device time apart, and not before
    svc, z, hist = _service(5000, meters=(("gas", 0x2B7A, 1),))
    try:

        async def sync():
            await svc.sync_clock(force=True)
            return clock.now()

        async def later():
            await asyncio.sleep_ms(70)  # 350 simulated s
            return await sync()

        def fwd():
            z.hub_off = YEAR

        got = _run(svc, (_reads_in(z, 20), _act(fwd), sync, later, later))
        assert got[2] < z.real() + DAY  # the first read of it: not taken
        assert clock.c.get("suspect") >= 2
        assert abs(clock.now() - (z.real() + YEAR)) < NEAR
        assert clock.c.get("steps") == 1
    finally:
        clock.reset()


# ---- gaps: bounded work ----


def _fold_service():
    svc, _z, hist = _service(1)
    st = svc.states["elec"]
    from ihd.meters import units

    st.fmt = units.Formatting(units.UNIT_KWH, 1, 1000)
    st.set_rate(24500)
    return svc, hist


def test_a_long_gap_in_readings_is_one_summarised_record():
    svc, hist = _fold_service()
    try:
        svc.fold(0, 1000000, T + 60)
        svc.fold(0, 1000100, T + 600)
        svc.fold(0, 1000100 + 9000, T + YEAR + 900)  # the meter unheard for a year
        assert len(hist.rows) <= 3, len(hist.rows)
        assert [t for _m, t, _e in hist.rows] == [T, T + YEAR - 1800 + 0]
        assert sum(e for _m, _t, e in hist.rows) + svc.states["elec"].hh_wh == 9100
        assert svc.c.get("gaps") == 1
        # a reading dated 2136 (what a hub's 0xFFFFFFFE would give) is as bounded
        svc.fold(0, 1009200, 0xFFFFFFFE)
        assert len(hist.rows) == 4 and svc.c.get("gaps") == 2
        # up to a day is spread pro rata, one record per half-hour
        svc2, hist2 = _fold_service()
        svc2.fold(0, 1000000, T)
        svc2.fold(0, 1004800, T + DAY)
        assert len(hist2.rows) == 48 and {e for _m, _t, e in hist2.rows} == {100}
        assert svc2.c.get("gaps") == 0
    finally:
        clock.reset()


def test_a_clock_step_re_dates_the_last_reading():
    # The clock is stepped a year ahead between two readings 10 s apart: 10 s of energy, not a
    # year of half-hours (nor a summarised gap).
    svc, hist = _fold_service()
    try:
        clock.set_utc(T + 1000)
        svc.fold(0, 1000000, clock.now())
        clock.set_utc(clock.now() + YEAR)  # as clock.offer does for a confirmed step
        svc.fold(0, 1000007, clock.now() + 10)
        assert hist.rows == [] and svc.c.get("gaps") == 0
        st = svc.states["elec"]
        assert st.hh_wh == 7 and st.hh_start == (T + YEAR + 1000) // 1800 * 1800
        # and back again
        clock.set_utc(clock.now() - YEAR)
        svc.fold(0, 1000010, clock.now() + 20)
        assert hist.rows == [] and st.hh_wh == 10
    finally:
        clock.reset()
