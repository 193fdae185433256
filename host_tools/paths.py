# Where things live in the repo, for every host tool.
import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = os.path.join(ROOT, "firmware")
BOARDS = os.path.join(ROOT, "boards")
BUILD = os.path.join(ROOT, "build")
TESTS = os.path.join(ROOT, "tests")


def micropython_exe():
    # Prefer the interpreter installed next to the running Python (the venv), then PATH.
    cand = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(cand):
        return cand
    found = shutil.which("micropython")
    if not found:
        raise SystemExit("micropython (unix port) not found: run `make setup`")
    return found


def micropypath(board="unix", extra=()):
    # MICROPYPATH for running the firmware tree in place on the unix port.
    parts = list(extra) + [FIRMWARE, os.path.join(BOARDS, board), ".frozen"]
    return ":".join(parts)


# Interpreter kinds the host tools and tests can run the firmware on:
#   unix64         the pip unix port (.venv/bin/micropython), firmware as .py source in place
#   unix32         32-bit unix port built from the pinned source, firmware as .mpy files
#   unix32-frozen  32-bit unix port with the firmware and the unix board frozen in
# (host_tools/upy32.py builds the 32-bit ones; docs/toolchain.md)
INTERPRETERS = ("unix64", "unix32", "unix32-frozen")


class Interpreter:
    # .kind, .exe, .micropypath(board, extra). A 32-bit interpreter keeps the firmware location
    # it was made with (the unix32 .mpy tree is keyed on the sources), so one session stays on
    # one tree even if the firmware is edited meanwhile.
    def __init__(self, kind, exe, dirs=None):
        self.kind = kind
        self.exe = exe
        self._dirs = dirs

    def micropypath(self, board="unix", extra=()):
        # The MICROPYPATH string for running the firmware on this interpreter; `extra` goes first.
        if self.kind == "unix64":
            return micropypath(board, extra)
        from host_tools import upy32

        return upy32.micropypath(self.kind, board, extra, dirs=self._dirs)

    def __repr__(self):
        return "Interpreter(%r, %r)" % (self.kind, self.exe)


def interpreter(kind="unix64"):
    # A 32-bit kind is built first if its sources changed (progress on stderr; a failed build
    # raises host_tools.upy32.Upy32Error).
    if kind not in INTERPRETERS:
        raise ValueError(
            "unknown interpreter %r; choose from %s" % (kind, ", ".join(INTERPRETERS))
        )
    if kind == "unix64":
        return Interpreter(kind, micropython_exe())
    from host_tools import upy32

    exe = upy32.ensure(kind)
    return Interpreter(kind, exe, upy32.firmware_dirs(kind))
