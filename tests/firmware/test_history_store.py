# fw: heapsize=4M timeout=600
# History store on a real littlefs (VfsLfs2 on a RAM block device): queries, backfill rules,
# truncation semantics, persistence across reboot, measured write cost per appended record,
# truncate cost on a full 13-month store, RAM use, no plaintext ever programmed, and pre-T
# data unrecoverable from a raw dump after truncation (old key gone, old ciphertext useless).
import gc
import struct
import time

import powercut
from blockdev import RamBlockDev
from ihd.history import buckets as B
from ihd.history import records as R
from ihd.history.keys import KeyRegion
from ihd.history.store import DAY_RING, HistoryStore
from ihd.runtime import clock, storage

T0_S = 800000000 - 800000000 % 86400
_MARK_E = 0x5A5A0000  # distinctive energy values: the plaintext scan looks for them


def _fill(s, days, meters=(0, 1), first_day=0):
    for d in range(first_day, first_day + days):
        for i in range(48):
            for m in meters:
                s.append(m, T0_S + d * 86400 + i * 1800, 100 + i + m, 2000 + i, standing_mp=40000)
    s.flush()


def test_queries_today_days_weeks_months():
    _, s = powercut.boot()
    _fill(s, 3)
    s.append(0, T0_S + 3 * 86400, 7, 70)  # pending (RAM) record is served too
    now = T0_S + 3 * 86400 + 100
    today = s.today(0, now)
    assert len(today) == 48 and today[0][2:] == (7, 70, 1) and today[1][4] == 0
    days = s.series(0, B.RES_DAY, now, 8)
    day_e = sum(100 + i for i in range(48))
    day_c = sum(2000 + i for i in range(48)) + 40000
    assert [d[2] for d in days] == [0] * 4 + [day_e] * 3 + [7]
    assert days[5][3] == day_c and days[5][1] - days[5][0] == 86400
    weeks = s.series(0, B.RES_WEEK, now, 5)
    assert sum(w[2] for w in weeks) == 3 * day_e + 7
    months = s.series(1, B.RES_MONTH, now, 13)
    assert months[-1][2] == 3 * sum(101 + i for i in range(48)) and months[0][4] == 0


def test_fold_reboot_backfill_rules():
    dev, s = powercut.boot()
    _fill(s, 14, meters=(0,))  # days 0..3 leave the 10-day ring and live on as month totals
    _, s2 = powercut.boot(bytes(dev.data))
    assert s2.dump(0) == s.dump(0)
    day_e = sum(100 + i for i in range(48))
    v = s2.series(0, B.RES_DAY, T0_S + 13 * 86400, 14)
    assert [x[2] for x in v] == [day_e] * 14
    assert not s2.append(0, T0_S + 86400, 1, 1)  # older than the half-hour ring
    # backfill: refused over complete real days, accepted into a gap, never twice
    assert not s2.backfill_day(0, T0_S + 5 * 86400, 99999, 1)
    assert s2.backfill_day(0, T0_S + 20 * 86400, 5000, 600000)
    assert not s2.backfill_day(0, T0_S + 20 * 86400, 6000, 600000)
    assert s2.backfill_day(0, T0_S - 40 * 86400, 4000, 500000)  # beyond the ring: month file
    s2.append(0, T0_S + 21 * 86400, 10, 10)
    s2.flush()
    assert s2.backfill_day(0, T0_S + 21 * 86400, 3000, 300000)  # partial day: total filled
    assert not s2.backfill_day(0, T0_S + 21 * 86400 + 1800, 1, 1)  # not a day start
    d = s2.series(0, B.RES_DAY, T0_S + 21 * 86400, 2)
    assert (d[0][2], d[0][3], d[1][2], d[1][3]) == (5000, 600000, 3000, 300000)
    assert s2.today(0, T0_S + 21 * 86400)[0][2] == 10  # real interval kept
    assert s2.series(0, B.RES_DAY, T0_S - 40 * 86400, 1)[0][2] == 4000


