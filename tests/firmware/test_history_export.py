# fw: heapsize=2M timeout=600
# History store, the export slot (store.EXPORT: electricity's other flow direction): its files
# in electricity's epoch directory (x/), sealed with electricity's key (header meter byte 2),
# within the littlefs cache (<= 512 B); nothing on flash and no export state until the first
# export half-hour; day ring -> month folding; a change of tenancy truncates it with electricity
# (one key commit: after a power cut at any write the state is old or new, never a pre-T export
# row with the new visible_from); gas's truncation leaves it; the ledger notices a lost export
# file; the view's export totals (0 B while the home does not export and on the cached day).
import fwtest
import powercut
from ihd.history import buckets as B
from ihd.history import records as R
from ihd.history.store import DAY_RING, EXPORT
from ihd.history.view import HistoryView

T0_S = 800000000 - 800000000 % 86400  # a UTC midnight in 2025
HH = 1800


def _sun(s, day, wh=40):
    # export 09:00-15:00 of `day`: 12 half-hours of wh + i
    for i in range(18, 30):
        s.append(EXPORT, T0_S + day * 86400 + i * HH, wh + i, 0)


def _image(days=3):
    dev, s = powercut.boot()
    for d in range(days):
        for i in range(48):
            s.append(0, T0_S + d * 86400 + i * HH, 100 + i, 3000, standing_mp=50000)
        _sun(s, d)
    s.flush()
    return bytes(dev.data), s


def _files(fs, d):
    return sorted((e[0], e[3]) for e in fs.ilistdir(d))


