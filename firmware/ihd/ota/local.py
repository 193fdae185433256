# Local update (docs/ota.md "Local update"): the same check, staging and activation as the HAN
# path, for an OTA file already on the device's flash (copied by `python -m host_tools.ota
# apply`, or the unix port's --unix-flash). Prints "@@ota <stage> <done> <total>" progress lines
# that the host turns into a progress bar. Activation makes the new firmware the trial one: it
# runs after the next reset and must confirm health like an OTA upgrade.
import os

from ihd import ota
from ihd.ota import image as IM
from ihd.ota.slots import Slots


def apply(path, root, board, allow_downgrade=False, activate=True, dry_run=False, progress=True):
    # -> (ok, message). board: the board module (or any object with NAME, HW_VERSION), passed in
    # by the caller (the host's mpremote script): services never import `board`.
    # dry_run: verify only (the inactive slot is still written and checked, but not activated).
    size = os.stat(path)[6]
    v = IM.Verifier(ota.MANUFACTURER_CODE, ota.image_type(board), ota.running_version(),
                    ota.hw_version(board), None, allow_downgrade)  # fmt: skip
    s = Slots(root)
    step = [0]

    def prog(done):
        if progress and (done - step[0] >= 4096 or done >= size - 200):
            step[0] = done
            print("@@ota stage %d %d" % (done, size))

    ok, res = s.stage(path, v, prog)
    if not ok:
        print("@@ota fail", res)
        return False, res
    if dry_run or not activate:
        print("@@ota verified 0x%08x" % res)
        return True, "verified %s" % IM.file_version_str(res)
    if not s.activate(res):
        print("@@ota fail activation")
        return False, "activation failed"
    print("@@ota activated 0x%08x" % res)
    return True, "activated %s (trial until confirmed)" % IM.file_version_str(res)
