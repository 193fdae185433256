# fw: heapsize=4M timeout=600
# history.view.HistoryView: the cached series equal, row for row, what the store's queries give
# (the former app.HistoryView algorithm, kept below as the reference) through appends in the
# open day, day/week/month rollovers, backfill, flush, truncation by name (change of tenancy)
# mid half-hour, queries for an earlier day; reads of the cached day allocate nothing; and the
# history screens render pixel-identical from the view and from the reference.
import hashlib

import fwtest
import powercut
import uifakes
from ihd.history import buckets as B
from ihd.history.view import HistoryView
from ihd.state import model as M
from ihd.ui import fmt
from ihd.ui.display import Ui

DAY = 86400
# Monday 2 March 2026: the 8 days cross a month and a week boundary
TODAY = fmt.days_from_civil(2026, 3, 2)
T0 = TODAY * DAY


class Reference:
    # The former app.HistoryView: the store's buckets per period, clamped to visible_from.
    def __init__(self, store):
        self.store = store

    def history(self, fuel_id, period, now_utc):
        s = self.store
        vf = s.visible_from(fuel_id)
        if period == 0:
            rows = s.today(fuel_id, now_utc)
        else:
            res, count = ((B.RES_DAY, 8), (B.RES_WEEK, 5), (B.RES_MONTH, 13))[period - 1]
            rows = s.series(fuel_id, res, now_utc, count)
        out = []
        for start, end, wh, cost, n in rows:
            if end <= vf:
                continue
            out.append((max(start, vf), wh if n else None, cost if n else None))
        return out


