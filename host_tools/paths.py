# Where things live in the repo, for every host tool.
# The host tools run from a checkout (`python -m host_tools.X`, make) or installed with
# `pip install .` (the ihd-* commands). Many need the checkout's firmware/, boards/ or tests/
# (simulate, run, flash, screens, history export/plot, ota build of the firmware, upy32): the one
# holding this package, else $IHD_CHECKOUT, else the current directory or one above it. With no
# checkout ROOT, FIRMWARE, BOARDS and TESTS are unset, and a tool that uses one exits with one
# line saying so; BUILD (dev keys, caches) is then a per-user cache directory.
import os
import shutil
import sys

_NEEDS_CHECKOUT = ("ROOT", "FIRMWARE", "BOARDS", "TESTS")
_HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def is_checkout(d):
    return os.path.isfile(os.path.join(d, "firmware", "main.py")) and os.path.isdir(
        os.path.join(d, "boards")
    )


def find_checkout():
    # -> the checkout's root directory, or None.
    if is_checkout(_HERE):
        return _HERE
    env = os.environ.get("IHD_CHECKOUT")
    if env:
        return os.path.abspath(env) if is_checkout(env) else None
    try:
        d = os.getcwd()
    except OSError:
        return None
    while True:
        if is_checkout(d):
            return d
        up = os.path.dirname(d)
        if up == d:
            return None
        d = up


CHECKOUT = find_checkout()
if CHECKOUT is not None:
    ROOT = CHECKOUT
    FIRMWARE = os.path.join(ROOT, "firmware")
    BOARDS = os.path.join(ROOT, "boards")
    BUILD = os.path.join(ROOT, "build")
    TESTS = os.path.join(ROOT, "tests")
else:
    BUILD = os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "ihd-reference"
    )


def require_checkout(what=None):
    # -> the checkout's root; without one, exits with one line naming the tool.
    if CHECKOUT is not None:
        return CHECKOUT
    what = what or os.path.basename(sys.argv[0] or "host_tools")
    env = os.environ.get("IHD_CHECKOUT")
    how = (
        "IHD_CHECKOUT=%s is not one" % env if env else "run it inside one or set IHD_CHECKOUT=DIR"
    )
    raise SystemExit(
        "%s needs a checkout of the ihd-reference repository (firmware/, boards/): %s"
        % (what, how)
    )


def __getattr__(name):
    # paths.ROOT, FIRMWARE, BOARDS, TESTS with no checkout: one error line, not a traceback
    if name in _NEEDS_CHECKOUT:
        require_checkout()
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


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
    root = require_checkout()
    parts = list(extra) + [os.path.join(root, "firmware"), os.path.join(root, "boards", board)]
    parts.append(".frozen")
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
