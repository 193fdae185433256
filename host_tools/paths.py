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
