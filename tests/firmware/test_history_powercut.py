# fw: heapsize=2M timeout=600
# Power-cut campaign on a real littlefs (vfs.VfsLfs2 over a simulated 512 B x 96 block device):
# for append+flush, fold (a day leaving the half-hour ring, written into its month file),
# backfill and truncate, power is cut at every write index (program or erase, torn), the device
# is rebooted and the visible state must be exactly the old or the new one; after a cut during
# a truncation, if the new state is visible nothing before T is, and the old key is on the
# device nowhere (it must not survive the reboot's scrub of the stale key slot). A power cut is
# not a flash fault: after every cut no drop is reported (history.rows_lost and the bad_*
# counters stay 0) and the keys are found. The key region on its own: a commit (new keys +
# the ledger's copy) and the boot-time repair of a bad copy, cut at every write: one valid copy
# at every instant, old or new after the reboot, both copies equal again after it, and after a
# commit the old key nowhere.
import powercut
from blockdev import PowerCut, RamBlockDev
from ihd.history import buckets as B
from ihd.history.keys import KeyRegion
from ihd.runtime import storage

T0_S = 800000000 - 800000000 % 86400  # a UTC midnight in 2025


def _image(days=3):
    dev, s = powercut.boot()
    for d in range(days):
        for i in range(48):
            t = T0_S + d * 86400 + i * 1800
            s.append(0, t, 100 + i, 3000 + 30 * i, standing_mp=50000)
            if i % 2 == 0:
                s.append(1, t, 500 + i, 9000 + i)
    s.flush()
    return bytes(dev.data), s


def _no_drops(s, is_new=None, dev=None):
    for k in ("rows_lost", "bad_files", "bad_missing", "bad_rollbacks", "ledger_errors"):
        assert s.c.get(k) == 0, "after a power cut: %s = %d" % (k, s.c.get(k))
    assert not s.keys.fresh and s.keys.c.get("unrepaired") == 0


def test_cut_during_append_flush():
    # a new day: day file, ledger, and the ledger's copy in the key region (a key commit)
    image, _ = _image(2)

    def act(s):
        for i in range(8):
            s.append(0, T0_S + 2 * 86400 + i * 1800, 77, 777)

    total, n_old, n_new = powercut.campaign(image, act, _no_drops)
    assert total > 0 and n_old > 0
    print("append+flush: %d writes, %d old, %d new" % (total, n_old, n_new))


def test_cut_during_fold_into_month():
    # Day 12 reuses the ring slot of day 2: day 2 is folded into its month file, then replaced.
    image, _ = _image(3)

    def act(s):
        for i in range(8):
            s.append(0, T0_S + 12 * 86400 + i * 1800, 55, 555)

    total, n_old, n_new = powercut.campaign(image, act, _no_drops)
    assert total > 0
    print("fold+flush: %d writes, %d old, %d new" % (total, n_old, n_new))


def test_cut_during_backfill():
    image, _ = _image(2)

    def act(s):
        assert s.backfill_day(1, T0_S + 5 * 86400, 12345, 67890)

    total, _, _ = powercut.campaign(image, act, _no_drops)
    assert total > 0