def _hh(m, t):
    # deterministic half-hour values per meter and time
    k = (t // 1800) * 2654435761 % 1000
    return 50 + k + 7 * m, 1200 + 3 * k + m


def _store():
    dev, s = powercut.boot(block_count=400)
    # 14 months of meter backfill (month files), then 9 days of half-hours (the day ring)
    for d in range(430, 9, -1):
        for m in (0, 1):
            if d % 17 != 3:  # a few gaps
                s.backfill_day(m, (TODAY - d) * DAY, 9000 + 11 * d + m, 220000 + d)
    for d in range(9, 0, -1):
        for i in range(48):
            t = (TODAY - d) * DAY + i * 1800
            for m in (0, 1):
                if (d, i) != (4, 10):  # one missing interval
                    e, c = _hh(m, t)
                    s.append(m, t, e, c, standing_mp=53000 + m)
    s.flush()
    return dev, s


def _same(view, ref, now, where=""):
    for fuel in (0, 1):
        for p in range(4):
            got = [tuple(r) for r in view.history(fuel, p, now)]
            want = ref.history(fuel, p, now)
            assert got == want, (where, fuel, p, now, got, want)
        tot = view.today_totals(fuel, now)
        e = c = 0
        for _s, _e, wh, cost, n in ref.store.today(fuel, now):
            if n:
                e += wh
                c += cost
        assert list(tot) == [e, c], (where, fuel, tot, e, c)
        # yesterday's copy (the comparison with yesterday) is the store's day before, post-vf
        y = view.yesterday(fuel, now)
        if y is not None:
            day = now // DAY - 1
            want = [-1] * 48
            for s, _e, wh, _c, n in ref.store.today(fuel, day * DAY):
                if n and s >= ref.store.visible_from(fuel):
                    want[(s - day * DAY) // 1800] = wh
            assert list(y) == want, (where, fuel)
        a = M.Model(now_fn=lambda: now, history=view)
        b = M.Model(now_fn=lambda: now, history=ref)
        assert a.vs_yesterday(fuel) == b.vs_yesterday(fuel), (where, fuel)


def _append(view, m, t):
    e, c = _hh(m, t)
    return view.append(m, t, e, c, standing_mp=53000 + m)


def test_view_matches_store_through_appends_rollovers_backfill_truncate():
    _, s = _store()
    v = HistoryView(s)
    ref = Reference(s)
    now = T0 + 10
    _same(v, ref, now, "boot")
    # today fills half-hour by half-hour (pending, then flushed at 8): incremental updates
    for i in range(20):
        now = T0 + i * 1800 + 1790
        for m in (0, 1):
            assert _append(v, m, T0 + i * 1800)
        _same(v, ref, now, "append %d" % i)
    ver = v.version
    _same(v, ref, now)
    assert v.version == ver  # reading does not change the version
    # the same half-hour again (last value wins), and yesterday's missing interval late
    assert v.append(0, T0 + 19 * 1800, 5, 6)
    assert v.append(1, T0 - 4 * DAY + 10 * 1800 + 17, 77, 88)
    _same(v, ref, now, "rewrite")
    # refused: older than the half-hour ring
    assert not v.append(0, T0 - 20 * DAY, 1, 1)
    _same(v, ref, now, "refused")
    # the meter's half-hours into an empty slot of an earlier day of the window (meter 0's
    # missing interval 4 days back: the buckets follow without a rebuild) and into today
    for m, d, i in ((0, 4, 10), (0, 0, 25), (1, 0, 26)):
        got = v.backfill_hh(m, TODAY - d, lambda t, i=i: (33, 44) if t % DAY == i * 1800 else None)
        assert got == 1, (d, i, got)
        _same(v, ref, now, "backfill_hh %d" % d)
    # backfill into a gap of the month files, and flush
    assert v.backfill_day(0, (TODAY - 37) * DAY, 4321, 98765)
    v.flush()
    _same(v, ref, now, "backfill")
    # day rollover, then a week later (week and month buckets move on)
    for d in (1, 2, 8):
        now = T0 + d * DAY + 20 * 1800 + 5
        for i in range(20):
            for m in (0, 1):
                _append(v, m, T0 + d * DAY + i * 1800)
        _same(v, ref, now, "day +%d" % d)
    # a query for an earlier day than the cache's (clock skew at midnight): right, uncached
    _same(v, ref, now - DAY, "earlier day")
    _same(v, ref, now, "back")
    # change of tenancy mid half-hour, by name: pre-T buckets dropped, the straddling ones
    # start at T and hold only post-T data
    t_cut = now - 2 * 3600 - 900
    ver = v.version
    assert v.truncate("elec", t_cut)
    assert v.version != ver and s.visible_from(0) == t_cut
    _same(v, ref, now, "truncated")
    rows = v.history(0, M.P_DAY, now)
    assert rows[0][0] == t_cut and rows[0][1] is None  # the straddling half-hour: no data
    assert not v.append(0, t_cut - 900, 1, 1)  # pre-T half-hour refused
    for i in range(3):
        _append(v, 0, now - now % 1800 + i * 1800)
    _same(v, ref, now + 3 * 1800, "after cut")
    # a truncation behind the view's back (store called directly) is noticed too
    assert s.truncate(1, now - 3600)
    _same(v, ref, now + 3 * 1800, "direct truncate")


def test_closing_half_hours_opens_no_file_for_the_day_total():
    # The view asks the store for the day's total at every closed half-hour; for today (no file
    # yet, or its file the one last written) that is answered from RAM: an open is a 636-byte
    # allocation on a fragmented Pico heap (docs/boards.md "Fragmentation"). Flushes (every 8
    # records) still open files; nothing else does.
    _, s = _store()
    v = HistoryView(s)
    ref = Reference(s)
    opened = []
    real = s.fs

    class Counting:  # the store's file system, each open recorded
        def __getattr__(self, name):
            return getattr(real, name)

        def open(self, path, mode):
            opened.append((path, mode))
            return real.open(path, mode)

    s.fs = Counting()
    now = T0 + 10
    _same(v, ref, now, "boot")
    for i in range(24):
        del opened[:]
        for m in (0, 1):
            assert _append(v, m, T0 + i * 1800)
        reads = [p for p, mode in opened if "r" in mode]
        flushed = [p for p, mode in opened if "w" in mode]
        assert not reads or flushed, (i, opened)  # only a flush reads (the day it rewrites)
    s.fs = real
    _same(v, ref, T0 + 24 * 1800 - 10, "after")


def test_cached_reads_allocate_nothing():
    _, s = _store()
    v = HistoryView(s)
    now = T0 + 5 * 1800
    for p in range(4):
        v.history(0, p, now)
    v.today_totals(1, now)
    with fwtest.HeapLocked():
        for fuel in (0, 1):
            for p in range(4):
                rows = v.history(fuel, p, now + 60)
            tot = v.today_totals(fuel, now + 60)
    for i in range(5):
        _append(v, 0, T0 + i * 1800)
    m = M.Model(now_fn=lambda: now + 60, history=v)
    assert m.vs_yesterday(0) is not None
    with fwtest.HeapLocked():  # the comparison with yesterday: 0 B from the view
        pct = m.vs_yesterday(0)
    assert rows and len(tot) == 2 and pct == m.vs_yesterday(0)


def _digest(panel, m, attrs):
    ui = Ui(panel, m)
    ui.go("history")
    for k in attrs:
        setattr(ui.cur, k, attrs[k])
    ui.redraw()
    ui.step()
    return hashlib.sha256(panel.buffer).digest()


def _render_same(panel, now):
    _, s = _store()
    v = HistoryView(s)
    for m in (0, 1):
        for i in range(int(now % DAY // 1800)):
            _append(v, m, now - now % DAY + i * 1800)
    a = M.Model(now_fn=lambda: now)
    a.history_source = v
    b = M.Model(now_fn=lambda: now)
    b.history_source = Reference(s)
    seen = set()
    for period in range(4):
        for fuel in range(2):
            for cost in (False, True):
                attrs = {"period": period, "fuel": fuel, "cost": cost}
                d = _digest(panel, a, attrs)
                assert d == _digest(panel, b, attrs), attrs
                seen.add(d)
    assert len(seen) == 16  # every view shows something of its own


def test_screens_render_the_same_from_view_and_reference_colour():
    panel, _ = uifakes.st7789(spi=uifakes.CountingSPI())
    _render_same(panel, T0 + 17 * 3600 + 300)


def test_screens_render_the_same_from_view_and_reference_mono():
    panel, _ = uifakes.ssd1306(record=False)
    _render_same(panel, T0 + 9 * 3600 + 1000)
