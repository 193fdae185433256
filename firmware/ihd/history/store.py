# Consumption history store: per meter, half-hour intervals for the last _DAY_RING days and daily
# totals for the last _MONTH_RING months, on littlefs, every file encrypted with the meter's
# tenancy-epoch key (records.py) whose only copy lives in the raw key region (keys.py).
#
# Layout under `root` (default /hist) on the littlefs object `fs`:
#   <root>/<meter name>/<epoch %08x>/d<day % 10>    one UTC day of 48 half-hour slots
#   <root>/<meter name>/<epoch %08x>/m<month % 15>  one UTC month of day totals
# File names carry only ring positions, never dates; the date is inside the encrypted payload.
#
# Appends are buffered in RAM (at most `batch` records of one UTC day per meter) and flushed by
# rewriting that day's file: one littlefs file commit, atomic on power loss. A day leaving the
# ring is folded into its month file first (idempotent). A truncation writes the post-T data
# under a fresh key into a new epoch directory, then commits the new key + visible_from in the
# raw key region (the commit point; the old key slot is erased), then deletes the old directory.
# Boot removes any epoch directory that is not current (an interrupted truncation, or the
# remains of the previous tenancy). RAM: pending records + transient per query payloads
# (<= _DAY_RING + _MONTH_RING files of <= 428 bytes), independent of the history length.
import os

from micropython import const

from ihd.history import buckets as B
from ihd.history import records as R
from ihd.history.keys import new_key
from ihd.runtime import log
from ihd.runtime.counters import Counters
from ihd.state import fuels as FU

_TAG = "history"
DAY_RING = const(10)  # today + 9 previous days of half-hour detail (>= 8 required)
MONTH_RING = const(15)  # current month + 14 previous months of day totals (>= 13 required)
_DAY_S = const(86400)
_HH_S = const(1800)
_DIR = const(0x4000)
_STANDING = const(-1)  # pending marker: (day_start_s, _STANDING, standing_mp)