def test_layout_key_size_reboot_and_fold():
    dev, s = powercut.boot()
    edir = "/hist/elec/%08x" % s.epoch(0)
    for d in range(3):
        for i in range(48):
            s.append(0, T0_S + d * 86400 + i * HH, 100 + i, 3000)
    s.flush()
    assert not s.has_export(), s._newest_day
    assert "x" not in [e[0] for e in s.fs.ilistdir(edir)]
    assert s.visible_from(EXPORT) == s.visible_from(0) and s.epoch(EXPORT) == s.epoch(0)
    _sun(s, 2)
    s.flush()
    assert s.has_export()
    files = _files(s.fs, edir + "/x")
    name = "d%d" % ((T0_S // 86400 + 2) % DAY_RING)
    assert [f[0] for f in files] == [name]
    assert all(n <= 512 for _, n in files)  # inline in littlefs: within its 512 B cache
    with s.fs.open(edir + "/x/" + name, "rb") as f:
        data = f.read()
    assert data[:3] == b"IHH" and data[5] == EXPORT  # header: kind, meter byte
    k = s.keys.entries[0]
    assert R.open_sealed(data, R.KIND_DAY, EXPORT, k[0], k[2], R.DAY_LEN) is not None
    assert R.open_sealed(data, R.KIND_DAY, 0, k[0], k[2], R.DAY_LEN) is None  # not an import file
    hh = [r for r in s.dump(EXPORT) if r[0] == "hh"]
    assert [(r[1], r[2], r[3]) for r in hh] == [
        (T0_S + 2 * 86400 + i * HH, 40 + i, 0) for i in range(18, 30)
    ]
    # day ring -> month ring: 12 more days push day 2 out; its total lives on in the month
    for d in range(3, 15):
        _sun(s, d)
    s.flush()
    dump = s.dump(EXPORT)
    day_e = sum(40 + i for i in range(18, 30))
    days = [r for r in dump if r[0] == "day"]
    assert [r[1] for r in days] == [T0_S + d * 86400 for d in range(2, 15)]
    assert all(r[2] == day_e and r[3] == 0 for r in days)
    assert not [r for r in dump if r[0] == "hh" and r[1] < T0_S + 5 * 86400]
    _, s2 = powercut.boot(bytes(dev.data))
    assert s2.dump(EXPORT) == dump and s2.dump(0) == s.dump(0) and s2.has_export()
    for k in ("rows_lost", "bad_files", "bad_missing", "ledger_errors"):
        assert s2.c.get(k) == 0
    v = s2.series(EXPORT, B.RES_MONTH, T0_S + 14 * 86400, 13)
    assert sum(x[2] for x in v) == 13 * day_e


def test_truncation_takes_export_with_electricity_and_not_with_gas():
    image, _ = _image(3)
    _, s = powercut.boot(image)
    before = s.dump(EXPORT)
    assert not s.truncate(EXPORT, T0_S + 86400)  # never on its own
    for i in range(48):
        s.append(1, T0_S + 2 * 86400 + i * HH, 5, 5)
    assert s.truncate(1, T0_S + 2 * 86400 + 12 * 3600)  # gas: export untouched
    assert s.dump(EXPORT) == before
    t_cut = T0_S + 2 * 86400 + 12 * 3600 + 600  # 12:10 on day 2: mid half-hour, mid sun
    old_dir = "/hist/elec/%08x" % s.epoch(0)
    assert s.truncate(0, t_cut)
    hh = [r for r in s.dump(EXPORT) if r[0] == "hh"]
    assert hh and min(r[1] for r in hh) >= t_cut
    assert [r[1] for r in hh] == [T0_S + 2 * 86400 + i * HH for i in range(25, 30)]
    assert all(r[1] >= B.day_start(t_cut) for r in s.dump(EXPORT))
    try:
        s.fs.stat(old_dir)
        raise AssertionError("old epoch dir survives")
    except OSError:
        pass
    assert s.epoch(EXPORT) == s.epoch(0) and s.visible_from(EXPORT) == t_cut


def _no_drops(s, is_new=None, dev=None):
    for k in ("rows_lost", "bad_files", "bad_missing", "bad_rollbacks", "ledger_errors"):
        assert s.c.get(k) == 0, "after a power cut: %s = %d" % (k, s.c.get(k))
    assert not s.keys.fresh


def test_cut_during_export_flush():
    # a new export day in a store with export, and the first export of a store (its directory)
    dev, s0 = powercut.boot()
    for i in range(48):
        s0.append(0, T0_S + 2 * 86400 + i * HH, 100, 3000)
    s0.flush()

    def act(s):
        for i in range(8):  # one flush (batch 8)
            s.append(EXPORT, T0_S + 2 * 86400 + (18 + i) * HH, 50 + i, 0)

    for image in (_image(2)[0], bytes(dev.data)):
        total, n_old, n_new = powercut.campaign(image, act, _no_drops)
        assert total > 0 and n_old > 0 and n_new > 0


def test_cut_during_truncate_never_shows_pre_t_export():
    image, s0 = _image(3)
    t_cut = T0_S + 2 * 86400 + 12 * 3600 + 600
    old_key = s0.keys.key(0)

    def act(s):
        s.append(EXPORT, t_cut + 3600, 9, 0)  # pending: kept by truncate
        assert s.truncate(0, t_cut)

    def check(s, is_new, dev):
        ex = s.dump(EXPORT)
        if is_new:
            assert s.visible_from(EXPORT) == t_cut
            assert ex and all(r[1] >= B.day_start(t_cut) for r in ex)
            assert all(r[1] >= t_cut for r in ex if r[0] == "hh")
            assert bytes(dev.data).find(old_key) < 0
        else:
            assert s.visible_from(EXPORT) == 0
            assert len([r for r in ex if r[0] == "hh"]) == 36
        _no_drops(s)

    total, n_old, n_new = powercut.campaign(image, act, check)
    assert n_old > 0 and n_new > 0
    print("truncate with export: %d writes, %d old, %d new" % (total, n_old, n_new))


def test_a_lost_export_file_is_noticed():
    image, s = _image(3)
    dev, s = powercut.boot(image)
    s.fs.remove("/hist/elec/%08x/x/d%d" % (s.epoch(0), (T0_S // 86400 + 1) % DAY_RING))
    _, s2 = powercut.boot(bytes(dev.data))
    s2.dump(EXPORT)
    assert s2.c.get("rows_lost") == 12 and s2.c.get("bad_missing") == 1


def test_view_export_totals_cost_nothing_without_export_and_follow_appends():
    _, s = powercut.boot()
    v = HistoryView(s)
    now = T0_S + 2 * 86400 + 8 * 3600
    for i in range(16):
        v.append(0, T0_S + 2 * 86400 + i * HH, 100, 1000)
    assert v._xhh is None
    with fwtest.HeapLocked():
        for _ in range(20):
            assert v.export_totals(now) is None and v.export_today(now) == 0
    assert v._xhh is None  # nothing made for export
    for d in (0, 1):
        _sun(v, d)
    v.flush()
    now = T0_S + 2 * 86400 + 9 * 3600
    assert list(v.export_totals(now)) == [0] + [2 * sum(40 + i for i in range(18, 30))] * 3
    with fwtest.HeapLocked():
        for _ in range(20):
            tot = v.export_totals(now)
    tot_before = list(tot)
    for i in range(18, 22):  # today's export, appended through the view: updated in place
        v.append(EXPORT, T0_S + 2 * 86400 + i * HH, 7 + i, 0)
    got = list(v.export_totals(T0_S + 2 * 86400 + 11 * 3600))
    assert got == [x + sum(7 + i for i in range(18, 22)) for x in tot_before]
    v._xday = -1  # a rebuild from the store agrees
    assert list(v.export_totals(T0_S + 2 * 86400 + 11 * 3600)) == got
    assert v.truncate("elec", T0_S + 2 * 86400)
    assert list(v.export_totals(T0_S + 2 * 86400 + 11 * 3600)) == [got[0]] * 4