def test_append_after_a_day_change_with_records_pending():
    # 3 records of day 0 pending (fewer than a batch), then one of day 1: day 0 is flushed and
    # the day-1 record is pending, not lost with the flushed list.
    _, s = powercut.boot()
    for i in range(3):
        s.append(0, T0_S + i * 1800, 10 + i, 1)
    assert s.append(0, T0_S + 86400, 99, 9)
    assert s.pending(0) == 1
    s.flush()
    assert [r[2] for r in s.dump(0) if r[0] == "hh"] == [10, 11, 12, 99]


def test_backfill_half_hours_from_the_meter_profile():
    # backfill_hh fills only empty slots, never before visible_from, never beyond the half-hour
    # ring or after tomorrow; real readings (flushed or pending) win; one file write per day;
    # the day is marked DF_PROFILE; newest_missing finds what to ask the meter for.
    dev, s = powercut.boot()
    _fill(s, 3, meters=(0,))  # days 0..2 complete
    d3 = T0_S + 3 * 86400
    for i in (0, 1, 2, 10):
        s.append(0, d3 + i * 1800, 7, 70)  # day 3: slots 0-2 flushed, 10 pending
    s.flush()
    s.append(0, d3 + 10 * 1800, 7, 70)
    assert s.newest_missing(0, T0_S, d3 + 12 * 1800) == d3 + 11 * 1800
    assert s.newest_missing(0, T0_S, d3 + 11 * 1800) == d3 + 9 * 1800  # pending 10 is data
    assert s.newest_missing(0, T0_S, d3 + 3 * 1800) == -1  # days 0..2 and slots 0-2 held
    asked = []

    def get(t):
        i = (t - T0_S) % 86400 // 1800
        asked.append(i)
        return (1000 + i, 10 + i)

    writes = dev.ops()
    assert s.backfill_hh(0, T0_S // 86400 + 3, get) == 44
    assert dev.ops() > writes  # written (the pending record first, then the filled day)
    assert 0 not in asked and 10 not in asked and len(asked) == 44
    today = s.today(0, d3)
    assert [r[2] for r in today[:4]] == [7, 7, 7, 1003] and today[10][2] == 7
    assert today[47][2] == 1047 and today[47][3] == 57
    assert s.backfill_hh(0, T0_S // 86400 + 3, get) == 0  # nothing left to fill
    assert s.newest_missing(0, T0_S, d3 + 86400) == -1
    p = s._day_payload(0, T0_S // 86400 + 3, {})
    assert R.day_meta(p)[0] & R.DF_PROFILE
    assert not R.day_meta(s._day_payload(0, T0_S // 86400 + 2, {}))[0] & R.DF_PROFILE
    # a later real reading of a filled slot still replaces it
    s.append(0, d3 + 47 * 1800, 5, 50)
    s.flush()
    assert s.today(0, d3)[47][2] == 5
    # survives a reboot
    _, s2 = powercut.boot(bytes(dev.data))
    assert s2.dump(0) == s.dump(0)
    # ring bounds: a day older than the ring, or after tomorrow (synced clock), is refused
    s2.append(0, T0_S + 12 * 86400, 1, 1)
    s2.flush()
    assert s2.backfill_hh(0, T0_S // 86400 + 2, get) == 0
    assert s2.c.get("backfill_refused") == 1
    clock.set_utc(T0_S + 12 * 86400 + 60)
    try:
        assert s2.backfill_hh(0, T0_S // 86400 + 14, get) == 0
        assert s2.c.get("backfill_refused") == 2
    finally:
        clock.reset()
    # visible_from: nothing before it, the straddling day only from it
    t_cut = T0_S + 12 * 86400 + 5 * 3600 + 900
    assert s2.truncate(0, t_cut)
    assert s2.newest_missing(0, T0_S, t_cut) == -1  # everything before T is out of reach
    del asked[:]
    assert s2.backfill_hh(0, T0_S // 86400 + 12, get) == 47 - 10  # slots 11..47
    assert min(asked) == 11
    for rec in s2.dump(0):
        assert rec[1] >= B.day_start(t_cut) and (rec[0] != "hh" or rec[1] >= t_cut)
    assert s2.backfill_hh(0, T0_S // 86400 + 11, get) == 0  # a whole day before T


def test_truncate_semantics():
    dev, s = powercut.boot()
    _fill(s, 12)
    assert s.backfill_day(0, T0_S - 30 * 86400, 4000, 500000)
    t_cut = T0_S + 11 * 86400 + 5 * 3600 + 900  # mid half-hour of day 11
    s.append(0, t_cut + 7200, 1, 2)
    gas = s.dump(1)
    assert s.truncate(0, t_cut)
    assert not s.append(0, t_cut - 900, 5, 5)  # straddling half-hour
    assert not s.backfill_day(0, B.day_start(t_cut), 1, 1)  # straddling day
    for _, s2 in ((0, s), powercut.boot(bytes(dev.data))):
        assert s2.visible_from(0) == t_cut and s2.epoch(0) == 2
        assert s2.dump(1) == gas
        for rec in s2.dump(0):
            assert rec[1] >= B.day_start(t_cut) and (rec[0] != "hh" or rec[1] >= t_cut)
        d = s2.series(0, B.RES_DAY, t_cut, 40)
        assert [x[4] for x in d[:-1]] == [0] * 39
        # day 11 rebuilt from its post-T half-hours only, no standing charge
        want = sum(100 + i for i in range(48) if T0_S + 11 * 86400 + i * 1800 >= t_cut)
        if s2 is s:  # the pending post-T record (1 Wh) replaced its slot's 100 + i_p
            want += 1 - (100 + B.slot_of(t_cut + 7200))
        assert d[-1][2] == want
        months = s2.series(0, B.RES_MONTH, t_cut, 13)
        assert sum(m[2] for m in months) == d[-1][2]


def test_append_write_cost_per_record():
    # 20 days x 48 half-hours x 2 meters on two geometries; counts block programs + erases.
    for bs, n, prog in ((512, 128, 128), (4096, 64, 256)):
        dev = RamBlockDev(bs, n)
        st = storage.mount(dev, None, progsize=prog)
        s = HistoryStore(st.fs, KeyRegion.on(st, dev))
        p0, e0 = dev.progs, dev.erases
        recs = 0
        for d in range(20):
            for i in range(48):
                for m in (0, 1):
                    s.append(m, T0_S + d * 86400 + i * 1800, 100, 3000)
                    recs += 1
        s.flush()
        per = (dev.progs - p0) / recs
        print(
            "bs=%d progsize=%d: %.3f progs/record, %.3f erases/record, %d prog bytes/record"
            % (bs, prog, per, (dev.erases - e0) / recs, dev.prog_bytes // recs)
        )
        assert per <= 1.0


def _full_store():
    # 13+ months for both meters: day totals back 420 days (meter backfill into month files),
    # half-hours for the last 10 days.
    dev = RamBlockDev(512, 256)
    st = storage.mount(dev, None)
    s = HistoryStore(st.fs, KeyRegion.on(st, dev))
    base = 420
    for d in range(base, base + DAY_RING):
        for i in range(48):
            for m in (0, 1):
                s.append(m, T0_S + d * 86400 + i * 1800, _MARK_E + d * 64 + i, 3000 + i)
    s.flush()
    for d in range(base):
        for m in (0, 1):
            assert s.backfill_day(m, T0_S + d * 86400, _MARK_E + d, 100000 + d)
    return dev, s, base


def test_full_store_truncate_cost_ram_and_unrecoverable():
    seen = []
    dev, s, base = _full_store()
    now = T0_S + (base + DAY_RING) * 86400 - 1
    assert s.series(0, B.RES_MONTH, now, 14)[0][4] > 0  # 13 full months + the current one
    # RAM: retained by the store, and allocated by a 13-month query
    gc.collect()
    a0 = gc.mem_alloc()
    gc.disable()
    s.series(0, B.RES_MONTH, now, 13)
    q_alloc = gc.mem_alloc() - a0
    gc.enable()
    old_key = s.keys.key(0)
    image_before = bytes(dev.data)
    assert image_before.find(old_key) >= 0  # the scan works: key is in the raw region
    t_cut = T0_S + (base + DAY_RING - 1) * 86400 + 8 * 3600  # 08:00 today
    dev.on_prog = lambda buf: seen.append(bytes(buf))
    p0, e0, t_ms = dev.progs, dev.erases, time.ticks_ms()
    assert s.truncate(0, t_cut)
    dt_ms = time.ticks_diff(time.ticks_ms(), t_ms)
    print(
        "13-month truncate: %d progs, %d erases, %d ms; 13-month query allocates %d B"
        % (dev.progs - p0, dev.erases - e0, dt_ms, q_alloc)
    )
    assert dev.progs - p0 < 60
    img = bytes(dev.data)
    assert img.find(old_key) < 0  # old key destroyed (raw region erased)
    for chunk in seen:
        assert chunk.find(old_key) < 0
    # no plaintext record anywhere in the image (before or after), nor in any program
    for d in (0, 100, base - 1):
        for im in (image_before, img):
            assert im.find(struct.pack("<Ii", _MARK_E + d, 100000 + d)) < 0
    for i in range(48):
        pat = struct.pack("<Ii", _MARK_E + base * 64 + i, 3000 + i)
        assert image_before.find(pat) < 0 and img.find(pat) < 0
    # every history file header left anywhere in the raw image fails to open with every key
    # on the device when it holds pre-T data; with the old key (kept by the test only) the
    # pre-T ciphertext may still be in free blocks: show it is useless without that key
    keys_now = [s.keys.key(m) for m in (0, 1)]
    pos = img.find(R.MAGIC)
    found_old = 0
    while pos >= 0:
        for kind, ln in ((R.KIND_DAY, R.DAY_LEN), (R.KIND_MONTH, R.MONTH_LEN)):
            blob = img[pos : pos + R.HDR_LEN + ln + 4]
            for ep, key in ((1, old_key), (2, keys_now[0])):
                p = R.open_sealed(blob, kind, 0, ep, key, ln)
                if p is None:
                    continue
                if ep == 1:
                    found_old += 1  # decryptable only with the destroyed key
                else:
                    assert R.rec_index(p) >= B.day_of(t_cut) if kind == R.KIND_DAY else True
        pos = img.find(R.MAGIC, pos + 1)
    print("old-epoch ciphertexts still in free blocks (useless without the key): %d" % found_old)
    # the store is fully usable afterwards
    assert s.append(0, t_cut + 1800, 9, 9)
    s.flush()
    _, s3 = powercut.boot(bytes(dev.data), 512, 256)
    assert s3.visible_from(0) == t_cut and s3.today(0, t_cut)[17][2] == 9


def test_future_dated_files_are_repaired_once_the_clock_is_known():
    # Issue 13: an older firmware took a hub time a year ahead and wrote 16 days there (ring
    # rollovers folded into month files a year ahead too). Those files pinned the newest day:
    # every real half-hour was refused as too old (history.rejected_old), across reboots, with
    # no log line. Now: without a clock nothing is decided (refused, but logged); with the
    # clock set, the future-dated files go and the real half-hours are taken.
    from ihd.history.view import HistoryView
    from ihd.runtime import clock, log

    dev, s = powercut.boot(block_count=200)
    _fill(s, 3, meters=(0, 1), first_day=18)  # real: days 18..20, today is day 20
    _fill(s, 16, meters=(0,), first_day=385)  # a year ahead, elec only
    assert s.visible_from(0) == 0
    now = T0_S + 20 * 86400 + 13 * 3600 + 60
    hh = now - now % 1800 - 1800  # the half-hour that just closed
    clock.reset()
    try:
        dev, s = powercut.boot(bytes(dev.data), block_count=200)  # across a reboot
        assert not s.append(0, hh, 77, 770)  # no clock: refused as before...
        assert s.c.get("rejected_old") == 1 and s.c.get("future_files") == 0
        assert any("refused: older than the half-hour ring" in x for x in log.recent())
        clock.set_source(lambda: now)
        view = HistoryView(s)
        assert view.append(0, hh, 77, 770)  # ... with one: repaired, then taken
        assert s.c.get("future_files") >= 10  # every day file, the future months
        assert any("written under a wrong clock" in x for x in log.recent())
        assert view.append(0, hh + 1800, 78, 780)
        view.flush()
        for _, s2 in ((0, s), powercut.boot(bytes(dev.data), block_count=200)):
            recs = s2.dump(0)
            assert recs and max(r[1] for r in recs) < T0_S + 21 * 86400
            assert ("hh", hh, 77, 770) in recs and ("hh", hh + 1800, 78, 780) in recs
            days = s2.series(0, B.RES_DAY, now, 3)
            day_e = sum(100 + i for i in range(48))
            assert [d[2] for d in days[:2]] == [day_e, day_e]  # the real days, kept
            assert s2.dump(1) == s.dump(1)  # the gas meter had nothing to repair
            assert s2.c.get("rejected_old") == 0 or s2 is s
        # pending records dated ahead (taken while the clock was wrong) go too
        dev, s3 = powercut.boot(bytes(dev.data), block_count=200)
        clock.set_source(None)
        assert s3.append(1, T0_S + 40 * 86400, 5, 5)  # the clock unknown: taken
        clock.set_source(lambda: now)
        assert s3.append(1, hh + 3600, 6, 6)
        s3.flush()
        assert max(r[1] for r in s3.dump(1)) < T0_S + 21 * 86400
        # an old record is still only refused when the store's days are real
        assert not s3.append(1, T0_S + 5 * 86400, 1, 1)
        assert ("hh", hh + 3600, 6, 6) in s3.dump(1)
    finally:
        clock.reset()


def test_a_new_days_first_record_after_a_part_filled_day_is_kept():
    # The record that starts a new day flushes the previous day's pending ones first; it used
    # to go into the list the flush had just replaced, and was lost (hidden while every day
    # filled whole batches: 48 half-hours, batch 8; not when half-hours are missing).
    _, s = powercut.boot()
    for i in range(45, 48):  # 3 pending records of day 0
        s.append(0, T0_S + i * 1800, 10 + i, 100)
    s.append(0, T0_S + 86400, 77, 770)  # day 1, 00:00
    s.append(0, T0_S + 86400 + 1800, 78, 780)
    s.flush()
    hh = [(r[1], r[2]) for r in s.dump(0) if r[0] == "hh"]
    assert hh == [(T0_S + i * 1800, 10 + i) for i in range(45, 48)] + [
        (T0_S + 86400, 77),
        (T0_S + 86400 + 1800, 78),
    ]


def test_the_file_open_spare_is_back_after_every_store_operation():
    # runtime/atomic.py: every lend has its keep (nested in a flush, a backfill, a rewind; a
    # missing file; an unreadable one), so the spare is held again between operations.
    from ihd.runtime import atomic

    dev, s = powercut.boot()
    atomic.spare_keep()
    t = T0_S + 5 * 86400
    for i in range(20):
        s.append(0, t + i * 1800, 100 + i, 2000)
        assert atomic._lent == 0 and atomic._spare is not None, i
    s.flush()
    assert s.backfill_hh(0, t // 86400 - 1, lambda t: (5, 6)) == 48
    assert s.series(0, 1, t + 20 * 1800, 8)[-1][2] > 0
    assert s.truncate(0, t + 10 * 1800)
    assert atomic._lent == 0 and atomic._spare is not None
    atomic.spare_lend()  # nested: back only when the outer lender is done
    atomic.spare_lend()
    atomic.spare_keep()
    assert atomic._spare is None
    atomic.spare_keep()
    assert atomic._lent == 0 and atomic._spare is not None
