# fw: heapsize=2M timeout=600
# Power-cut campaign on a real littlefs (vfs.VfsLfs2 over a simulated 512 B x 96 block device):
# for append+flush, fold (a day leaving the half-hour ring, written into its month file),
# backfill and truncate, power is cut at every write index (program or erase, torn), the device
# is rebooted and the visible state must be exactly the old or the new one; after a cut during
# a truncation, if the new state is visible nothing before T is, and the old key is on the
# device nowhere (it must not survive the reboot's scrub of the stale key slot).
import powercut
from ihd.history import buckets as B

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


def test_cut_during_append_flush():
    image, _ = _image(2)

    def act(s):
        for i in range(8):
            s.append(0, T0_S + 2 * 86400 + i * 1800, 77, 777)

    total, n_old, n_new = powercut.campaign(image, act)
    assert total > 0 and n_old > 0
    print("append+flush: %d writes, %d old, %d new" % (total, n_old, n_new))


def test_cut_during_fold_into_month():
    # Day 12 reuses the ring slot of day 2: day 2 is folded into its month file, then replaced.
    image, _ = _image(3)

    def act(s):
        for i in range(8):
            s.append(0, T0_S + 12 * 86400 + i * 1800, 55, 555)

    total, n_old, n_new = powercut.campaign(image, act)
    assert total > 0
    print("fold+flush: %d writes, %d old, %d new" % (total, n_old, n_new))


def test_cut_during_backfill():
    image, _ = _image(2)

    def act(s):
        assert s.backfill_day(1, T0_S + 5 * 86400, 12345, 67890)

    total, _, _ = powercut.campaign(image, act)
    assert total > 0


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

    total, n_old, n_new = powercut.campaign(image, act, check)
    assert n_old > 0 and n_new > 0
    print("truncate: %d writes, %d old, %d new" % (total, n_old, n_new))
