# fw: heapsize=2M timeout=900
# Power-cut campaign for firmware updates on a real littlefs (vfs.VfsLfs2 over RamBlockDev, 512 B
# x 160 blocks), the pattern of tests/firmware/powercut.py: each phase runs once uncut to count
# its flash writes (programs + erases), then again with the power cut at write 0, 1, ... (a torn
# program / half erase, every later write fails), the device "reboots" (fresh mount over the
# same bytes) and must (1) boot a good firmware: the factory one or a slot whose every file
# matches its manifest, at the old or the new version, never anything else, and (2) recover:
# the download resumes from its persisted offset without restarting, and the update completes.
# Phases: download (append + periodic sync), staging + activation, first boot (trial count +
# confirm), rollback.
import test_ota_helpers as H
from blockdev import PowerCut
from ihd.ota import boot, bundle
from ihd.ota import client as OC
from ihd.ota import image as IM
from ihd.ota.slots import Slots

V2 = 0x00020000
BS = 48
SYNC = 8
FILES = H.app_files(V2) + [("drivers/big.bin", bytes(range(250)) * 12)]
IMG = H.ota(H.bundle(FILES, V2), V2)


class NullZcl:
    def local_cluster(self, *a, **k):
        pass

    def on_command(self, *a):
        pass


class Board:
    NAME = "unix"


def _client():
    return OC.OtaClient(NullZcl(), Slots(H.ROOT), Board(), H.ROOT, sync_blocks=SYNC,
                        keys=H.trusted_keys())  # fmt: skip


def _blank():
    fl = H.Flash()
    data = bytes(fl.dev.data)
    fl.umount()
    return data


def _boots_good(allowed):
    # What the next boot runs must be complete, verified and one of `allowed`.
    got = H.selected_tree()
    assert got in allowed, got
    if got[0] != "factory":
        r = boot.read(H.ROOT)
        assert bundle.verify_slot(boot.slot_dir(H.ROOT, r.active)) == got[1]
    return got


def _campaign(image, action, check, step=1):
    # -> (writes in the uncut run, progs, erases, prog bytes)
    fl = H.Flash(image)
    fl.dev.arm_cut(-1)
    action()
    total = fl.dev.ops()
    stats = (total, fl.dev.progs, fl.dev.erases, fl.dev.prog_bytes)
    fl.umount()
    for i in range(0, total, step):
        fl = H.Flash(image)
        fl.dev.arm_cut(i)
        try:
            action()
            raise AssertionError("no cut at write %d of %d" % (i, total))
        except PowerCut:
            pass
        snap = bytes(fl.dev.data)
        try:
            fl.umount()
        except PowerCut:
            pass
        fl = H.Flash(snap)
        try:
            check(i)
        finally:
            fl.umount()
    return stats


def _download_action():
    c = _client()
    st = c.store
    st.begin(H.MFR, H.ITYPE, V2, len(IMG), 0, 1)
    try:
        for off in range(0, len(IMG), BS):
            st.append(IMG[off : off + BS])
        st.sync()
        st.set_phase(OC.PHASE_COMPLETE)
    finally:
        try:
            st.close()
        except PowerCut:
            pass


def _finish_download(c):
    # The rest of the download after a resume, then the verifier must accept the whole file.
    v = c.verifier
    off = c.offset
    while off < len(IMG):
        b = IMG[off : off + BS]
        assert v.feed(b) == IM.OK, v.reason()
        c.store.append(b)
        off += len(b)
    c.store.sync()
    c.store.close()
    assert v.finish() == IM.OK, v.reason()
    with open(c.store.image_path, "rb") as f:
        assert f.read() == IMG


def test_cut_during_download():
    lost = []

    def check(i):
        _boots_good((("factory", H.RUNNING),))
        c = _client()
        c.resume()
        if c.status == OC.NORMAL:  # cut before the download record existed
            c.store.begin(H.MFR, H.ITYPE, V2, len(IMG), 0, 1)
            c.verifier.reset(V2, len(IMG))
            c.offset = 0
        elif c.status == OC.DOWNLOAD_COMPLETE:
            return
        else:
            assert c.status == OC.DOWNLOADING, (i, c.status)
            assert c.offset % BS == 0 or c.offset == len(IMG), (i, c.offset)
            lost.append(c.offset)
        _finish_download(c)

    total, progs, erases, nbytes = _campaign(_blank(), _download_action, check)
    resumed = [x for x in lost if x > 0]
    assert resumed, "no cut ever resumed mid-file"
    print("bench download %d B in %d-B blocks: %d flash writes (%d progs %d B, %d erases);"
          " %d cuts resumed mid-file" % (len(IMG), BS, total, progs, nbytes, erases,
                                          len(resumed)))  # fmt: skip


def _downloaded_image():
    fl = H.Flash()
    _download_action()
    data = bytes(fl.dev.data)
    fl.umount()
    return data


def _stage_activate():
    c = _client()
    c.resume()
    assert c.status == OC.DOWNLOAD_COMPLETE
    st = c.store
    ok, res = c.slots.stage(st.image_path, c.verifier, None, st.version, st.size)
    assert ok, res
    st.set_phase(OC.PHASE_STAGED)
    assert c.slots.activate(st.version)
    st.discard()


def test_cut_during_staging_and_activation():
    seen = {}

    def check(i):
        got = _boots_good((("factory", H.RUNNING), ("a", V2)))
        seen[got[0]] = seen.get(got[0], 0) + 1
        if got[0] == "factory":
            # recovery: the verified download is still there; staging starts again
            _stage_activate()
            assert _boots_good((("a", V2),))

    total, progs, erases, nbytes = _campaign(_downloaded_image(), _stage_activate, check)
    assert seen.get("factory") and seen.get("a")
    print("bench staging+activation: %d flash writes (%d progs %d B, %d erases); after cuts:"
          " %r" % (total, progs, nbytes, erases, seen))  # fmt: skip


def _activated_image(tries=0):
    fl = H.Flash()
    _download_action()
    _stage_activate()
    if tries:
        r = boot.read(H.ROOT)
        r.tries = tries
        boot.write(H.ROOT, r)
    data = bytes(fl.dev.data)
    fl.umount()
    return data


def test_cut_during_first_boot_and_confirm():
    def action():
        slot, _ = boot.decide(H.ROOT)
        assert slot == boot.SLOT_A
        Slots(H.ROOT).confirm_healthy()

    def check(i):
        _boots_good((("a", V2),))

    total = _campaign(_activated_image(), action, check)[0]
    print("first boot + confirm: %d flash writes, every cut boots slot a" % total)


def test_cut_during_rollback():
    def action():
        slot, _ = boot.decide(H.ROOT)
        assert slot == boot.FACTORY

    def check(i):
        # the trial was on its last boot: a cut boots it once more or rolls back, and the
        # rollback always completes on a later boot
        _boots_good((("a", V2), ("factory", H.RUNNING)))
        for _ in range(boot.MAX_TRIAL_BOOTS + 1):
            H.selected_tree()
        assert _boots_good((("factory", H.RUNNING),))

    total = _campaign(_activated_image(boot.MAX_TRIAL_BOOTS), action, check)[0]
    print("rollback: %d flash writes" % total)