class HistoryStore:
    def __init__(self, fs, keys, root="/hist", batch=8, n_meters=2):
        self.fs = fs
        self.keys = keys
        self.root = root
        self.batch = batch
        self.n = n_meters
        self._pending = [[] for _ in range(n_meters)]
        self._newest_day = [-1] * n_meters
        self.c = Counters(
            "history",
            (
                "appended",
                "flushes",
                "rejected_vf",
                "rejected_old",
                "bad_files",
                "backfilled",
                "backfill_refused",
                "folds",
                "truncations",
            ),
        )
        self._open()

    # ---- paths and file I/O (the thin I/O layer) ----

    def _mdir(self, meter):
        return self.root + "/" + FU.KEYS[meter]

    def _edir(self, meter, epoch):
        return self._mdir(meter) + "/%08x" % epoch

    def _exists(self, path):
        try:
            self.fs.stat(path)
            return True
        except OSError:
            return False

    def _mkdir(self, path):
        if not self._exists(path):
            self.fs.mkdir(path)

    def _rmtree(self, path):
        if not self._exists(path):
            return
        for ent in list(self.fs.ilistdir(path)):
            p = path + "/" + ent[0]
            if ent[1] == _DIR:
                self._rmtree(p)
            else:
                self.fs.remove(p)
        self.fs.rmdir(path)

    def _read(self, path):
        try:
            with self.fs.open(path, "rb") as f:
                return f.read()
        except OSError:
            return None

    def _write(self, path, data):
        # littlefs commits a file's new contents atomically at close: old or new, never torn.
        with self.fs.open(path, "wb") as f:
            f.write(data)

    def _ctx(self, meter):
        k = self.keys.entries[meter]
        return k[0], k[2], self._edir(meter, k[0])

    def _load(self, meter, ctx, kind, slot):
        epoch, key, d = ctx
        if kind == R.KIND_DAY:
            path, ln = d + "/d%d" % slot, R.DAY_LEN
        else:
            path, ln = d + "/m%d" % slot, R.MONTH_LEN
        data = self._read(path)
        if data is None:
            return None
        p = R.open_sealed(data, kind, meter, epoch, key, ln)
        if p is None:
            self.c.inc("bad_files")
        return p

    def _store(self, meter, ctx, kind, slot, payload):
        epoch, key, d = ctx
        name = ("/d%d" if kind == R.KIND_DAY else "/m%d") % slot
        self._write(d + name, R.seal(kind, meter, epoch, key, os.urandom(8), payload))

    # ---- boot ----

    def _open(self):
        fresh = not self.keys.load()
        if fresh:
            self._rmtree(self.root)
        self._mkdir(self.root)
        for m in range(self.n):
            md = self._mdir(m)
            self._mkdir(md)
            cur = "%08x" % self.keys.epoch(m)
            for ent in list(self.fs.ilistdir(md)):
                if ent[0] != cur:
                    log.info(_TAG, "%s: removing stale epoch dir %s", FU.KEYS[m], ent[0])
                    p = md + "/" + ent[0]
                    if ent[1] == _DIR:
                        self._rmtree(p)
                    else:
                        self.fs.remove(p)
            self._mkdir(md + "/" + cur)
            ctx = self._ctx(m)
            for s in range(DAY_RING):
                p = self._load(m, ctx, R.KIND_DAY, s)
                if p is not None:
                    self._newest_day[m] = max(self._newest_day[m], R.rec_index(p))

    # ---- append / flush ----

    def visible_from(self, meter):
        return self.keys.visible_from(meter)

    def epoch(self, meter):
        return self.keys.epoch(meter)

    def append(self, meter, t_s, energy_wh, cost_mp, standing_mp=None):
        # One half-hour interval starting at t_s (floored to the half hour). cost_mp is the energy
        # cost of the interval; standing_mp (optional) is the standing charge of its whole UTC
        # day (last value wins). Returns False if refused (before visible_from, or older than the
        # half-hour ring). Durable once flushed: at `batch` records, at a day change, or flush().
        t_s -= t_s % _HH_S
        if t_s < self.keys.visible_from(meter):
            self.c.inc("rejected_vf")
            return False
        day = t_s // _DAY_S
        if day <= self._newest_day[meter] - DAY_RING:
            self.c.inc("rejected_old")
            return False
        pend = self._pending[meter]
        if pend and pend[0][0] // _DAY_S != day:
            self.flush(meter)
        pend.append((t_s, energy_wh, cost_mp))
        if standing_mp is not None:
            pend.append((day * _DAY_S, _STANDING, standing_mp))
        self.c.inc("appended")
        if len(pend) >= self.batch:
            self.flush(meter)
        return True

    def pending(self, meter):
        return len(self._pending[meter])

    def _apply(self, p, pend):
        ds = R.rec_index(p) * _DAY_S
        for t, e, c in pend:
            if e == _STANDING:
                fl, _, bfe, bfc = R.day_meta(p)
                R.set_day_meta(p, fl, c, bfe, bfc)
            else:
                R.set_day_slot(p, (t - ds) // _HH_S, e, c)

    def _day_for_write(self, meter, ctx, day):
        # Payload of `day` to update, folding a ring predecessor into its month first.
        # None if `day` is older than what its ring slot holds.
        cur = self._load(meter, ctx, R.KIND_DAY, day % DAY_RING)
        if cur is None:
            return R.new_day(day)
        held = R.rec_index(cur)
        if held == day:
            return cur
        if held > day:
            return None
        self._fold(meter, ctx, cur)
        return R.new_day(day)

    def flush(self, meter=None):
        if meter is None:
            for m in range(self.n):
                self.flush(m)
            return
        pend = self._pending[meter]
        if not pend:
            return
        day = pend[0][0] // _DAY_S
        ctx = self._ctx(meter)
        p = self._day_for_write(meter, ctx, day)
        if p is None:
            self.c.inc("rejected_old")
        else:
            self._apply(p, pend)
            self._store(meter, ctx, R.KIND_DAY, day % DAY_RING, p)
            if day > self._newest_day[meter]:
                self._newest_day[meter] = day
            self.c.inc("flushes")
        self._pending[meter] = []

    # ---- day totals ----

    def _day_total(self, meter, p):
        # (energy_wh, cost_mp, month flags) of a day payload, or None; only consumption at/after
        # visible_from counts. A day straddling visible_from keeps only its post-vf intervals
        # (no standing charge, no meter backfill: they cannot be split exactly).
        vf = self.keys.visible_from(meter)
        ds = R.rec_index(p) * _DAY_S
        fl, standing, bfe, bfc = R.day_meta(p)
        se = sc = n = 0
        for i in range(B.SLOTS_PER_DAY):
            s = R.day_slot(p, i)
            if s is not None and ds + i * _HH_S >= vf:
                se += s[0]
                sc += s[1]
                n += 1
        if ds >= vf:
            if fl & R.DF_BACKFILL and bfe >= se:
                return bfe, bfc, R.MF_BACKFILL
            if n == 0 and not standing:
                return None
            return se, sc + standing, 0
        if n == 0:
            return None
        return se, sc, R.MF_POSTVF

    def _fold(self, meter, ctx, p):
        # Write the total of day payload p into its month file (idempotent).
        tot = self._day_total(meter, p)
        if tot is None:
            return
        day = R.rec_index(p)
        mi = B.month_index_of_day(day)
        m = self._month_for_write(meter, ctx, mi)
        if m is None:
            return
        i = day - B.month_first_day(mi)
        if R.month_day(m, i) == tot:
            return
        R.set_month_day(m, i, tot[0], tot[1], tot[2])
        self._store(meter, ctx, R.KIND_MONTH, mi % MONTH_RING, m)
        self.c.inc("folds")

    def _month_for_write(self, meter, ctx, mi):
        cur = self._load(meter, ctx, R.KIND_MONTH, mi % MONTH_RING)
        if cur is None:
            return R.new_month(mi)
        held = R.rec_index(cur)
        if held == mi:
            return cur
        if held > mi:
            return None
        return R.new_month(mi)

    # ---- queries ----

    def _day_payload(self, meter, day, cache):
        # Day payload (with pending records applied) or None; cache: dict for one query.
        key = day % DAY_RING  # int keys: day files 0..9, month files 100.. (no tuple per day)
        if key not in cache:
            cache[key] = self._load(meter, self._ctx(meter), R.KIND_DAY, day % DAY_RING)
        p = cache[key]
        if p is not None and R.rec_index(p) != day:
            p = None
        pend = self._pending[meter]
        if pend and pend[0][0] // _DAY_S == day:
            p = R.new_day(day) if p is None else bytearray(p)
            self._apply(p, pend)
        return p

    def _day_value(self, meter, day, cache, mi=-1):
        # (energy_wh, cost_mp, flags) of a day or None. mi: its month index if the caller knows.
        p = self._day_payload(meter, day, cache)
        if p is not None:
            return self._day_total(meter, p)
        if mi < 0:
            mi = B.month_index_of_day(day)
        key = 100 + mi % MONTH_RING
        if key not in cache:
            cache[key] = self._load(meter, self._ctx(meter), R.KIND_MONTH, mi % MONTH_RING)
        m = cache[key]
        if m is None or R.rec_index(m) != mi:
            return None
        v = R.month_day(m, day - B.month_first_day(mi))
        if v is None:
            return None
        ds = day * _DAY_S
        vf = self.keys.visible_from(meter)
        if ds < vf and not (v[2] & R.MF_POSTVF and ds + _DAY_S > vf):
            return None  # defence in depth: never serve pre-visible_from days
        return v

    def day_value(self, meter, day, cache=None):
        # (energy_wh, cost_mp, flags) of UTC day `day` as series() counts it, or None (no data,
        # or the day ends at/before visible_from). history.view keeps its buckets with this.
        if (day + 1) * _DAY_S <= self.keys.visible_from(meter):
            return None
        return self._day_value(meter, day, {} if cache is None else cache)

    def series(self, meter, res, now_s, count, cache=None):
        # The `count` most recent buckets of resolution res (buckets.RES_*) up to the one holding
        # now_s, oldest first: [(start_s, end_s, energy_wh, cost_mp, n)], n = number of
        # half-hours (RES_HALF_HOUR: 0/1) or days with data; 0 means "no data" (show blank).
        # cache: a dict shared by queries made together (files are then read once); it must not
        # outlive a store change.
        vf = self.keys.visible_from(meter)
        if cache is None:
            cache = {}
        out = []
        for s in B.bucket_starts(res, now_s, count):
            end = B.bucket_end(res, s)
            e = c = n = 0
            if res == B.RES_HALF_HOUR:
                p = self._day_payload(meter, s // _DAY_S, cache) if s >= vf else None
                v = None if p is None else R.day_slot(p, B.slot_of(s))
                if v is not None:
                    e, c, n = v[0], v[1], 1
            else:
                mi = B.month_index_of_day(s // _DAY_S) if res == B.RES_MONTH else -1
                for day in range(s // _DAY_S, end // _DAY_S):
                    if (day + 1) * _DAY_S <= vf:
                        continue
                    v = self._day_value(meter, day, cache, mi)
                    if v is not None:
                        e += v[0]
                        c += v[1]
                        n += 1
            out.append((s, end, e, c, n))
        return out

    def today(self, meter, now_s, cache=None):
        # The 48 half-hours of the UTC day holding now_s.
        return self.series(meter, B.RES_HALF_HOUR, B.day_start(now_s) + _DAY_S - 1, 48, cache)

    def dump(self, meter):
        # Everything the store would show, canonical and sorted (tests, export cross-check):
        # [("hh", start_s, energy_wh, cost_mp), ("day", start_s, energy_wh, cost_mp, flags)].
        vf = self.keys.visible_from(meter)
        ctx = self._ctx(meter)
        out = []
        days = set()
        for s in range(DAY_RING):
            p = self._load(meter, ctx, R.KIND_DAY, s)
            if p is not None:
                days.add(R.rec_index(p))
        for s in range(MONTH_RING):
            m = self._load(meter, ctx, R.KIND_MONTH, s)
            if m is not None:
                mi = R.rec_index(m)
                f = B.month_first_day(mi)
                for i in range(31):
                    if R.month_day(m, i) is not None:
                        days.add(f + i)
        pend = self._pending[meter]
        if pend:
            days.add(pend[0][0] // _DAY_S)
        cache = {}
        for day in sorted(days):
            p = self._day_payload(meter, day, cache)
            if p is not None:
                for i in range(B.SLOTS_PER_DAY):
                    v = R.day_slot(p, i)
                    t = day * _DAY_S + i * _HH_S
                    if v is not None and t >= vf:
                        out.append(("hh", t, v[0], v[1]))
            v = self._day_value(meter, day, cache)
            if v is not None:
                out.append(("day", day * _DAY_S, v[0], v[1], v[2]))
        return out

    # ---- backfill from the meter's own history ----

    def backfill_day(self, meter, day_start_s, energy_wh, cost_mp):
        # Fill a UTC day total from the meter's history (Metering 0x0403/0x0420.., Prepayment
        # 0x051E/0x0520..) only where the store has a gap: refused if the day starts before
        # visible_from, already has a backfill, has all 48 real intervals, or its real intervals
        # already sum to more. Real intervals are kept (the half-hour view still shows them).
        if day_start_s % _DAY_S or day_start_s < self.keys.visible_from(meter):
            self.c.inc("backfill_refused")
            return False
        day = day_start_s // _DAY_S
        pend = self._pending[meter]
        if pend and pend[0][0] // _DAY_S == day:
            self.flush(meter)
        ctx = self._ctx(meter)
        if day > self._newest_day[meter] - DAY_RING:
            p = self._day_for_write(meter, ctx, day)
            if p is not None:
                fl, standing, _, _ = R.day_meta(p)
                se = n = 0
                for i in range(B.SLOTS_PER_DAY):
                    s = R.day_slot(p, i)
                    if s is not None:
                        se += s[0]
                        n += 1
                if fl & R.DF_BACKFILL or n == B.SLOTS_PER_DAY or energy_wh < se:
                    self.c.inc("backfill_refused")
                    return False
                R.set_day_meta(p, fl | R.DF_BACKFILL, standing, energy_wh, cost_mp)
                self._store(meter, ctx, R.KIND_DAY, day % DAY_RING, p)
                if day > self._newest_day[meter]:
                    self._newest_day[meter] = day
                self.c.inc("backfilled")
                return True
        mi = B.month_index_of_day(day)
        m = self._month_for_write(meter, ctx, mi)
        i = day - B.month_first_day(mi)
        if m is None or R.month_day(m, i) is not None:
            self.c.inc("backfill_refused")
            return False
        R.set_month_day(m, i, energy_wh, cost_mp, R.MF_BACKFILL)
        self._store(meter, ctx, R.KIND_MONTH, mi % MONTH_RING, m)
        self.c.inc("backfilled")
        return True

    # ---- change of tenancy ----

    def truncate(self, meter, t_s):
        # Forget everything of `meter` before t_s, unrecoverably. Returns when done (old key
        # destroyed). Cost is bounded by the ring sizes, not by the history length.
        old = self._ctx(meter)
        if t_s <= self.keys.visible_from(meter):
            return False
        pend = [r for r in self._pending[meter] if r[0] >= t_s]
        self._pending[meter] = []
        new_epoch = old[0] + 1
        new = (new_epoch, new_key(), self._edir(meter, new_epoch))
        self._rmtree(new[2])  # remains of an interrupted attempt
        self.fs.mkdir(new[2])
        for s in range(DAY_RING):
            p = self._load(meter, old, R.KIND_DAY, s)
            if p is None:
                continue
            ds = R.rec_index(p) * _DAY_S
            if ds + _DAY_S <= t_s:
                continue
            if ds < t_s:
                n = 0
                for i in range(B.SLOTS_PER_DAY):
                    if ds + i * _HH_S < t_s:
                        R.clear_day_slot(p, i)
                    elif R.day_slot(p, i) is not None:
                        n += 1
                R.set_day_meta(p, R.DF_POSTVF, 0, 0, 0)
                if n == 0:
                    continue
            self._store(meter, new, R.KIND_DAY, s, p)
        for s in range(MONTH_RING):
            m = self._load(meter, old, R.KIND_MONTH, s)
            if m is None:
                continue
            first = B.month_first_day(R.rec_index(m))
            keep = False
            for i in range(31):
                if R.month_day(m, i) is None:
                    continue
                if (first + i) * _DAY_S >= t_s:
                    keep = True
                else:
                    R.clear_month_day(m, i)  # a straddling day lives on in its day file, if any
            if keep:
                self._store(meter, new, R.KIND_MONTH, s, m)
        # Commit point: new key + visible_from replace the old key (whose slot is erased).
        self.keys.entries[meter] = [new_epoch, t_s, new[1]]
        self.keys.commit()
        self._rmtree(old[2])
        self._pending[meter] = pend
        self.c.inc("truncations")
        log.info(_TAG, "%s truncated before %d (epoch %d)", FU.KEYS[meter], t_s, new_epoch)
        return True
