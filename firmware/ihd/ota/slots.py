# A/B application slots on flash (docs/ota.md "Slots"): /flash/slots/a and /flash/slots/b hold
# complete application trees (bundle.py), the boot record (boot.py) says which one runs. A new
# firmware is staged into the slot that is not running, activated by one atomic write of the
# boot record (state TRIAL), and must call confirm_healthy() within MAX_TRIAL_BOOTS boots or the
# boot selector rolls back. Staging is refused while a trial is unconfirmed, so the rollback
# target is never overwritten.
import asyncio

from ihd.ota import boot, bundle
from ihd.ota import image as IM
from ihd.runtime import atomic, clock, log

_TAG = "slots"
_CHUNK = 512
OUT_OF_MEMORY = "out of memory"  # stage()'s reason when the heap, not the image, failed


class Slots:
    def __init__(self, root="/flash"):
        self.root = root
        self.staged_version = None
        self._buf = bytearray(_CHUNK)

    def record(self):
        return boot.read(self.root)

    def active(self):
        return self.record().active

    def in_trial(self):
        return self.record().state == boot.TRIAL

    def can_stage(self):
        return not self.in_trial()

    def inactive(self):
        return boot.SLOT_B if self.active() == boot.SLOT_A else boot.SLOT_A

    def slot_dir(self, slot):
        return boot.slot_dir(self.root, slot)

    def rejected_version(self):
        return boot.rejected_version(self.root)

    def stage(self, ota_path, verifier, progress=None, expect_version=None, expect_size=None):
        # Streams the OTA file at ota_path through `verifier` (image.Verifier) into the inactive
        # slot. -> (True, file version) or (False, reason). The slot is wiped first; it becomes
        # bootable only through activate().
        if not self.can_stage():
            return False, "previous upgrade not confirmed yet"
        slot = self.inactive()
        d = self.slot_dir(slot)
        bundle.rmtree(d)
        bundle.makedirs(d + "/x")
        w = bundle.Writer(d, expect_version, progress)
        verifier.reset(expect_version, expect_size)
        verifier.sink = w.feed
        buf = self._buf
        mv = memoryview(buf)
        atomic.spare_lend()  # staging holds files open at once: the spare's piece helps
        try:
            with open(ota_path, "rb") as f:
                while True:
                    n = f.readinto(buf)
                    if not n:
                        break
                    if verifier.feed(buf if n == len(buf) else mv[:n]):
                        break
            if not verifier.error and not verifier.finish():  # signature: see client._verified
                if verifier.header.file_version != w.version:
                    return False, "bundle version differs from the header"
                w.finish()
                self.staged_version = w.version
                log.info(_TAG, "staged %s into slot %s", IM.file_version_str(w.version),
                         boot.NAMES[slot])  # fmt: skip
                return True, w.version
            return False, verifier.reason()
        except bundle.BundleError as e:
            return False, str(e)
        except OSError as e:
            return False, "flash: %r" % (e,)
        except MemoryError:
            # No room in one piece on a fragmented heap: the caller tries again later.
            return False, OUT_OF_MEMORY
        except (ValueError, IndexError, KeyError, TypeError) as e:
            # Whatever bytes off the air make the code raise is a refused image (the caller
            # discards it), never a crash-restart loop with the download still marked complete.
            log.exc(_TAG, e, "staging")
            return False, "staging error %r" % (e,)
        finally:
            verifier.sink = None
            w.close()
            atomic.spare_keep()

    def activate(self, version):
        # The commit point: one atomic write makes the staged slot the trial firmware.
        slot = self.inactive()
        if not boot.slot_ok(self.root, slot, version):
            return False
        old = self.record()
        rec = boot.Record(slot, old.active, boot.TRIAL, 0, version, old.version)
        boot.write(self.root, rec)
        log.info(_TAG, "activated slot %s (trial) %r", boot.NAMES[slot], rec)
        return True

    def confirm_healthy(self):
        # The app calls this once the new firmware has proved itself (boots, NCP up, supervisor
        # stable for the grace period). Idempotent; cheap when already confirmed.
        rec = self.record()
        if rec.state != boot.TRIAL:
            return False
        rec.state = boot.CONFIRMED
        rec.tries = 0
        boot.write(self.root, rec)
        log.info(_TAG, "firmware confirmed healthy: %r", rec)
        return True


async def confirm_when_stable(slots, sup, ncp_up, grace_s=300, poll_s=10):
    # Task for the app: once the NCP is up and no supervised task restarted during grace_s of
    # device time, confirm the running firmware. ncp_up: () -> bool.
    if not slots.in_trial():
        return
    since = None
    restarts = -1
    while True:
        r = sum(s[2] for s in sup.status())
        now = clock.ticks_ms()
        if not ncp_up() or r != restarts:
            since = None
            restarts = r
        elif since is None:
            since = now
        elif clock.ticks_diff_ms(since) >= grace_s * 1000 // clock.scale():
            slots.confirm_healthy()
            return
        await asyncio.sleep_ms(max(1, poll_s * 1000 // clock.scale()))
