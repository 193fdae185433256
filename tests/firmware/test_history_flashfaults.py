# fw: heapsize=8M timeout=900
# Flash faults on a real littlefs (vfs.VfsLfs2 over a simulated block device): bit flips in the
# history's blocks and in the raw key region. A flipped bit in a file makes it unreadable (crc);
# one in littlefs metadata makes littlefs fall back to an older commit (a file reads as an older
# version of itself, or is gone) or, rarely, not mount at all. Whatever is lost must be logged
# with what it was (meter, file, day or month, rows) and counted, never silently, never a crash.
# The key region keeps two copies: one bad copy loses nothing, is rewritten and counted.
import gc

import powercut
from ihd.history import buckets as B
from ihd.runtime import log
from ihd.runtime import storage as ST

T0_S = 800000000 - 800000000 % 86400  # a UTC midnight in 2025
DAY0 = T0_S // 86400
NAMES = ("elec", "gas")


class Lcg:
    # Deterministic pseudo-random numbers (both interpreters, every run the same flips).
    def __init__(self, seed):
        self.x = seed

    def below(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n


def _image(bs, count):
    # 12 days of half-hours for both meters (days 0, 1 folded into their month file), a partial
    # 13th day, and meter day totals beyond the ring (month files of earlier months).
    dev, s = powercut.boot(None, bs, count)
    for d in range(12):
        for i in range(48):
            t = T0_S + d * 86400 + i * 1800
            s.append(0, t, 100 + i, 3000 + 30 * i, standing_mp=50000)
            if i % 2 == 0:
                s.append(1, t, 500 + i, 9000 + i)
    for i in range(21):
        s.append(0, T0_S + 12 * 86400 + i * 1800, 7, 70)
        s.append(1, T0_S + 12 * 86400 + i * 1800, 8, 80)
    s.flush()
    for d in (40, 41, 75):
        assert s.backfill_day(1, T0_S - d * 86400, 4000 + d, 100000 + d)
    return bytes(dev.data), [s.dump(0), s.dump(1)]


def _capture():
    lines = []
    log.set_sink(lines.append)
    log.console = False
    return lines


def _release():
    log.set_sink(None)
    log.console = True


def _parse(lines):
    # Drop lines -> ({(meter, "YYYY-MM-DD"): half-hours}, {(meter, "YYYY-MM"): day totals},
    # {(meter, "YYYY-MM-DD")}: meter day totals lost, {keys reported as a lower bound}, sum of
    # everything reported)
    hh, months, bf, low = {}, {}, set(), set()
    total = 0
    for ln in lines:
        if " history: " not in ln or " lost (" not in ln:
            continue
        words = ln.split(" history: ", 1)[1].split()
        if words[2] == "a":  # "a day before <date>:" (an index older than the ring's window)
            words[2:5] = [words[4]]
        atleast = words[3] == "at"
        if atleast:  # from the key region's daily copy: exact up to it, a lower bound after
            del words[3:5]
        meter, when, n = words[0], words[2].rstrip(":"), int(words[3])
        if atleast:
            low.add((meter, when))
        if words[1][0] == "d":
            hh[(meter, when)] = hh.get((meter, when), 0) + n
        else:
            months[(meter, when)] = months.get((meter, when), 0) + n
        total += n
        if "the meter's day total" in ln:
            bf.add((meter, when))
            total += 1
    return hh, months, bf, low, total


def _date(t):
    y, m, d = B.civil_from_days(t // 86400)
    return "%04d-%02d-%02d" % (y, m, d)


def _flip_campaign(bs, count, trials, seed):
    # One flipped bit per boot in a used block of littlefs; every lost half-hour and day must
    # be reported in a log line naming its meter and day (or month) and counted.
    image, want = _image(bs, count)
    fs_blocks = count - ST.RAW_BLOCKS
    used = [b for b in range(fs_blocks) if image[b * bs : (b + 1) * bs] != b"\xff" * bs]
    rng = Lcg(seed)
    stats = {"boots": 0, "lossy": 0, "silent": 0, "formatted": 0, "rollbacks": 0, "bad": 0}
    stats["lower_bound"] = 0
    for _ in range(trials):
        gc.collect()
        data = bytearray(image)
        blk = used[rng.below(len(used))]
        data[blk * bs + rng.below(bs)] ^= 1 << rng.below(8)
        lines = _capture()
        try:
            dev, s = powercut.boot(data, bs, count)
            got = [s.dump(0), s.dump(1)]
        finally:
            _release()
        stats["boots"] += 1
        mounts = getattr(ST, "c", None)  # storage.mount_errors
        formatted = mounts is not None and mounts.get("mount_errors") > 0
        if mounts is not None:
            mounts.reset()
        hh, months, bf, low, total = _parse(lines)
        lost_any = False
        for m in (0, 1):
            g = set(got[m])
            miss_hh = {}
            miss_day = []
            for r in want[m]:
                if r in g:
                    continue
                lost_any = True
                if r[0] == "hh":
                    k = (NAMES[m], _date(r[1]))
                    miss_hh[k] = miss_hh.get(k, 0) + 1
                else:
                    miss_day.append(r)
            if formatted:
                continue  # everything lost, and said so (below)
            for k, n in miss_hh.items():
                # exact; "at least" (a whole directory taken back: from the key region's daily
                # copy of the ledger) is a lower bound: the day's later writes are not in it
                ok = 0 < hh.get(k, 0) <= n if k in low else hh.get(k, 0) == n
                assert ok, "flip %d: %s lost %d half-hours, reported %r\n%s" % (
                    blk,
                    k,
                    n,
                    hh.get(k),
                    "\n".join(lines),
                )
            for r in miss_day:  # a day total gone or changed: its day file or month file said so
                day = _date(r[1])
                k = (NAMES[m], day)
                assert k in hh or k in bf or (NAMES[m], day[:7]) in months, (
                    "flip %d: day %s of %s lost silently\n%s"
                    % (blk, day, NAMES[m], "\n".join(lines))
                )
        if formatted:
            stats["formatted"] += 1
            assert [x for x in lines if "does not mount" in x and "all files lost" in x], lines
            continue
        assert s.c.get("rows_lost") == total, "rows_lost %d, reported %d\n%s" % (
            s.c.get("rows_lost"),
            total,
            "\n".join(lines),
        )
        if lost_any:
            stats["lossy"] += 1
            if low:
                stats["lower_bound"] += 1
            if not total:
                stats["silent"] += 1
        stats["rollbacks"] += s.c.get("bad_rollbacks")
        stats["bad"] += s.c.get("bad_files") + s.c.get("bad_missing")
        if total:  # once reported, a drop is not reported again at the next boot
            lines = _capture()
            try:
                _, s2 = powercut.boot(bytes(dev.data), bs, count)
                assert [s2.dump(0), s2.dump(1)] == got
            finally:
                _release()
            assert s2.c.get("rows_lost") == 0, "reported again:\n%s" % "\n".join(lines)
    return stats


def test_bit_flips_512_byte_blocks_every_loss_logged_and_counted():
    # Small blocks: files live outside littlefs metadata (CTZ), a flip in one makes it unreadable.
    st = _flip_campaign(512, 96, 150, 12345)
    print("bs=512: %r" % (st,))
    assert st["silent"] == 0 and st["lossy"] > 0 and st["bad"] > 0


def test_bit_flips_4096_byte_blocks_every_loss_logged_and_counted():
    # Board geometry: files are inline in littlefs metadata, a flip makes littlefs fall back.
    st = _flip_campaign(4096, 64, 150, 777)
    print("bs=4096: %r" % (st,))
    assert st["silent"] == 0 and st["lossy"] > 0 and st["rollbacks"] > 0


# ---- single faults, made on purpose -------------------------------------------------------

EDIR = "/hist/elec/00000001"


def _small():
    # 3 days of elec half-hours (days 0..2), gas every other one; -> (image, dev, store)
    dev, s = powercut.boot()
    for d in range(3):
        for i in range(48):
            t = T0_S + d * 86400 + i * 1800
            s.append(0, t, 100 + i, 3000 + i, standing_mp=50000)
            if i % 2 == 0:
                s.append(1, t, 500 + i, 9000 + i)
    s.flush()
    return bytes(dev.data), dev, s


def _boot_logged(data):
    lines = _capture()
    try:
        dev, s = powercut.boot(data)
        dumps = [s.dump(0), s.dump(1)]
    finally:
        _release()
    return dev, s, dumps, [x for x in lines if " history: " in x or " histkey: " in x]


def _poke(s, path, data):
    # Write a file behind the store's back (as a flash fault would change it: no ledger update).
    with s.fs.open(path, "wb") as f:
        f.write(data)


def _get(s, path):
    with s.fs.open(path, "rb") as f:
        return f.read()


def test_unreadable_day_file_is_logged_counted_once():
    image, dev, s = _small()
    want = s.dump(0)
    day1 = (DAY0 + 1) % 10
    raw = bytearray(_get(s, EDIR + "/d%d" % day1))
    raw[100] ^= 0x08  # one bit of the ciphertext: the crc fails
    _poke(s, EDIR + "/d%d" % day1, raw)
    dev2, s2, dumps, lines = _boot_logged(bytes(dev.data))
    assert s2.c.get("bad_files") == 1 and s2.c.get("rows_lost") == 48
    assert [x.split(" ", 1)[1] for x in lines] == [
        "W history: elec d%d %s: 48 half-hour(s) lost (file unreadable)"
        % (day1, _date(T0_S + 86400))
    ], lines
    gone = [r for r in want if r not in dumps[0]]
    assert len([r for r in gone if r[0] == "hh"]) == 48 and all(
        r[1] // 86400 == DAY0 + 1 for r in gone
    )
    assert dumps[1] == s.dump(1)  # the other meter is untouched
    # reported once: the next boot counts the bad file again but loses nothing more
    dev3, s3, dumps3, lines3 = _boot_logged(bytes(dev2.data))
    assert s3.c.get("rows_lost") == 0 and dumps3 == dumps
    assert [x for x in lines3 if "no rows expected" in x], lines3
    # the day's slot is written again: the file is whole, nothing is reported any more
    assert s3.backfill_day(0, T0_S + 86400, 9000, 900000)
    _, s4, _, lines4 = _boot_logged(bytes(dev3.data))
    assert s4.c.get("bad_files") == 0 and not lines4, lines4


def test_file_taken_back_to_an_older_version_is_logged_at_boot_and_at_run_time():
    # littlefs falling back to an older commit, made by hand: the older bytes of a file.
    dev, s = powercut.boot()
    for i in range(16):  # two flushes of day 0
        s.append(0, T0_S + i * 1800, 10, 100)
        if i == 7:
            older = _get(s, EDIR + "/d%d" % (DAY0 % 10))
    _poke(s, EDIR + "/d%d" % (DAY0 % 10), older)
    _, s2, dumps, lines = _boot_logged(bytes(dev.data))
    assert s2.c.get("bad_rollbacks") == 1 and s2.c.get("rows_lost") == 8
    want = "elec d%d %s: 8 half-hour(s) lost (littlefs fell back" % (DAY0 % 10, _date(T0_S))
    assert len(lines) == 1 and want in lines[0], lines
    assert len([r for r in dumps[0] if r[0] == "hh"]) == 8
    # at run time (no reboot): the store reads a file older than it wrote it
    s2.append(0, T0_S + 16 * 1800, 10, 100)
    s2.flush()  # slots 0..7 and 16 on flash now
    older2 = _get(s2, EDIR + "/d%d" % (DAY0 % 10))
    for i in range(17, 24):
        s2.append(0, T0_S + i * 1800, 10, 100)
    s2.append(0, T0_S + 24 * 1800, 10, 100)  # the 8th: flushed
    _poke(s2, EDIR + "/d%d" % (DAY0 % 10), older2)
    lines = _capture()
    try:
        t1 = s2.today(0, T0_S)
        t2 = s2.today(0, T0_S)
    finally:
        _release()
    assert t1 == t2 and len([r for r in t1 if r[4]]) == 9
    assert s2.c.get("rows_lost") == 16 and s2.c.get("bad_rollbacks") == 2  # once, not twice
    assert len([x for x in lines if "8 half-hour(s) lost" in x]) == 1, lines


def test_history_directory_taken_back_is_logged_from_the_key_region_copy():
    # A flipped bit above the history (root or /hist metadata) can take the whole directory
    # back to its first state, ledger included: the daily copy in the key region tells.
    image, dev, s = _small()
    for name in [e[0] for e in s.fs.ilistdir(EDIR)]:
        s.fs.remove(EDIR + "/" + name)
    for name in [e[0] for e in s.fs.ilistdir("/hist/l")]:
        s.fs.remove("/hist/l/" + name)
    _, s2, dumps, lines = _boot_logged(bytes(dev.data))
    assert not [r for r in dumps[0] if r[0] == "hh"]
    assert [x for x in lines if "ledger behind its copy" in x], lines
    hh, months, bf, low, total = _parse(lines)
    # days 0 and 1 complete in the copy (exact), day 2: what its first flush wrote (a bound)
    assert hh[("elec", _date(T0_S))] == 48 and hh[("elec", _date(T0_S + 86400))] == 48
    assert 0 < hh[("elec", _date(T0_S + 2 * 86400))] <= 48
    assert ("elec", _date(T0_S + 2 * 86400)) in low
    assert s2.c.get("rows_lost") == total and s2.c.get("bad_missing") == 3
    assert dumps[1] == s.dump(1)


def _key_block(dev, copy):
    return (dev.block_count - ST.RAW_BLOCKS + copy) * dev.block_size


def test_one_bad_key_copy_loses_nothing_and_is_repaired():
    # A flipped bit anywhere in either copy (keys, seq, crc, the witness extension): the
    # history is intact, the bad copy rewritten from the good one and counted.
    image, dev, s = _small()
    want = [s.dump(0), s.dump(1)]
    rlen = getattr(s.keys, "_rlen", s.keys._len)  # record + witness extension
    rng = Lcg(99)
    for copy in (0, 1):
        for _ in range(12):
            data = bytearray(image)
            a = _key_block(dev, copy) + rng.below(rlen)
            data[a] ^= 1 << rng.below(8)
            dev2, s2, dumps, lines = _boot_logged(data)
            assert dumps == want
            k = s2.keys.c
            assert k.get("bad_copies") == 1 and k.get("repaired") == 1, lines
            assert [x for x in lines if "key copy %d invalid" % copy in x], lines
            b0, b1 = _key_block(dev2, 0), _key_block(dev2, 1)
            assert dev2.data[b0 : b0 + rlen] == dev2.data[b1 : b1 + rlen] == image[b0 : b0 + rlen]
    # both copies bad: nothing to repair from; new keys, the history is discarded, and said so
    data = bytearray(image)
    data[_key_block(dev, 0) + 20] ^= 1
    data[_key_block(dev, 1) + 30] ^= 1
    _, s3, dumps, lines = _boot_logged(data)
    assert dumps == [[], []] and s3.keys.c.get("bad_copies") == 2
    assert [x for x in lines if "both key copies unreadable" in x], lines


def test_key_region_of_an_older_firmware_is_read_and_completed():
    # Written by the single-copy firmware: one valid version-1 record, the other block erased.
    image, dev, s = _small()
    want = [s.dump(0), s.dump(1)]
    data = bytearray(image)
    b0, b1, bs = _key_block(dev, 0), _key_block(dev, 1), dev.block_size
    n = s.keys._len
    data[b0 + n : b0 + bs] = b"\xff" * (bs - n)  # no witness extension
    data[b1 : b1 + bs] = b"\xff" * bs
    dev2, s2, dumps, lines = _boot_logged(data)
    assert dumps == want and s2.keys.c.get("bad_copies") == 0
    assert dev2.data[b0 : b0 + bs] == dev2.data[b1 : b1 + bs]  # the second copy written
    assert s2.keys.witness == [None, None]
    s2.append(0, T0_S + 3 * 86400, 1, 1)  # a new day: the witness follows, in both copies
    s2.flush()
    assert s2.keys.witness[0] is not None
    _, s3, dumps3, _ = _boot_logged(bytes(dev2.data))
    assert s3.keys.witness[0] == s2.keys.witness[0] and s3.keys.c.get("bad_copies") == 0
