# Local update (docs/ota.md "Local update"): the same check, staging and activation as the HAN
# path, for an OTA file already on the device's flash (copied by `python -m host_tools.ota
# apply`, or the unix port's --unix-flash). Prints "@@ota <stage> <done> <total>" progress lines
# that the host turns into a progress bar. Activation makes the new firmware the trial one: it
# runs after the next reset and must confirm health like an OTA upgrade. The signature is
# checked as on the HAN route (trusted keys: ihd/ota/trust.py and the board's key file); no
# event loop runs here, so the check runs through in one go.
import os

from ihd import ota
from ihd.ota import image as IM
from ihd.ota import trust
from ihd.ota.slots import Slots

_READ = 512


def apply(path, root, board, allow_downgrade=False, activate=True, dry_run=False, progress=True,
          allow_unsigned=False):  # fmt: skip
    # -> (ok, message). board: the board module (or an object with its NAME, HW_VERSION and
    # OTA_KEYS_FILE), passed in by the caller (the host's mpremote script): services never
    # import `board`. dry_run: verify only; nothing on flash is written (no slot is touched).
    size = os.stat(path)[6]
    v = IM.Verifier(ota.MANUFACTURER_CODE, ota.image_type(board), ota.running_version(),
                    ota.hw_version(board), None, allow_downgrade, None,
                    trust.load(trust.MANUFACTURER_KEYS, board.OTA_KEYS_FILE),
                    allow_unsigned)  # fmt: skip
    step = [0]

    def prog(done):
        if progress and (done - step[0] >= 4096 or done >= size - 200):
            step[0] = done
            print("@@ota stage %d %d" % (done, size))

    if dry_run:
        err = _check(path, v, prog)
        if err:
            print("@@ota fail", err)
            return False, err
        print("@@ota verified 0x%08x" % v.header.file_version)
        return True, "verified %s (dry run: nothing written)" % IM.file_version_str(
            v.header.file_version
        )
    s = Slots(root)
    ok, res = s.stage(path, v, prog)
    if not ok:
        print("@@ota fail", res)
        return False, res
    if not activate:
        print("@@ota verified 0x%08x" % res)
        return True, "staged %s" % IM.file_version_str(res)
    if not s.activate(res):
        print("@@ota fail activation")
        return False, "activation failed"
    print("@@ota activated 0x%08x" % res)
    return True, "activated %s (trial until confirmed)" % IM.file_version_str(res)


def _check(path, v, prog):
    # The whole file through the verifier, nothing written. -> None or the reason.
    v.reset()
    buf = bytearray(_READ)
    mv = memoryview(buf)
    done = 0
    try:
        with open(path, "rb") as f:
            while True:
                n = f.readinto(buf)
                if not n:
                    break
                done += n
                prog(done)
                if v.feed(buf if n == len(buf) else mv[:n]):
                    break
    except OSError as e:
        return "flash: %r" % (e,)
    return v.reason() if v.finish() else None
