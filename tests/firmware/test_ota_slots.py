# fw: heapsize=1M
# A/B slots and the boot selector on a RAM littlefs at /flash: staging a good bundle, refusing a
# bad one without touching the running firmware, trial boots, confirm_healthy(), rollback after
# MAX_TRIAL_BOOTS unconfirmed boots (and the rolled-back version refused afterwards), a corrupt
# trial slot falling back, staging refused during a trial, and select() importing from the slot.
import sys

import test_ota_helpers as H
from ihd.ota import boot, bundle
from ihd.ota import image as IM
from ihd.ota.slots import Slots

V2 = 0x00020000
V3 = 0x00030000


def _verifier(running=H.RUNNING):
    return IM.Verifier(H.MFR, H.ITYPE, running, H.HW, keys=H.trusted_keys())


def _stage(s, version, marker="new", data=None):
    p = H.ROOT + "/dl.bin"
    H.write_file(p, data or H.app_ota(version, marker))
    return s.stage(p, _verifier(), expect_version=version)


def test_stage_activate_confirm():
    fl = H.Flash()
    try:
        s = Slots(H.ROOT)
        assert s.active() == boot.FACTORY and s.inactive() == boot.SLOT_A
        ok, v = _stage(s, V2)
        assert ok and v == V2, v
        assert H.selected_tree() == ("factory", H.RUNNING)  # staged is not active
        assert bundle.verify_slot(s.slot_dir(boot.SLOT_A)) == V2
        assert s.activate(V2)
        assert H.selected_tree() == ("a", V2)
        assert s.in_trial() and not s.can_stage()
        assert _stage(s, V3)[0] is False  # the rollback target must stay intact
        assert s.confirm_healthy() and not s.in_trial() and not s.confirm_healthy()
        for _ in range(5):
            assert H.selected_tree() == ("a", V2)  # confirmed: no counting any more
        ok, v = _stage(s, V3, "v3")
        assert ok and s.inactive() == boot.SLOT_B and s.activate(V3)
        assert H.selected_tree() == ("b", V3)
        r = boot.read(H.ROOT)
        assert r.previous == boot.SLOT_A and r.prev_version == V2
    finally:
        fl.umount()


def test_bad_images_leave_running_firmware():
    fl = H.Flash()
    try:
        s = Slots(H.ROOT)
        good = bytearray(H.app_ota(V2))
        bad = bytearray(good)
        bad[200] ^= 1
        cases = (bytes(bad), bytes(good[:-10]), H.app_ota(V2, mfr=0x1234),
                 H.app_ota(0x00000100), H.app_ota(V2, hw=(0x0300, 0x03FF)))  # fmt: skip
        for data in cases:
            ok, why = _stage(s, None, data=data)
            assert not ok, why
            assert not s.activate(V2)  # nothing complete to activate
            assert H.selected_tree() == ("factory", H.RUNNING)
        # bundle version differing from the header's
        data = H.ota(H.bundle(H.app_files(V3), V3), V2)
        ok, why = _stage(s, V2, data=data)
        assert not ok
        # a manifest path that is not UTF-8 (any node can send any bytes): refused, no raise
        data = H.ota(H.bundle(H.app_files(V2) + [(b"ihd/\xff\xfe.py", b"x")], V2), V2)
        ok, why = _stage(s, V2, data=data)
        assert not ok and "UTF-8" in why, why
        assert H.selected_tree() == ("factory", H.RUNNING)
    finally:
        fl.umount()


def test_rollback_after_unconfirmed_boots():
    fl = H.Flash()
    try:
        s = Slots(H.ROOT)
        assert _stage(s, V2)[0] and s.activate(V2) and s.confirm_healthy()
        assert _stage(s, V3, "v3")[0] and s.activate(V3)
        for i in range(boot.MAX_TRIAL_BOOTS):
            assert H.selected_tree() == ("b", V3), i
            assert boot.read(H.ROOT).tries == i + 1
        assert H.selected_tree() == ("a", V2)  # 4th boot: back to the confirmed firmware
        r = boot.read(H.ROOT)
        assert r.state == boot.CONFIRMED and r.active == boot.SLOT_A
        assert s.rejected_version() == V3
    finally:
        fl.umount()


def test_rollback_to_factory_and_corrupt_slot():
    fl = H.Flash()
    try:
        s = Slots(H.ROOT)
        assert _stage(s, V2)[0] and s.activate(V2)
        # A file of the trial slot is damaged on flash: the full check at the trial boot
        # catches it and the factory firmware runs.
        with open(s.slot_dir(boot.SLOT_A) + "/ihd/hello.py", "wb") as f:
            f.write(b"WHO = 'evil'\n")
        assert H.selected_tree() == ("factory", H.RUNNING)
        assert boot.read(H.ROOT).active == boot.FACTORY
        # A missing boot record or a garbage one: factory.
        H.write_file(H.ROOT + "/slots/boot", b"garbage")
        assert H.selected_tree() == ("factory", H.RUNNING)
    finally:
        fl.umount()


def test_select_imports_from_slot():
    fl = H.Flash()
    saved = dict(sys.modules)
    path = list(sys.path)
    try:
        s = Slots(H.ROOT)
        assert _stage(s, V2, "slot-a")[0] and s.activate(V2)
        assert boot.select(H.ROOT) == "a"
        assert sys.path[0] == H.ROOT + "/slots/a"
        import ihd
        import ihd.hello

        assert ihd.FILE_VERSION == V2 and ihd.hello.WHO == "slot-a"
    finally:
        sys.path[:] = path
        for k in list(sys.modules):
            if k not in saved:
                del sys.modules[k]
        sys.modules.update(saved)
        fl.umount()
