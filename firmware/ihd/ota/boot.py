# Boot selector (docs/ota.md "Boot"): run by main.py before the app is imported. Reads the boot
# record, counts trial boots of a new firmware and rolls back after MAX_TRIAL_BOOTS boots that
# did not confirm health, checks the chosen slot is complete, then puts its directory first on
# sys.path and forgets the already-imported `ihd` modules so the app is imported from the slot.
# The factory firmware (the files at the filesystem root, written by `make flash`) is always the
# last resort, so no state of the slots can leave the device without a firmware to run.
#
# Boot record "<root>/slots/boot" (runtime.atomic: tmp + rename, CRC; 18-byte payload, LE):
#   0  4  magic b"IHBR"   4  u8 format (1)   5  u8 active slot (0 factory, 1 a, 2 b)
#   6  u8 previous slot   7  u8 state (0 confirmed, 1 trial)   8  u8 trial boots so far
#   9  u8 reserved        10 u32 active file version          14 u32 previous file version
import struct
import sys

from micropython import const

from ihd.runtime import atomic

FACTORY = const(0)
SLOT_A = const(1)
SLOT_B = const(2)
CONFIRMED = const(0)
TRIAL = const(1)
MAX_TRIAL_BOOTS = const(3)
NAMES = ("factory", "a", "b")
_MAGIC = b"IHBR"
_FMT = "<4sBBBBBBII"


class Record:
    def __init__(self, active=FACTORY, previous=FACTORY, state=CONFIRMED, tries=0, version=0,
                 prev_version=0):  # fmt: skip
        self.active = active
        self.previous = previous
        self.state = state
        self.tries = tries
        self.version = version
        self.prev_version = prev_version

    def pack(self):
        return struct.pack(_FMT, _MAGIC, 1, self.active, self.previous, self.state, self.tries, 0,
                           self.version, self.prev_version)  # fmt: skip

    def __repr__(self):
        return "Record(%s<-%s %s tries=%d v=0x%08x prev=0x%08x)" % (
            NAMES[self.active], NAMES[self.previous], "trial" if self.state else "confirmed",
            self.tries, self.version, self.prev_version)  # fmt: skip


def record_path(root):
    return root + "/slots/boot"


def slot_dir(root, slot):
    return root + "/slots/" + NAMES[slot]


def read(root):
    # -> Record; a missing or unreadable record means "factory, confirmed".
    raw = atomic.read(record_path(root))
    if not raw or len(raw) != struct.calcsize(_FMT):
        return Record()
    magic, fmt, act, prev, st, tries, _, v, pv = struct.unpack(_FMT, raw)
    if magic != _MAGIC or fmt != 1 or act > SLOT_B or prev > SLOT_B or st > TRIAL:
        return Record()
    return Record(act, prev, st, tries, v, pv)


def write(root, rec):
    try:
        import os

        os.mkdir(root + "/slots")
    except OSError:
        pass
    atomic.write(record_path(root), rec.pack())


def rejected_version(root):
    raw = atomic.read(root + "/slots/rejected")
    return struct.unpack("<I", raw)[0] if raw and len(raw) == 4 else -1


def slot_ok(root, slot, version, full=False):
    # Complete (manifest marker present, right version); full: every file's SHA-256 too.
    if slot == FACTORY:
        return True
    from ihd.ota import bundle

    d = slot_dir(root, slot)
    if full:
        return bundle.verify_slot(d) == version
    m = bundle.read_marker(d)
    return m is not None and m[0] == version


def decide(root, max_trial_boots=MAX_TRIAL_BOOTS, log=None):
    # -> (slot to run, record as written). Writes the record when it changes.
    rec = read(root)
    changed = False
    if rec.state == TRIAL:
        rec.tries += 1
        changed = True
        if rec.tries > max_trial_boots:
            if log:
                log("rollback: %s unconfirmed after %d boots" % (NAMES[rec.active], rec.tries - 1))
            # Remembered so the OTA client does not fetch the same bad version again.
            atomic.write(root + "/slots/rejected", struct.pack("<I", rec.version))
            rec = Record(rec.previous, FACTORY, CONFIRMED, 0, rec.prev_version, 0)
    if rec.active != FACTORY and not slot_ok(root, rec.active, rec.version, rec.state == TRIAL):
        if log:
            log("slot %s incomplete or corrupt" % NAMES[rec.active])
        if rec.previous != FACTORY and slot_ok(root, rec.previous, rec.prev_version, True):
            rec = Record(rec.previous, FACTORY, CONFIRMED, 0, rec.prev_version, 0)
        else:
            rec = Record()
        changed = True
    if changed:
        write(root, rec)
    return rec.active, rec


def select(root="/flash", max_trial_boots=MAX_TRIAL_BOOTS, path=None):
    # main.py: call before importing the app. -> the slot name that will run. Never raises: any
    # failure here boots the factory firmware.
    def say(msg):
        print("boot:", msg)

    try:
        slot, rec = decide(root, max_trial_boots, say)
    except Exception as e:  # noqa: BLE001 - a broken record must not stop the boot
        say("selector failed (%r): factory firmware" % (e,))
        return NAMES[FACTORY]
    if slot != FACTORY:
        p = sys.path if path is None else path
        d = slot_dir(root, slot)
        if d in p:
            p.remove(d)
        p.insert(0, d)
        # The selector itself imported `ihd` from the factory tree: forget it so that the
        # next `import ihd...` resolves in the slot.
        for k in list(sys.modules):
            if k == "ihd" or k.startswith("ihd."):
                del sys.modules[k]
    say("running %s (0x%08x, %s)" % (NAMES[slot], rec.version, "trial" if rec.state else "ok"))
    return NAMES[slot]
