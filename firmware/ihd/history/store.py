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
#
# Export (generation fed to the grid: Metering CurrentSummationReceived) is a third slot, EXPORT,
# the electricity meter's other flow direction: the same day / month formats (cost 0: the HAN
# carries no export tariff), its files in a subdirectory of electricity's epoch directory,
#   <root>/elec/<epoch %08x>/x/d<day % 10>, m<month % 15>   (file header meter byte 2)
# sealed with electricity's key, served from electricity's visible_from. So the key region is
# unchanged and one commit point truncates both directions: truncate(ELEC) copies the post-T
# export files into the new epoch directory before the key commit, and removing the old epoch
# directory removes the old export with it. Its ledger is <root>/l/export (sealed with the same
# key) but has no copy in the key region (keys.py holds two meters' witnesses): a revert of the
# whole history directory is detected for import, not for export. Nothing is written, and no
# RAM is used beyond a few list entries, until the first half-hour with export is appended
# (a zero export half-hour is not stored: docs/history.md "Export").
import os

from micropython import const

from ihd.history import buckets as B
from ihd.history import records as R
from ihd.history.keys import new_key
from ihd.runtime import atomic, clock, log
from ihd.runtime.counters import Counters
from ihd.state import fuels as FU

_TAG = "history"
DAY_RING = const(10)  # today + 9 previous days of half-hour detail (>= 8 required)
MONTH_RING = const(15)  # current month + 14 previous months of day totals (>= 13 required)
_DAY_S = const(86400)
_HH_S = const(1800)
_DIR = const(0x4000)
_STANDING = const(-1)  # pending marker: (day_start_s, _STANDING, standing_mp)
_FUTURE_SLACK_DAYS = const(1)  # a day file up to this far after the clock's day is not future
_ENOENT = const(2)
_PRESENT = const(0)  # _check: how a ring file was found
_MISSING = const(1)
_UNREADABLE = const(2)
_DAMAGED = const(3)
_NFILES = const(25)  # ring files per meter and epoch: DAY_RING + MONTH_RING (the ledger)
_LEDGER_LEN = const(33)  # records.LEDGER_HDR + _NFILES
_C_DAY = const(-1)  # query cache keys (_day_payload): the day whose payload is held, the payload
_C_DAYP = const(-2)
_C_MONTH = const(-3)  # the month index whose payload is held, the payload
_C_MONTHP = const(-4)
_C_RING = const(-20)  # -20..-11: the day index ring file s holds (-1: none), once read
_FILE_MAX = const(428)  # the longest file: a day, records.HDR_LEN + DAY_LEN + crc
EXPORT = FU.EXPORT  # the export slot (electricity's other flow direction)
_NAMES = FU.KEYS + ("export",)  # logs and the ledger file name per slot
_KM = (FU.ELEC, FU.GAS, FU.ELEC)  # per slot: the key region entry (key, epoch, visible_from)
_XDIR = "/x"  # the export files' subdirectory of electricity's epoch directory


def _ahead(a, b):
    # Ledger payload a says more than b (None: nothing): newer bases, or more rows.
    if b is None:
        return True
    ka, kb = R.ledger_base(a), R.ledger_base(b)
    if ka != kb:
        return ka > kb
    na = nb = 0
    for i in range(R.LEDGER_HDR, len(a)):
        na += a[i] & R.LG_ROWS
        nb += b[i] & R.LG_ROWS
    return na > nb


class _Ledger:
    # RAM ledger of one meter's epoch: per ring file (day ring, then month ring) the index it
    # holds (-1 none), its ledger byte (records.py: rows | LG_BACKFILL), and whether it was
    # reported unreadable already (not counted again).
    def __init__(self, epoch):
        self.epoch = epoch
        self.idx = [-1] * _NFILES
        self.rows = bytearray(_NFILES)
        self.bad = bytearray(_NFILES)


