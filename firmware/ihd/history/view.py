# History view: what the screens show of the history store (per meter: today by half-hour, the
# last 8 days, 5 weeks, 13 months), kept in preallocated arrays and updated incrementally, so a
# render reads it without touching the store. It is also the store's front door for the
# services: every write that changes what is shown (append, backfill_day, backfill_hh,
# truncate, flush)
# goes through it and keeps the cache right; the rest passes through.
#
# Semantics (exactly the former app.HistoryView over HistoryStore.today/series): rows oldest
# first, [start_utc, energy_wh or None, cost_mp or None]; a bucket ending at/before the meter's
# visible_from is dropped; one straddling it starts at visible_from and holds only what the
# store serves for it (post-visible_from data); a bucket without data has None.
#
# The cache of a meter is for one UTC day, the day of the latest `now` seen. Reads for that day
# (history(), today_totals()) allocate nothing. Rebuilt from the store (allocates: it reads the
# ring, up to 10 day + 15 month files, each once) on the first read of a later UTC day, after
# truncate (change of tenancy) or a backfill, when visible_from moved behind its back, when a
# flush dropped records, or when an append falls outside the 8-day window. An append inside the
# window re-reads only that day's total (one day file: allocates, once per closed half-hour)
# and moves its change into the day, week and month buckets holding it; today's half-hour row
# is set directly. A read for an earlier day than the cached one (clocks disagreeing around
# midnight) is answered from the store, uncached, and leaves the cache alone.
#
# Rows are handed out by reference and updated in place: read-only for callers, valid until
# `version` changes (it is bumped by every change of any row or rebuild).
#
# Export (store slot EXPORT) gets no row pools: the screens show its totals, not bars. Kept per
# UTC day like a meter: today's 48 half-hours (Wh, -1 none) and the four periods' totals, made
# at the first read when the store holds export (none: nothing allocated, 0 B), updated in
# place by an export append of the cached day, rebuilt otherwise (once a day).
from array import array

from micropython import const

from ihd.history import buckets as B
from ihd.state import fuels as FU
from ihd.state.fuels import EXPORT

_DAY_S = const(86400)
_HH_S = const(1800)
_WINDOW_DAYS = const(8)  # the 8-day period: today and the 7 days before
# state.model periods P_DAY, P_8D, P_5W, P_13M -> (store resolution, bucket count)
_PERIODS = ((B.RES_HALF_HOUR, 48), (B.RES_DAY, 8), (B.RES_WEEK, 5), (B.RES_MONTH, 13))
_NP = const(4)