def test_cut_during_backfill_half_hours():
    # Half-hours from the meter's profile into a day that has one real reading: one commit
    # (the day file; its ledger follows), old or new after a cut, the real reading kept.
    image, _ = _image(2)
    dev, s = powercut.boot(image)
    d = T0_S // 86400 + 2
    s.append(0, d * 86400 + 4 * 1800, 9, 99)
    s.flush()
    image = bytes(dev.data)

    def act(s):
        assert (
            s.backfill_hh(
                0, d, lambda t: (200 + t % 86400 // 1800, 20) if t % 86400 < 54000 else None
            )
            == 29
        )

    def check(s, is_new, dev):
        _no_drops(s)
        today = s.today(0, d * 86400)
        assert today[4][2] == 9 and (today[5][2] == 205) == is_new

    total, n_old, n_new = powercut.campaign(image, act, check)
    assert total > 0 and n_old > 0 and n_new > 0


def test_cut_during_truncate():
    image, s0 = _image(3)
    t_cut = T0_S + 2 * 86400 + 7 * 3600 + 600  # mid half-hour, mid day
    old_key = s0.keys.key(0)

    def act(s):
        s.append(0, t_cut + 3600, 1, 2)  # pending (RAM) record: kept by truncate, not flushed
        assert s.truncate(0, t_cut)

    def check(s, is_new, dev):
        if is_new:
            assert s.visible_from(0) == t_cut
            for rec in s.dump(0):
                assert rec[1] >= B.day_start(t_cut)
                if rec[0] == "hh":
                    assert rec[1] >= t_cut
            assert bytes(dev.data).find(old_key) < 0
        else:
            assert s.visible_from(0) == 0
        assert s.dump(1)  # the other meter is untouched
        _no_drops(s)

    total, n_old, n_new = powercut.campaign(image, act, check)
    assert n_old > 0 and n_new > 0
    print("truncate: %d writes, %d old, %d new" % (total, n_old, n_new))


def _copies(dev, kr):
    # The two raw key copies as the device holds them, and whether each one parses.
    out = []
    for b in kr._blk:
        a = b * dev.block_size
        buf = bytearray(dev.data[a : a + kr._rlen])
        out.append((buf, kr._parse(buf) is not None))
    return out


def _key_campaign(image, act, want_old, want_new):
    # act(keys) cut at every write; -> (writes, n_old, n_new)
    def keys_on(data):
        dev = RamBlockDev(powercut.BLOCK_SIZE, powercut.BLOCK_COUNT, data)
        return dev, KeyRegion.on(storage.mount(dev, None), dev)

    dev, k = keys_on(image)
    assert k.load()
    dev.arm_cut(-1)
    act(k)
    total = dev.ops()
    n_old = n_new = 0
    for i in range(total):
        dev, k = keys_on(image)
        assert k.load()
        dev.arm_cut(i)
        try:
            act(k)
            raise AssertionError("no cut at write %d of %d" % (i, total))
        except PowerCut:
            pass
        assert [ok for _, ok in _copies(dev, k)].count(True) >= 1, "cut at %d: no valid copy" % i
        dev2, k2 = keys_on(bytes(dev.data))
        assert k2.load(), "cut at write %d: keys lost" % i
        got = [list(e) for e in k2.entries]
        if got == want_old:
            n_old += 1
        elif got == want_new:
            n_new += 1
            old_key = want_old[1][2]
            assert bytes(dev2.data).find(old_key) < 0, "cut at %d: the old key survives" % i
        else:
            raise AssertionError("cut at write %d: keys neither old nor new" % i)
        (a, oka), (b, okb) = _copies(dev2, k2)
        assert oka and okb and a == b, "cut at %d: copies not repaired" % i
        assert k2.c.get("unrepaired") == 0
    return total, n_old, n_new


def test_cut_during_key_commit_one_copy_always_valid():
    image, s0 = _image(1)
    old = [list(e) for e in s0.keys.entries]
    new = [list(e) for e in old]
    new[1] = [old[1][0] + 1, 123456, b"N" * 16]  # a truncation's commit: new epoch and key

    def act(k):
        k.entries[1] = list(new[1])
        k.set_witness(1, b"\x01" * 33)
        k.commit()

    total, n_old, n_new = _key_campaign(image, act, old, new)
    assert total == 4 and n_old > 0 and n_new > 0  # erase + program, twice
    print("key commit: %d writes, %d old, %d new" % (total, n_old, n_new))


def test_cut_while_repairing_a_bad_key_copy():
    image, s0 = _image(1)
    old = [list(e) for e in s0.keys.entries]
    data = bytearray(image)
    a = s0.keys._blk[1] * powercut.BLOCK_SIZE
    data[a + 7] ^= 0x10  # copy 1 flipped: load() rewrites it from copy 0
    data = bytes(data)

    def act(k):
        k.load()

    def keys_on(d):
        dev = RamBlockDev(powercut.BLOCK_SIZE, powercut.BLOCK_COUNT, d)
        return dev, KeyRegion.on(storage.mount(dev, None), dev)

    dev, k = keys_on(data)
    dev.arm_cut(-1)
    assert k.load() and k.c.get("bad_copies") == 1 and k.c.get("repaired") == 1
    total = dev.ops()
    for i in range(total):
        dev, k = keys_on(data)
        dev.arm_cut(i)
        try:
            k.load()
            raise AssertionError("no cut")
        except PowerCut:
            pass
        dev2, k2 = keys_on(bytes(dev.data))
        assert k2.load() and [list(e) for e in k2.entries] == old
        (x, okx), (y, oky) = _copies(dev2, k2)
        assert okx and oky and x == y
    assert total == 2