class HistoryStore:
    def __init__(self, fs, keys, root="/hist", batch=8, n_meters=2):
        # n_meters: the key region's meters (elec, gas); the store has one slot more, EXPORT.
        n_meters += 1
        self._rbuf = bytearray(_FILE_MAX + 1)  # every ring / ledger file is read into it
        self._rmv = memoryview(self._rbuf)
        # Each meter's day file as last written (day_value: the view asks for the day's total
        # at every closed half-hour; this answers without opening the file). The pending
        # records are applied to a copy in the read buffer (no file is being read then). Not
        # for EXPORT: the view keeps its own export half-hours (view.py), 0 B when no export.
        self._hot = memoryview(bytearray(R.DAY_LEN * EXPORT))
        self._hot_day = [-1] * n_meters  # the day _hot holds (-1: none)
        self._hot_ep = [-1] * n_meters  # in this epoch
        self._scr = self._rmv[: R.DAY_LEN]
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
                "backfilled_hh",
                "folds",
                "truncations",
                "future_files",
                "rows_lost",
                "bad_missing",
                "bad_rollbacks",
                "read_errors",
                "ledger_errors",
            ),
        )
        self._open()

    # ---- paths and file I/O (the thin I/O layer) ----

    def _mdir(self, meter):
        return self.root + "/" + _NAMES[_KM[meter]]

    def _edir(self, meter, epoch):
        d = self._mdir(meter) + "/%08x" % epoch
        return d + _XDIR if meter == EXPORT else d

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
        # -> the file's bytes, or None. A missing file is None quietly, and so is an empty one
        # (what a power cut while creating it leaves: littlefs commits the create at open, the
        # data at close). Any other error (littlefs reports damaged metadata as EILSEQ 84, a
        # device EIO 5) is logged and counted, and is None too: _load accounts for what the
        # file held (the ledger below).
        # The bytes are a view of one buffer made at start-up, valid until the next _read: a
        # read allocates nothing the size of a file (docs/boards.md "Fragmentation"). A file too
        # long for it fills it and one byte more, which no record length matches.
        # The file-open spare (runtime/atomic.py) is lent for the file object's 636 B and the
        # payload _sealed() then makes; _sealed() takes it back (here, when there is no data).
        atomic.spare_lend()
        n = 0
        try:
            with self.fs.open(path, "rb") as f:
                n = f.readinto(self._rbuf)
        except OSError as e:
            if e.args and e.args[0] != _ENOENT:
                self.c.inc("read_errors")
                log.warn(_TAG, "%s unreadable (%s)", path, e)
        except MemoryError:
            atomic.spare_keep()
            raise
        if not n:
            atomic.spare_keep()
            return None
        return self._rmv[:n]

    def _sealed(self, data, kind, meter, epoch, key, length):
        # R.open_sealed of what _read gave, then the spare back.
        try:
            return R.open_sealed(data, kind, meter, epoch, key, length)
        finally:
            atomic.spare_keep()

    def _write(self, path, data):
        # littlefs commits a file's new contents atomically at close: old or new, never torn.
        atomic.spare_lend()
        try:
            with self.fs.open(path, "wb") as f:
                f.write(data)
        finally:
            atomic.spare_keep()

    def _ctx(self, meter):
        k = self.keys.entries[_KM[meter]]
        return k[0], k[2], self._edir(meter, k[0])

    def _load(self, meter, ctx, kind, slot):
        # A ring file's payload or None, checked against the ledger (a file that is unreadable,
        # missing or older than the store wrote it is a drop: logged and counted, once).
        epoch, key, d = ctx
        if kind == R.KIND_DAY:
            path, ln, i = d + "/d%d" % slot, R.DAY_LEN, slot
        else:
            path, ln, i = d + "/m%d" % slot, R.MONTH_LEN, DAY_RING + slot
        led = self._ledger(meter, ctx)
        data = self._read(path)
        p = None if data is None else self._sealed(data, kind, meter, epoch, key, ln)
        if led is None:  # the new epoch of a truncation in progress (ledgered when current)
            if p is None and data is not None:
                self.c.inc("bad_files")
            return p
        if p is None:
            if data is not None and not led.bad[i]:
                led.bad[i] = 1
                self._bad_file(meter, kind, slot, led.rows[i])
            if led.rows[i]:
                how = _MISSING if data is None else _UNREADABLE
                self._check(meter, kind, slot, led.idx[i], led.rows[i], 0, -1, 0, how)
                led.idx[i] = -1
                led.rows[i] = 0
                self._ledger_write(meter, ctx, led)  # reported: not again after a reboot
            return p
        ai = R.rec_index(p)
        ar = R.day_rows(p) if kind == R.KIND_DAY else R.month_rows(p)
        if ai != led.idx[i] or ar != led.rows[i]:
            # littlefs fell back to an older commit since the audit (or the file changed)
            self._check(meter, kind, slot, led.idx[i], led.rows[i], 0, ai, ar, _PRESENT)
            led.idx[i] = ai
            led.rows[i] = ar
            led.bad[i] = 0
            self._ledger_write(meter, ctx, led)
        return p

    def _store(self, meter, ctx, kind, slot, payload):
        epoch, key, d = ctx
        name = ("/d%d" if kind == R.KIND_DAY else "/m%d") % slot
        # sealed in the read buffer (nothing read is in use here): no file-sized allocation
        out = self._rmv[: R.HDR_LEN + len(payload) + 4]
        hot = kind == R.KIND_DAY and meter != EXPORT
        if hot:
            self._hot_day[meter] = -1  # until the new contents are on flash
        elif meter == EXPORT:
            self._mkdir(d)  # the first export file of the epoch
        self._write(d + name, R.seal(kind, meter, epoch, key, os.urandom(8), payload, out))
        if hot:
            o = meter * R.DAY_LEN
            self._hot[o : o + R.DAY_LEN] = payload
            self._hot_day[meter] = R.rec_index(payload)
            self._hot_ep[meter] = epoch
        self._noted(meter, ctx, kind, slot, payload)

    # ---- flash faults: the ledger (what each ring file should hold) ----
    # A flipped bit in a file makes it unreadable (crc). One in littlefs metadata makes littlefs
    # fall back to an older commit: a file then reads as an older version of itself, or is
    # gone, and nothing in it says so. To tell a lost file from an empty slot, the store keeps
    # per meter a ledger of what it last wrote into each ring file (index held, rows: records.py
    # "Ledger payload"), in RAM and in <root>/l/<meter>: sealed with the epoch key, rewritten
    # after every file write, in another directory than the files (other littlefs metadata
    # blocks: one bad block cannot take both back). Every file read is checked against the RAM
    # ledger; the first read of a meter after boot checks every ring file against the ledger
    # on flash (the audit) and rebuilds the ledger from the files when it is missing or of
    # another epoch (a truncation since: the new epoch is ledgered from its files when it
    # becomes current). A drop is logged with what was lost (meter, file, day or month, rows)
    # and counted: rows_lost (half-hours, day totals, meter day totals), bad_files
    # (unreadable), bad_missing (gone), bad_rollbacks (an older version), once per drop.

    _leds = None  # per meter _Ledger of its current epoch (made on first use by _ledger)

    def _ledger(self, meter, ctx):
        # The RAM ledger of ctx's epoch if it is the meter's current one (audited on first use).
        epoch = ctx[0]
        if epoch != self.keys.epoch(_KM[meter]):
            return None
        leds = self._leds
        if leds is None:
            leds = self._leds = [None] * self.n
        led = leds[meter]
        if led is None or led.epoch != epoch:
            led = leds[meter] = self._audit(meter, ctx)
        return led

    def _noted(self, meter, ctx, kind, slot, payload):
        # After a ring file write: the ledger follows (RAM, then flash).
        led = self._ledger(meter, ctx)
        if led is None:
            return
        i = slot if kind == R.KIND_DAY else DAY_RING + slot
        idx = R.rec_index(payload)
        new = led.idx[i] != idx  # a new day (month) in its ring position: the copy follows
        led.idx[i] = idx
        led.rows[i] = R.day_rows(payload) if kind == R.KIND_DAY else R.month_rows(payload)
        led.bad[i] = 0
        self._ledger_write(meter, ctx, led, new)

    def _witness_write(self, meter, p):
        # The ledger's copy in the raw key region (outside littlefs: keys.py "witness").
        try:
            self.keys.set_witness(meter, p)
            self.keys.commit()
        except OSError as e:
            self.c.inc("ledger_errors")
            log.warn(_TAG, "%s: ledger copy not written to the key region (%s)", _NAMES[meter], e)

    def _forget(self, meter, kind, slot):
        # Call after removing a ring file on purpose: its rows are no longer expected.
        leds = self._leds
        led = None if leds is None else leds[meter]
        if led is not None and led.epoch == self.keys.epoch(_KM[meter]):
            i = slot if kind == R.KIND_DAY else DAY_RING + slot
            led.idx[i] = -1
            led.rows[i] = led.bad[i] = 0
            self._ledger_write(meter, self._ctx(meter), led)

    def _lpath(self, meter):
        return self.root + "/l/" + _NAMES[meter]

    def _ledger_payload(self, led):
        bd = bm = 0
        rows = bytearray(led.rows)
        for i in range(_NFILES):
            if rows[i]:
                if i < DAY_RING:
                    bd = max(bd, led.idx[i])
                else:
                    bm = max(bm, led.idx[i])
        for i in range(_NFILES):
            if rows[i] and led.idx[i] <= (bd - DAY_RING if i < DAY_RING else bm - MONTH_RING):
                rows[i] |= R.LG_OLDER
        return R.ledger_pack(bd, bm, rows)

    def _ledger_write(self, meter, ctx, led, copy=False):
        # -> the payload written, or None. Never raises OSError: the files are the data, the
        # ledger only their inventory. Its copy in the key region follows when `copy` (a new
        # file: about once a day), when there is none for this epoch yet, and when the ledger
        # went below it (a drop, a removal): so the copy is never ahead of a written ledger.
        p = self._ledger_payload(led)
        try:
            self._mkdir(self.root + "/l")
            self._write(
                self._lpath(meter), R.seal(R.KIND_LEDGER, meter, ctx[0], ctx[1], os.urandom(8), p)
            )
        except OSError as e:
            self.c.inc("ledger_errors")
            log.warn(_TAG, "%s: ledger not written (%s)", _NAMES[meter], e)
            return None
        if meter == EXPORT:
            return p  # no copy in the key region (see the header)
        w = self.keys.witness[meter]
        if copy or w is None or w[0] != ctx[0] or _ahead(w[1], p):
            self._witness_write(meter, p)
        return p

    def _ledger_read(self, meter, ctx):
        # -> the flash ledger payload of ctx's epoch, or None (missing, of another epoch, or
        # unreadable: logged and counted; then losses before this boot cannot be told).
        data = self._read(self._lpath(meter))
        if data is None:
            return None
        p = self._sealed(data, R.KIND_LEDGER, meter, ctx[0], ctx[1], _LEDGER_LEN)
        if p is None and R.sealed_epoch(data) == ctx[0]:
            self.c.inc("ledger_errors")
            log.warn(_TAG, "%s: ledger unreadable: rebuilt from the files", _NAMES[meter])
        return p

    def _audit(self, meter, ctx):
        # Every ring file of ctx's epoch against the flash ledger -> the RAM ledger (what the
        # files hold now). Drops are logged and counted; the flash ledger is rewritten if it
        # differs (so a drop is reported once, across reboots too).
        epoch, key, d = ctx
        led = _Ledger(epoch)
        lp = self._ledger_read(meter, ctx)
        w = self.keys.witness[meter] if meter != EXPORT else None
        wp = w[1] if w is not None and w[0] == epoch else None
        atleast = False
        if wp is not None and _ahead(wp, lp):
            # littlefs took the ledger back with the files (a directory above them): the key
            # region's daily copy says more. Exact up to that copy, a lower bound after it.
            self.c.inc("ledger_errors")
            log.warn(_TAG, "%s: ledger behind its copy in the key region (littlefs took it back):"
                     " files checked against the copy", _NAMES[meter])  # fmt: skip
            lp = wp
            atleast = True
        bd = bm = 0
        if lp is not None:
            bd, bm = R.ledger_base(lp)
        for i in range(_NFILES):
            if i < DAY_RING:
                kind, slot, name, ln = R.KIND_DAY, i, "/d%d", R.DAY_LEN
            else:
                kind, slot, name, ln = R.KIND_MONTH, i - DAY_RING, "/m%d", R.MONTH_LEN
            data = self._read(d + name % slot)
            p = None if data is None else self._sealed(data, kind, meter, epoch, key, ln)
            ai = ar = -1
            if p is not None:
                ai = R.rec_index(p)
                ar = R.day_rows(p) if kind == R.KIND_DAY else R.month_rows(p)
                led.idx[i] = ai
                led.rows[i] = ar
            how = _PRESENT if p is not None else _MISSING if data is None else _UNREADABLE
            ring = DAY_RING if kind == R.KIND_DAY else MONTH_RING
            ei = older = -1
            er = 0
            if lp is not None:
                er = lp[R.LEDGER_HDR + i]
                base = bd if kind == R.KIND_DAY else bm
                if er & R.LG_OLDER:
                    ei, older = -2, base - ring  # some index <= older
                else:
                    ei = base - (base - slot) % ring  # the one in (base - ring, base]
            elif how == _UNREADABLE:  # no ledger (a new epoch): estimate from the damaged copy
                q = R.open_damaged(data, kind, meter, epoch, key, ln)
                if q is not None and R.rec_index(q) % ring == slot:
                    er = R.day_rows(q) if kind == R.KIND_DAY else R.month_rows(q)
                    ei = R.rec_index(q)
                    how = _DAMAGED
            if how >= _UNREADABLE:
                led.bad[i] = 1
                self._bad_file(meter, kind, slot, er)
            if er:
                self._check(meter, kind, slot, ei, er & ~R.LG_OLDER, older, ai, ar, how, atleast)
        keep = lp is not None or any(led.rows) or any(led.bad)
        if keep and (atleast or lp is None or lp != self._ledger_payload(led)):
            self._ledger_write(meter, ctx, led)  # (and its copy: reported once)
        return led

    def _bad_file(self, meter, kind, slot, expected):
        # An unreadable ring file (counted once); _check logs what it held, if anything.
        self.c.inc("bad_files")
        if not expected & (R.LG_ROWS | R.LG_BACKFILL):
            log.warn(_TAG, "%s %s%d unreadable (no rows expected in it)", _NAMES[meter],
                     "d" if kind == R.KIND_DAY else "m", slot)  # fmt: skip

    def _check(self, meter, kind, slot, ei, er, older, ai, ar, how, atleast=False):
        # What the ledger expects of a ring file (index ei, or -2: some index <= older; ledger
        # byte er) against what it holds (index ai, ledger byte ar; how: _PRESENT, or ai < 0
        # and why not: _MISSING, _UNREADABLE, _DAMAGED = unreadable and er counted in the damaged
        # copy, for want of a ledger). A drop is logged and counted -> True.
        want = er & R.LG_ROWS
        if not (want or er & R.LG_BACKFILL):
            return False
        if ai < 0:
            lost, bf = want, er & R.LG_BACKFILL
            if how == _MISSING:
                self.c.inc("bad_missing")
        elif (ei == -2 and ai > older) or ai > ei >= 0:
            return False  # newer than the ledger (its write was cut): nothing lost
        elif ai == ei or ei == -2:
            lost = want - (ar & R.LG_ROWS)
            if lost < 0:
                lost = 0
            bf = er & R.LG_BACKFILL and not ar & R.LG_BACKFILL
            if not (lost or bf):
                return False
        else:  # an older index than written: the whole expected file is gone
            lost, bf = want, er & R.LG_BACKFILL
        if ai >= 0:
            self.c.inc("bad_rollbacks")
        n = lost + (1 if bf else 0)
        self.c.inc("rows_lost", n)
        day = kind == R.KIND_DAY
        if ei == -2:
            what = "a %s before %s" % ("day" if day else "month", self._when(kind, older + 1))
        else:
            what = self._when(kind, ei)
        if ai < 0:
            why = ("file missing", "file unreadable", "file unreadable; rows as counted in it")[
                how - _MISSING
            ]
        else:
            why = "littlefs fell back to an older version: holds %s, %d rows" % (
                self._when(kind, ai),
                ar & R.LG_ROWS,
            )
        log.warn(_TAG, "%s %s%d %s: %s%d %s%s lost (%s)", _NAMES[meter], "d" if day else "m",
                 slot, what, "at least " if atleast else "", lost,
                 "half-hour(s)" if day else "day total(s)",
                 " + the meter's day total" if bf else "", why)  # fmt: skip
        return True

    def _when(self, kind, idx):
        if kind == R.KIND_DAY:
            y, m, d = B.civil_from_days(idx)
            return "%04d-%02d-%02d" % (y, m, d)
        return "%04d-%02d" % (2000 + idx // 12, idx % 12 + 1)

    # ---- boot ----

    def _open(self):
        fresh = not self.keys.load()
        if fresh:
            self._rmtree(self.root)
        self._mkdir(self.root)
        for m in range(self.n):
            if m == EXPORT:  # inside electricity's epoch directory, cleaned with it
                if self._exists(self._ctx(m)[2]):
                    self._boot_newest(m)
                continue
            md = self._mdir(m)
            self._mkdir(md)
            cur = "%08x" % self.keys.epoch(m)
            for ent in list(self.fs.ilistdir(md)):
                if ent[0] != cur:
                    log.info(_TAG, "%s: removing stale epoch dir %s", _NAMES[m], ent[0])
                    p = md + "/" + ent[0]
                    if ent[1] == _DIR:
                        self._rmtree(p)
                    else:
                        self.fs.remove(p)
            self._mkdir(md + "/" + cur)
            self._boot_newest(m)

    def _boot_newest(self, m):
        ctx = self._ctx(m)
        for s in range(DAY_RING):
            p = self._load(m, ctx, R.KIND_DAY, s)
            if p is not None:
                self._newest_day[m] = max(self._newest_day[m], R.rec_index(p))
        self._repair_if_future(m, self._newest_day[m])  # only if the clock is set already

    # ---- append / flush ----

    def visible_from(self, meter):
        return self.keys.visible_from(_KM[meter])

    def epoch(self, meter):
        return self.keys.epoch(_KM[meter])

    def append(self, meter, t_s, energy_wh, cost_mp, standing_mp=None):
        # One half-hour interval starting at t_s (floored to the half hour). cost_mp is the energy
        # cost of the interval; standing_mp (optional) is the standing charge of its whole UTC
        # day (last value wins). Returns False if refused (before visible_from, or older than the
        # half-hour ring). Durable once flushed: at `batch` records, at a day change, or flush().
        t_s -= t_s % _HH_S
        if t_s < self.keys.visible_from(_KM[meter]):
            self.c.inc("rejected_vf")
            return False
        day = t_s // _DAY_S
        pend = self._pending[meter]
        seen = self._newest_day[meter]
        if pend and pend[0][0] // _DAY_S > seen:
            seen = pend[0][0] // _DAY_S
        if day < seen:  # rare: the store holds a later day; files from a wrong clock?
            self._repair_if_future(meter, seen)
            pend = self._pending[meter]
        if day <= self._newest_day[meter] - DAY_RING:
            self._refused_old(meter, t_s)
            return False
        if pend and pend[0][0] // _DAY_S != day:
            self.flush(meter)
            pend = self._pending[meter]  # flush made a new list: this record goes there
        pend.append((t_s, energy_wh, cost_mp))
        if standing_mp is not None:
            pend.append((day * _DAY_S, _STANDING, standing_mp))
        self.c.inc("appended")
        if len(pend) >= self.batch:
            self.flush(meter)
        return True

    def pending(self, meter):
        return len(self._pending[meter])

    def has_export(self):
        # The store holds (or buffers) export rows of the current epoch's files, or did at boot.
        return self._newest_day[EXPORT] >= 0 or len(self._pending[EXPORT]) > 0

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
            # a later day in its slot: from a wrong clock (removed, the slot is free) or not
            return R.new_day(day) if self._repair_if_future(meter, held) else None
        self._fold(meter, ctx, cur)
        return R.new_day(day)

    def flush(self, meter=None):
        if meter is None:
            for m in range(self.n):
                self.flush(m)
            return
        if not self._pending[meter]:
            return
        # the day payloads a flush makes (404 B each) may use the file-open spare too
        atomic.spare_lend()
        try:
            self._flush(meter)
        finally:
            atomic.spare_keep()

    def _flush(self, meter):
        pend = self._pending[meter]
        day = pend[0][0] // _DAY_S
        ctx = self._ctx(meter)
        p = self._day_for_write(meter, ctx, day)
        if p is None:
            self._refused_old(meter, day * _DAY_S, len(pend))
        else:
            self._apply(p, pend)
            self._store(meter, ctx, R.KIND_DAY, day % DAY_RING, p)
            if day > self._newest_day[meter]:
                self._newest_day[meter] = day
            self.c.inc("flushes")
        self._pending[meter] = []

    def _refused_old(self, meter, t_s, n=1):
        # Records older than the half-hour ring (or than what their slot holds): counted, and
        # logged at the 1st, 2nd, 4th, 8th... refusal (bounded, never silent).
        self.c.inc("rejected_old", n)
        k = self.c.get("rejected_old")
        if k ^ (k - n) > k - n:  # k passed a power of two
            log.warn(_TAG, "%s: %d record(s) from %s refused: older than the half-hour ring"
                     " (its newest day %s; %d refused so far)", _NAMES[meter], n,
                     clock.iso(t_s), clock.iso(self._newest_day[meter] * _DAY_S)[:10],
                     k)  # fmt: skip

    # ---- repair: files dated in the future ----

    def _repair_if_future(self, meter, seen_day):
        # seen_day: a day the store holds (its newest, or a slot's). If it is after the clock's
        # tomorrow, the store holds files written under a wrong clock (e.g. a hub time a year
        # ahead, taken by an older firmware): they would pin the newest day, so every real
        # half-hour is refused as too old (across reboots) and their dates would come round
        # as if real. Repaired at once. -> True if repaired. Needs a synced clock (the clock
        # module judges the hub's time); without one nothing is decided.
        if seen_day < 0 or not clock.synced():
            return False
        limit = clock.now() // _DAY_S + _FUTURE_SLACK_DAYS
        if seen_day <= limit:
            return False
        self._repair_future(meter, limit)
        return True

    def _repair_future(self, meter, limit_day):
        # Removes the meter's day files dated after limit_day, month files of later months and
        # pending records after it; recomputes the newest day. Bounded: one pass over the rings.
        ctx = self._ctx(meter)
        d = ctx[2]
        limit_mi = B.month_index_of_day(limit_day)
        newest = -1
        days = months = 0
        for s in range(DAY_RING):
            p = self._load(meter, ctx, R.KIND_DAY, s)
            if p is None:
                continue
            day = R.rec_index(p)
            if day > limit_day:
                self._hot_day[meter] = -1
                self.fs.remove(d + "/d%d" % s)
                self._forget(meter, R.KIND_DAY, s)  # removed on purpose: no loss
                days += 1
            elif day > newest:
                newest = day
        for s in range(MONTH_RING):
            m = self._load(meter, ctx, R.KIND_MONTH, s)
            if m is not None and R.rec_index(m) > limit_mi:
                self.fs.remove(d + "/m%d" % s)
                self._forget(meter, R.KIND_MONTH, s)
                months += 1
        pend = self._pending[meter]
        keep = [r for r in pend if r[0] // _DAY_S <= limit_day]
        self._pending[meter] = keep
        self._newest_day[meter] = newest
        self.c.inc("future_files", days + months)
        log.warn(_TAG, "%s: %d day file(s), %d month file(s) and %d pending record(s) dated after"
                 " %s removed (written under a wrong clock)", _NAMES[meter], days, months,
                 len(pend) - len(keep), clock.iso((limit_day + 1) * _DAY_S))  # fmt: skip

    # ---- day totals ----

    def _day_total(self, meter, p):
        # (energy_wh, cost_mp, month flags) of a day payload, or None; only consumption at/after
        # visible_from counts. A day's cost includes its standing charge once (docs/meters.md
        # "Standing charge"). A day straddling visible_from keeps only its post-vf intervals and
        # the standing charge written after it (truncate zeroes the day's, a post-vf append
        # sets it); no meter backfill (it cannot be split exactly).
        vf = self.keys.visible_from(_KM[meter])
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
        return se, sc + standing, R.MF_POSTVF

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

    # A query's cache (a dict shared by the queries of one rebuild, history/view.py) holds at
    # most one day payload and one month payload, the values of the ring days it has read and
    # which day each ring file holds: not every file at once (25 payloads, ~10 KB, was a rebuild's
    # peak). Int keys, no tuple per key: a day's value under the day number, the rest below 0.
    def _day_payload(self, meter, day, cache):
        # Day payload (with pending records applied) or None.
        if cache.get(_C_DAY) == day:
            return cache[_C_DAYP]
        slot = day % DAY_RING
        held = cache.get(_C_RING + slot)
        p = None
        if held is None or held == day:  # a file known to hold another day is not read again
            p = self._load(meter, self._ctx(meter), R.KIND_DAY, slot)
            cache[_C_RING + slot] = -1 if p is None else R.rec_index(p)
            if p is not None and R.rec_index(p) != day:
                p = None
        pend = self._pending[meter]
        if pend and pend[0][0] // _DAY_S == day:
            if p is None:
                p = R.new_day(day)
            self._apply(p, pend)  # p is this query's own copy
        cache[_C_DAY] = day
        cache[_C_DAYP] = p
        return p

    def _day_value(self, meter, day, cache, mi=-1):
        # (energy_wh, cost_mp, flags) of a day or None. mi: its month index if the caller knows.
        if day in cache:
            return cache[day]
        p = self._day_payload(meter, day, cache)
        if p is not None:
            v = cache[day] = self._day_total(meter, p)
            return v
        if mi < 0:
            mi = B.month_index_of_day(day)
        if cache.get(_C_MONTH) != mi:
            m = self._load(meter, self._ctx(meter), R.KIND_MONTH, mi % MONTH_RING)
            cache[_C_MONTH] = mi
            cache[_C_MONTHP] = None if m is None or R.rec_index(m) != mi else m
        m = cache[_C_MONTHP]
        if m is None:
            return None
        v = R.month_day(m, day - B.month_first_day(mi))
        if v is None:
            return None
        ds = day * _DAY_S
        vf = self.keys.visible_from(_KM[meter])
        if ds < vf and not (v[2] & R.MF_POSTVF and ds + _DAY_S > vf):
            return None  # defence in depth: never serve pre-visible_from days
        return v

    def day_value(self, meter, day, cache=None):
        # (energy_wh, cost_mp, flags) of UTC day `day` as series() counts it, or None (no data,
        # or the day ends at/before visible_from). history.view keeps its buckets with this.
        if (day + 1) * _DAY_S <= self.keys.visible_from(_KM[meter]):
            return None
        if cache is None:
            # The view's question at every closed half-hour, about the newest days: answered
            # from RAM, opening no file (a 636-byte allocation: docs/boards.md "Fragmentation")
            # when the day has no file yet (after the newest day on flash) or its file is the
            # one last written.
            p = None
            if day > self._newest_day[meter]:
                p = R.blank_day(self._scr, day)
            elif day == self._hot_day[meter] and self._hot_ep[meter] == self.keys.epoch(meter):
                o = meter * R.DAY_LEN
                p = self._scr
                p[:] = self._hot[o : o + R.DAY_LEN]
            if p is not None:
                pend = self._pending[meter]
                if pend and pend[0][0] // _DAY_S == day:
                    self._apply(p, pend)
                return self._day_total(meter, p)
        return self._day_value(meter, day, {} if cache is None else cache)

    def hh_energies(self, meter, day, out):
        # out[i] = the energy of half-hour i of UTC day `day`, or -1 (no data, or before
        # visible_from); 48 small ints, for the view's copy of yesterday (history/view.py). One
        # file read (into the read buffer), nothing per slot.
        vf = self.keys.visible_from(meter)
        p = self._day_payload(meter, day, {})
        ds = day * _DAY_S
        for i in range(B.SLOTS_PER_DAY):
            v = None if p is None or ds + i * _HH_S < vf else R.day_slot(p, i)
            out[i] = -1 if v is None else v[0]

    def series(self, meter, res, now_s, count, cache=None):
        # The `count` most recent buckets of resolution res (buckets.RES_*) up to the one holding
        # now_s, oldest first: [(start_s, end_s, energy_wh, cost_mp, n)], n = number of
        # half-hours (RES_HALF_HOUR: 0/1) or days with data; 0 means "no data" (show blank).
        # cache: a dict shared by queries made together (files are then read once); it must not
        # outlive a store change.
        vf = self.keys.visible_from(_KM[meter])
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
        vf = self.keys.visible_from(_KM[meter])
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
        if day_start_s % _DAY_S or day_start_s < self.keys.visible_from(_KM[meter]):
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

    def newest_missing(self, meter, lo_s, hi_s):
        # The start of the newest half-hour in [lo_s, hi_s) that the store holds no data for
        # (pending records count as data), at/after visible_from and within the half-hour ring;
        # -1 if none. meters/backfill.py asks the meter for what this finds. Reads at most one
        # day file per day scanned (<= DAY_RING).
        lo = max(lo_s, self.keys.visible_from(meter))
        nd = self._newest_day[meter]
        if nd >= 0:
            lo = max(lo, (nd - DAY_RING + 1) * _DAY_S)
        t = hi_s - 1
        t -= t % _HH_S
        cache = {}
        while t >= lo:
            p = self._day_payload(meter, t // _DAY_S, cache)
            if p is None or R.day_slot(p, B.slot_of(t)) is None:
                return t
            t -= _HH_S
        return -1

    def backfill_hh(self, meter, day, get):
        atomic.spare_lend()  # a day payload and the file writes: the file-open spare lent
        try:
            return self._backfill_hh(meter, day, get)
        finally:
            atomic.spare_keep()

    def _backfill_hh(self, meter, day, get):
        # Half-hours of UTC day `day` from the meter's own profile (Metering GetProfile,
        # meters/backfill.py) where the store has none: get(t_s) -> (energy_wh, cost_mp) or
        # None for the half-hour starting at t_s. Never a slot before visible_from, never one
        # that holds data (real readings win; a later append of the device's own reading still
        # replaces a filled slot), never a day older than the half-hour ring or after tomorrow.
        # One file commit for the day (power-fail safe as a flush: the old file or the new
        # one); the day is marked DF_PROFILE. -> the number of half-hours filled.
        ds = day * _DAY_S
        vf = self.keys.visible_from(meter)
        late = clock.synced() and day > clock.now() // _DAY_S + _FUTURE_SLACK_DAYS
        if ds + _DAY_S <= vf or day <= self._newest_day[meter] - DAY_RING or late:
            self.c.inc("backfill_refused")
            return 0
        pend = self._pending[meter]
        if pend and pend[0][0] // _DAY_S == day:
            self.flush(meter)  # the device's own readings first: they win
        ctx = self._ctx(meter)
        p = self._day_for_write(meter, ctx, day)
        if p is None:
            self.c.inc("backfill_refused")
            return 0
        n = 0
        for i in range(B.SLOTS_PER_DAY):
            if ds + i * _HH_S < vf or R.day_slot(p, i) is not None:
                continue
            v = get(ds + i * _HH_S)
            if v is not None:
                R.set_day_slot(p, i, v[0], v[1])
                n += 1
        if not n:
            return 0
        fl, standing, bfe, bfc = R.day_meta(p)
        R.set_day_meta(p, fl | R.DF_PROFILE, standing, bfe, bfc)
        self._store(meter, ctx, R.KIND_DAY, day % DAY_RING, p)
        if day > self._newest_day[meter]:
            self._newest_day[meter] = day
        self.c.inc("backfilled_hh", n)
        return n

    # ---- change of tenancy ----

    def truncate(self, meter, t_s):
        # Forget everything of `meter` before t_s (_truncate), with the file-open spare lent
        # for the rewind's bigger pieces (runtime/atomic.py).
        atomic.spare_lend()
        try:
            return self._truncate(meter, t_s)
        finally:
            atomic.spare_keep()

    def _truncate(self, meter, t_s):
        # Forget everything of `meter` before t_s, unrecoverably. Returns when done (old key
        # destroyed). Cost is bounded by the ring sizes, not by the history length. Electricity
        # takes its export with it (same key, same commit); EXPORT alone is never truncated.
        if meter == EXPORT:
            return False
        old = self._ctx(meter)
        if t_s <= self.keys.visible_from(_KM[meter]):
            return False
        slots = (meter, EXPORT) if meter == FU.ELEC else (meter,)
        pends = [[r for r in self._pending[m] if r[0] >= t_s] for m in slots]
        for m in slots:
            self._pending[m] = []
        new_epoch = old[0] + 1
        new = (new_epoch, new_key(), self._edir(meter, new_epoch))
        self._rmtree(new[2])  # remains of an interrupted attempt
        self.fs.mkdir(new[2])
        self._copy_post(meter, old, new, t_s)
        if meter == FU.ELEC:
            xo = self._ctx(EXPORT)
            if self._exists(xo[2]):
                self._copy_post(EXPORT, xo, (new_epoch, new[1], new[2] + _XDIR), t_s)
        # Commit point: new key + visible_from replace the old key (whose slot is erased).
        self.keys.entries[meter] = [new_epoch, t_s, new[1]]
        self.keys.commit()
        self._rmtree(old[2])
        for i in range(len(slots)):
            self._pending[slots[i]] = pends[i]
        self.c.inc("truncations")
        log.info(_TAG, "%s truncated before %d (epoch %d)", _NAMES[meter], t_s, new_epoch)
        return True

    def _copy_post(self, meter, old, new, t_s):
        # The post-t_s rows of every ring file of ctx `old` written under ctx `new`.
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