class HistoryView:
    def __init__(self, store):
        self.store = store
        n = EXPORT  # the meters; export has its own small cache (_x*)
        self.n = n
        self._xday = -1  # UTC day of the export cache; -1: invalid
        self._xvf = 0
        self._xhh = None  # array("i", 48): today's export half-hours, Wh (-1: none)
        self._xtot = None  # array("i", 4): export Wh of today, 8 days, 5 weeks, 13 months
        self.version = 0
        self._day = [-1] * n  # UTC day the meter's cache is for; -1: invalid
        self._vf = [0] * n  # visible_from it was built with
        self._starts = [[array("i", (0,) * c) for _, c in _PERIODS] for _ in range(n)]
        self._sums = [[array("i", (0,) * (3 * c)) for _, c in _PERIODS] for _ in range(n)]
        self._rows = [[[] for _ in range(_NP)] for _ in range(n)]
        # The row lists themselves, made once here (a rebuild refills them: 148 small lists
        # allocated every day in the middle of a long-lived heap fragment it), one set for all
        # meters (74 rows, ~2.3 KB less on 32-bit than one per meter): a period's rows hold
        # the values of the meter that read them last (_holds), refilled from its sums when
        # another meter reads (0 B). Every reader copies what it needs before it reads
        # another meter's rows (the screens, the comparison with yesterday, the tests).
        self._pool = [[[0, None, None] for _ in range(c)] for _, c in _PERIODS]
        self._holds = [-1] * _NP  # per period: the meter whose values the pool's rows hold
        self._first = [[0] * _NP for _ in range(n)]  # bucket index of rows[0]
        self._tot = [[0, 0] for _ in range(n)]  # today's stored half-hours: energy, cost
        # Yesterday's half-hour energies (-1: none), for the comparison with yesterday
        # (state.model.vs_yesterday): read at a rebuild, kept by append; without them every
        # closed half-hour re-read yesterday's file for each fuel (~3 KB of rows, a file open).
        self._yday = [array("i", (-1,) * 48) for _ in range(n)]

    # ---- reads: the UI's history source and the meters' today totals ----

    def history(self, fuel_id, period, now_utc):
        # -> rows of `period` (0 today, 1 8 days, 2 5 weeks, 3 13 months); see the header.
        if self._fresh(fuel_id, now_utc):
            if self._holds[period] != fuel_id:
                self._refill(fuel_id, period)
            return self._rows[fuel_id][period]
        return self._build_rows(fuel_id, period, now_utc, None)[0]

    def today_totals(self, meter, now_s):
        # -> [energy_wh, cost_mp] of the stored half-hours of now_s's UTC day (visible ones
        # only; no standing charge): what sum(store.today(...)) gives. Read-only.
        if self._fresh(meter, now_s):
            return self._tot[meter]
        tot = [0, 0]
        for _s, _e, wh, c, n in self.store.today(meter, now_s):
            if n:
                tot[0] += wh
                tot[1] += c
        return tot

    def yesterday(self, meter, now_s):
        # -> the energies (Wh, -1: no data) of the 48 half-hours of the UTC day before now_s's,
        # nothing before visible_from; read-only, valid until `version` changes. None when the
        # cache is for another day (the caller asks the store).
        if self._fresh(meter, now_s) and self._day[meter] == now_s // _DAY_S:
            return self._yday[meter]
        return None

    # ---- writes (keep the cache right) ----

    def append(self, meter, t_s, energy_wh, cost_mp, standing_mp=None):
        st = self.store
        dropped = st.c.get("rejected_old")
        if not st.append(meter, t_s, energy_wh, cost_mp, standing_mp):
            return False
        self.version += 1
        if meter == EXPORT:
            self._xappend(t_s - t_s % _HH_S, energy_wh, st.c.get("rejected_old") != dropped)
            return True
        cd = self._day[meter]
        t_s -= t_s % _HH_S
        day = t_s // _DAY_S
        if st.c.get("rejected_old") != dropped or not cd - _WINDOW_DAYS < day <= cd:
            self._day[meter] = -1  # a flush dropped records, a new day, or far back: rebuild
            return True
        if self._vf[meter] != st.visible_from(meter):
            self._day[meter] = -1
            return True
        self._move_day(meter, day, cd)
        if day == cd - 1:  # yesterday's last half-hours close after midnight
            self._yday[meter][(t_s - day * _DAY_S) // _HH_S] = energy_wh
        if day == cd:
            i = (t_s - day * _DAY_S) // _HH_S
            sums = self._sums[meter][0]
            tot = self._tot[meter]
            tot[0] += energy_wh - sums[3 * i]
            tot[1] += cost_mp - sums[3 * i + 1]
            sums[3 * i] = energy_wh
            sums[3 * i + 1] = cost_mp
            sums[3 * i + 2] = 1
            self._set_row(meter, 0, i)
        return True

    def backfill_day(self, meter, day_start_s, energy_wh, cost_mp):
        ok = self.store.backfill_day(meter, day_start_s, energy_wh, cost_mp)
        if ok:
            self._invalidate(meter)
        return ok

    def backfill_hh(self, meter, day, get):
        n = self.store.backfill_hh(meter, day, get)
        if not n:
            return n
        cd = self._day[meter]
        if cd - _WINDOW_DAYS < day < cd and self._vf[meter] == self.store.visible_from(meter):
            # An earlier day of the window (a boot's backfill fills 9): its total moves into
            # the buckets, from the day file just written (in RAM: store.day_value), instead
            # of a rebuild reading the whole ring per page of the meter's profile.
            self.version += 1
            self._move_day(meter, day, cd)
            if day == cd - 1:
                self.store.hh_energies(meter, day, self._yday[meter])
        else:
            self._invalidate(meter)
        return n

    def truncate(self, meter, t_s):
        # meter: index or name ("elec"/"gas": the tenancy watcher speaks names)
        if isinstance(meter, str):
            meter = FU.index(meter)
        ok = self.store.truncate(meter, t_s)
        self._invalidate(meter)
        self._xday = -1  # (electricity's export goes with it; rebuilt on the next read)
        return ok

    def flush(self, meter=None):
        dropped = self.store.c.get("rejected_old")
        self.store.flush(meter)
        if self.store.c.get("rejected_old") != dropped:
            for m in range(self.n):
                self._invalidate(m)
            self._xday = -1

    # ---- export (electricity fed to the grid) ----

    def export_totals(self, now_s):
        # -> array [today, 8 days, 5 weeks, 13 months] of exported Wh (stored half-hours,
        # visible ones only; read-only), or None when the store holds no export: 0 B then, and
        # 0 B for reads of the cached day.
        if not self.store.has_export():
            return None
        day = now_s // _DAY_S
        if self._xday == day and self._xvf == self.store.visible_from(EXPORT):
            return self._xtot
        if self._xday >= 0 and day < self._xday:
            return None  # an earlier day than the cached one: not shown (rare, see the header)
        self._xrebuild(now_s)
        return self._xtot

    def export_today(self, now_s):
        # -> today's stored export, Wh (0: none)
        tot = self.export_totals(now_s)
        return 0 if tot is None else tot[0]

    def _xappend(self, t_s, wh, dropped):
        hh = self._xhh
        tot = self._xtot
        day = t_s // _DAY_S
        if (
            dropped
            or hh is None
            or tot is None
            or day != self._xday
            or self._xvf != self.store.visible_from(EXPORT)
        ):
            self._xday = -1
            return
        i = (t_s - day * _DAY_S) // _HH_S
        d = wh - (hh[i] if hh[i] > 0 else 0)
        hh[i] = wh
        for p in range(_NP):  # today's half-hour is in every period
            tot[p] += d

    def _xrebuild(self, now_s):
        st = self.store
        hh, tot = self._xhh, self._xtot
        if hh is None or tot is None:
            hh = self._xhh = array("i", (-1,) * 48)
            tot = self._xtot = array("i", (0,) * _NP)
        cache = {}
        tot[0] = 0
        for i, (_s, _e, wh, _c, n) in enumerate(st.today(EXPORT, now_s, cache)):
            hh[i] = wh if n else -1
            if n:
                tot[0] += wh
        for p in range(1, _NP):
            res, count = _PERIODS[p]
            t = 0
            for _s, _e, wh, _c, n in st.series(EXPORT, res, now_s, count, cache):
                if n:
                    t += wh
            tot[p] = t
        self._xday = now_s // _DAY_S
        self._xvf = st.visible_from(EXPORT)
        self.version += 1

    # ---- pass-through ----

    def visible_from(self, meter):
        return self.store.visible_from(meter)

    def epoch(self, meter):
        return self.store.epoch(meter)

    def pending(self, meter):
        return self.store.pending(meter)

    def today(self, meter, now_s):
        return self.store.today(meter, now_s)

    def series(self, meter, res, now_s, count):
        return self.store.series(meter, res, now_s, count)

    def dump(self, meter):
        return self.store.dump(meter)

    def newest_missing(self, meter, lo_s, hi_s):
        return self.store.newest_missing(meter, lo_s, hi_s)

    def day_value(self, meter, day):
        return self.store.day_value(meter, day)

    # ---- cache ----

    def _invalidate(self, meter):
        self._day[meter] = -1
        self.version += 1

    def _fresh(self, meter, now_s):
        # True when the cache serves now_s's day (rebuilt if it is a later day or stale).
        day = now_s // _DAY_S
        cd = self._day[meter]
        if cd == day and self._vf[meter] == self.store.visible_from(meter):
            return True
        if cd >= 0 and day < cd:
            return False
        self._rebuild(meter, now_s)
        return True

    def _build_rows(self, meter, period, now_s, cache, pool=None):
        # Query the store for one period -> (rows, series); the former HistoryView's algorithm.
        # pool: the period's row lists to refill (the cache), else new ones (an uncached read).
        st = self.store
        vf = st.visible_from(meter)
        if period == 0:
            ser = st.today(meter, now_s, cache)
        else:
            res, count = _PERIODS[period]
            ser = st.series(meter, res, now_s, count, cache)
        k = 0
        rows = []
        for start, end, wh, cost, n in ser:
            if end <= vf:
                continue
            if pool is None:
                rows.append([max(start, vf), wh if n else None, cost if n else None])
                continue
            row = pool[k]
            row[0] = max(start, vf)
            row[1] = wh if n else None
            row[2] = cost if n else None
            k += 1
        return (rows if pool is None else pool[:k]), ser

    def _rebuild(self, meter, now_s):
        cache = {}  # each ring file read once for all four periods
        for p in range(_NP):
            rows, ser = self._build_rows(meter, p, now_s, cache, self._pool[p])
            self._holds[p] = meter
            starts = self._starts[meter][p]
            sums = self._sums[meter][p]
            for j in range(len(ser)):
                s, _e, wh, cost, n = ser[j]
                starts[j] = s
                sums[3 * j] = wh
                sums[3 * j + 1] = cost
                sums[3 * j + 2] = n
            self._rows[meter][p] = rows
            self._first[meter][p] = len(ser) - len(rows)
        tot = self._tot[meter]
        sums = self._sums[meter][0]
        tot[0] = tot[1] = 0
        for i in range(48):
            if sums[3 * i + 2]:
                tot[0] += sums[3 * i]
                tot[1] += sums[3 * i + 1]
        self._day[meter] = now_s // _DAY_S
        self._vf[meter] = self.store.visible_from(meter)
        self.store.hh_energies(meter, now_s // _DAY_S - 1, self._yday[meter])
        self.version += 1

    def _move_day(self, meter, day, cd):
        # The stored total of `day` (inside the 8-day window) may have changed: move the change
        # into the day, week and month buckets holding it.
        v = self.store.day_value(meter, day)
        e = c = n = 0
        if v is not None:
            e, c, n = v[0], v[1], 1
        sums = self._sums[meter][1]
        i = 3 * (day - cd + _WINDOW_DAYS - 1)
        de = e - sums[i]
        dc = c - sums[i + 1]
        dn = n - sums[i + 2]
        if not (de or dc or dn):
            return
        ds = day * _DAY_S
        for p in (1, 2, 3):
            starts = self._starts[meter][p]
            j = len(starts) - 1
            while j >= 0 and starts[j] > ds:
                j -= 1
            if j < 0:
                continue
            sums = self._sums[meter][p]
            sums[3 * j] += de
            sums[3 * j + 1] += dc
            sums[3 * j + 2] += dn
            self._set_row(meter, p, j)

    def _refill(self, meter, p):
        # The shared rows of period p given this meter's values (from its starts and sums).
        starts = self._starts[meter][p]
        vf = self._vf[meter]
        first = self._first[meter][p]
        rows = self._rows[meter][p]
        self._holds[p] = meter
        for r in range(len(rows)):
            rows[r][0] = max(starts[first + r], vf)
            self._set_row(meter, p, first + r)

    def _set_row(self, meter, p, j):
        if self._holds[p] != meter:  # the rows hold another meter's: refilled when read
            return
        r = j - self._first[meter][p]
        rows = self._rows[meter][p]
        if r < 0 or r >= len(rows):
            return
        sums = self._sums[meter][p]
        row = rows[r]
        if sums[3 * j + 2]:
            row[1] = sums[3 * j]
            row[2] = sums[3 * j + 1]
        else:
            row[1] = row[2] = None
