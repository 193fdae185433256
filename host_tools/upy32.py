# 32-bit MicroPython unix port, built from the pinned source, in two flavours:
#   unix32         plain build (only asyncio frozen); the firmware runs as .mpy files compiled by
#                  this build's own mpy-cross (-march=x86 -O2) into build/upy32/mpy/<key>/
#   unix32-frozen  asyncio, ihd, drivers and the unix board modules frozen in
#                  (boards/unix/manifest.py)
# Source: vendor/micropython-1.28.0-src.tar.gz in this repo (or ../shared/vendor/; sha256
# checked), else a shallow git clone of the upstream tag. Everything is cached under
# build/upy32/ and keyed (source sha256 + flags, plus a hash of the firmware sources for what
# depends on them), so an unchanged tree decides in well under a second.
# CLI: python -m host_tools.upy32 build [--kind ...] | path KIND
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

from host_tools import cli, paths

KINDS = ("unix32", "unix32-frozen")
# The source tarball: the copy in this repo (vendor/, so any clone builds offline), else the
# shared one beside the checkout; either is checked against TARBALL_SHA256.
_TARBALLS = (
    os.path.join(paths.ROOT, "vendor", "micropython-1.28.0-src.tar.gz"),
    os.path.join(os.path.dirname(paths.ROOT), "shared", "vendor", "micropython-1.28.0-src.tar.gz"),
)
TARBALL = next((t for t in _TARBALLS if os.path.exists(t)), _TARBALLS[0])
TARBALL_SHA256 = "8b512786bbf5f57988c980c2e80839eb3cefb74450aeaa9988a25f71d8265890"
UPSTREAM = "https://github.com/micropython/micropython.git"
TAG, TAG_COMMIT = "v1.28.0", "e0e9fbb17ed6fd06bb76e266ae554784c9c80804"
AXTLS_COMMIT = "531cab9c278c947d268bd4c94ecab9153a961b43"

# make flags of both builds (the submodules missing from the vendored subset are switched off)
UNIX_FLAGS = (
    "VARIANT=standard",
    "MICROPY_FORCE_32BIT=1",
    "MICROPY_PY_FFI=0",
    "MICROPY_PY_BTREE=0",
    "MICROPY_SSL_AXTLS=1",
    "MICROPY_SSL_MBEDTLS=0",
)
MARCH = "-march=x86"  # viper/native code in frozen modules and .mpy files
MPY_OPT = "-O2"
PLAIN_MANIFEST = 'include("$(MPY_DIR)/extmod/asyncio")\n'
RECIPE = 1  # bump to force a clean rebuild of everything when this file's recipe changes

TOP = os.path.join(paths.BUILD, "upy32")
BIN = os.path.join(TOP, "bin")
EXE = {
    "unix32": os.path.join(BIN, "micropython32"),
    "unix32-frozen": os.path.join(BIN, "micropython32-frozen"),
}
MPY_CROSS = os.path.join(BIN, "mpy-cross32")
UNIX_BOARD = os.path.join(paths.BOARDS, "unix")
FROZEN_MANIFEST = os.path.join(UNIX_BOARD, "manifest.py")


class Upy32Error(RuntimeError):
    pass


def _say(msg):
    print("upy32: " + msg, file=sys.stderr, flush=True)


@contextlib.contextmanager
def _step(what):
    # One progress line per step: "upy32: <what>... 15 s" (or "... failed").
    print("upy32: %s... " % what, end="", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    try:
        yield
    except BaseException:
        print("failed", file=sys.stderr, flush=True)
        raise
    print("%.0f s" % (time.monotonic() - t0), file=sys.stderr, flush=True)


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _hash(*parts):
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


# --- cache keys ---------------------------------------------------------------------------------


def base_key():
    # The plain interpreter (and mpy-cross): source identity + build flags.
    return _hash(RECIPE, TARBALL_SHA256, UNIX_FLAGS, PLAIN_MANIFEST)


def firmware_sources(root=paths.ROOT):
    # Repo-relative paths of every file the frozen build freezes (and unix32 compiles), sorted:
    # firmware/ihd/**/*.py, firmware/drivers/**/*.py, boards/unix/*.py (manifest.py included).
    out = []
    for pkg in ("ihd", "drivers"):
        top = os.path.join(root, "firmware", pkg)
        for base, dirs, files in os.walk(top):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            out += [os.path.join(base, f) for f in files if f.endswith(".py")]
    board = os.path.join(root, "boards", "unix")
    out += [os.path.join(board, f) for f in os.listdir(board) if f.endswith(".py")]
    return sorted(os.path.relpath(p, root) for p in out)


def source_key(root=paths.ROOT):
    # Hash of the names and contents of firmware_sources(root).
    h = hashlib.sha256()
    for rel in firmware_sources(root):
        with open(os.path.join(root, rel), "rb") as f:
            data = f.read()
        h.update(b"%s\0%d\0" % (rel.encode(), len(data)))
        h.update(data)
    return h.hexdigest()


def frozen_key(root=paths.ROOT):
    return _hash(base_key(), MARCH, source_key(root))


def mpy_key(root=paths.ROOT):
    return _hash(base_key(), MARCH, MPY_OPT, source_key(root))


def mpy_tree_dir(key=None):
    return os.path.join(TOP, "mpy", (key or mpy_key())[:16])


# --- source ------------------------------------------------------------------------------------


def _run(cmd, log=None, **kw):
    # Run quietly; on failure show the tail of the output and raise one clear error.
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_CEILING_DIRECTORIES=TOP)
    try:
        p = subprocess.run(
            cmd, env=env, capture_output=True, text=True, errors="replace", check=False, **kw
        )
    except FileNotFoundError:
        raise Upy32Error("%s not found (needed to build the 32-bit port)" % cmd[0]) from None
    out = p.stdout + p.stderr
    if log:
        with open(log, "w") as f:
            f.write(out)
    if p.returncode:
        lines = [ln for ln in out.splitlines() if ln.strip()] or ["(no output)"]
        sub = [a for i, a in enumerate(cmd[1:], 1) if a[0] != "-" and cmd[i - 1] != "-C"]
        what = "%s %s" % (os.path.basename(cmd[0]), sub[0] if sub else "")
        if log:  # a build: show its tail, point at the whole log
            print("\n".join(lines[-25:]), file=sys.stderr)
            raise Upy32Error(
                "%s failed (exit %d); full log: %s"
                % (what.strip(), p.returncode, os.path.relpath(log, paths.ROOT))
            )
        raise Upy32Error("%s failed (exit %d): %s" % (what.strip(), p.returncode, lines[-1]))
    return p.stdout


def _extract(dest):
    got = _sha256_file(TARBALL)
    if got != TARBALL_SHA256:
        raise Upy32Error(
            "%s has sha256 %s, expected %s (see vendor/README.md); refusing to build"
            % (TARBALL, got, TARBALL_SHA256)
        )
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    with _step("extracting %s" % os.path.basename(TARBALL)):
        _run(["tar", "xzf", TARBALL, "--strip-components=1", "-C", tmp])
    os.rename(tmp, dest)


def _git_fetch(dest):
    # No tarball beside the checkout: the same tree from upstream (needs network and git).
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    git = ["git", "-C", tmp]
    try:
        with _step("no %s: cloning MicroPython %s from %s" % (TARBALL, TAG, UPSTREAM)):
            _run(["git", "clone", "-q", "--depth", "1", "--branch", TAG, UPSTREAM, tmp])
            head = _run(git + ["rev-parse", "HEAD"]).strip()
            if head != TAG_COMMIT:
                raise Upy32Error("tag %s is commit %s, expected %s" % (TAG, head, TAG_COMMIT))
            link = _run(git + ["ls-tree", "HEAD", "lib/axtls"]).split()
            if link[2:3] != [AXTLS_COMMIT]:
                raise Upy32Error(
                    "lib/axtls is pinned at %s, expected %s" % (" ".join(link), AXTLS_COMMIT)
                )
            _run(git + ["submodule", "update", "--init", "--depth", "1", "lib/axtls"])
            sub = _run(["git", "-C", os.path.join(tmp, "lib", "axtls"), "rev-parse", "HEAD"])
            if sub.strip() != AXTLS_COMMIT:
                raise Upy32Error("lib/axtls checked out at %s, expected %s" % (sub, AXTLS_COMMIT))
    except Upy32Error as e:
        shutil.rmtree(tmp, ignore_errors=True)
        raise Upy32Error(
            "no %s and cannot fetch MicroPython %s from upstream instead (%s)"
            % (os.path.relpath(TARBALL, paths.ROOT), TAG, e)
        ) from None
    os.rename(tmp, dest)


def source_dir():
    # The extracted source tree (extracted or cloned once).
    tar_dir = os.path.join(TOP, "src-" + TARBALL_SHA256[:12])
    git_dir = os.path.join(TOP, "src-git-" + TAG_COMMIT[:12])
    for d in (tar_dir, git_dir):
        if os.path.isdir(d):
            return d
    os.makedirs(TOP, exist_ok=True)
    if os.path.exists(TARBALL):
        _extract(tar_dir)
        return tar_dir
    _git_fetch(git_dir)
    return git_dir


# --- builds ------------------------------------------------------------------------------------


def _read_stamp(exe):
    try:
        with open(exe + ".stamp") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _current(exe, key):
    return os.path.exists(exe) and _read_stamp(exe).get("key") == key


def _install(src, dst, stamp=None):
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    tmp = dst + ".tmp"
    shutil.copy2(src, tmp)
    os.replace(tmp, dst)  # atomic: running processes keep the old binary
    if stamp is not None:
        with open(dst + ".stamp", "w") as f:
            json.dump(stamp, f)


def _jobs():
    return "-j%d" % (os.cpu_count() or 2)


def _mpy_cross(src):
    exe = os.path.join(src, "mpy-cross", "build", "mpy-cross")
    if _current(MPY_CROSS, base_key()) and os.path.exists(exe):
        return MPY_CROSS
    with _step("building mpy-cross"):
        _run(["make", "-C", os.path.join(src, "mpy-cross"), _jobs()], log=_log("mpy-cross"))
    _install(exe, MPY_CROSS, {"key": base_key()})
    return MPY_CROSS


def _log(name):
    d = os.path.join(TOP, "logs")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name + ".log")


def _build_unix(kind, src, key, base, compile_only=False):
    # compile_only: run the build, not the check (it needs the venv's mpy-cross), and leave a
    # stamp that is not "current" but lets the next full build reuse the objects as they are.
    exe = EXE[kind]
    build = "build-frozen" if kind == "unix32-frozen" else "build-standard"
    port = os.path.join(src, "ports", "unix")
    old = _read_stamp(exe)
    with contextlib.suppress(FileNotFoundError):
        os.remove(exe + ".stamp")
    if old.get("base") != base:
        shutil.rmtree(os.path.join(port, build), ignore_errors=True)  # other flags: start clean
    elif kind == "unix32-frozen" and old.get("compiled") != key:
        # Sources changed: refreeze all of them. The manifest tool goes by mtimes only (misses a
        # deleted file, or one restored with an old mtime); the C objects stay, so still quick.
        shutil.rmtree(os.path.join(port, build, "frozen_mpy"), ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(port, build, "frozen_content.c"))
    libdir = os.path.join(TOP, "mpylib")  # the manifest tool wants a README.md here, nothing else
    os.makedirs(libdir, exist_ok=True)
    with open(os.path.join(libdir, "README.md"), "w") as f:
        f.write("Empty: nothing from micropython-lib is frozen into the 32-bit builds.\n")
    cmd = ["make", "-C", port, _jobs(), "BUILD=" + build, *UNIX_FLAGS, "MPY_LIB_DIR=" + libdir]
    if kind == "unix32-frozen":
        cmd += ["MPY_CROSS_FLAGS=" + MARCH, "FROZEN_MANIFEST=" + FROZEN_MANIFEST]
        what = "building 32-bit unix port (frozen firmware)"
    else:
        manifest = os.path.join(TOP, "manifest-plain.py")
        with open(manifest, "w") as f:
            f.write(PLAIN_MANIFEST)
        cmd += ["FROZEN_MANIFEST=" + manifest]
        what = "building 32-bit unix port (plain)"
    with _step(what):
        _run(cmd, log=_log(kind))
    if compile_only:
        with open(exe + ".stamp", "w") as f:
            json.dump({"compiled": key, "base": base}, f)
        return
    _install(os.path.join(port, build, "micropython"), exe)
    check(kind)
    with open(exe + ".stamp", "w") as f:
        json.dump({"key": key, "base": base}, f)


def _build_mpy_tree(mpy_cross, key):
    # firmware/ihd, firmware/drivers -> <tree>/firmware/...; boards/unix/*.py -> <tree>/unix/
    tree = mpy_tree_dir(key)
    tmp = tree + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    with _step("compiling firmware to .mpy (%s %s)" % (MARCH, MPY_OPT)):
        for rel in firmware_sources():
            parts = rel.split(os.sep)
            if parts[0] == "firmware":
                dev_rel = os.path.join(*parts[1:])  # ihd/app.py: as staged on a board
                out = os.path.join(tmp, "firmware", dev_rel)
            elif parts[-1] == "manifest.py":
                continue
            else:
                dev_rel = parts[-1]
                out = os.path.join(tmp, "unix", dev_rel)
            out = out[:-3] + ".mpy"
            os.makedirs(os.path.dirname(out), exist_ok=True)
            src = os.path.join(paths.ROOT, rel)
            _run([mpy_cross, MARCH, MPY_OPT, "-s", dev_rel, "-o", out, src])
    shutil.rmtree(tree, ignore_errors=True)
    os.rename(tmp, tree)
    # keep the five newest other trees (a test session may still be importing from one)
    parent = os.path.dirname(tree)
    old = [os.path.join(parent, d) for d in os.listdir(parent) if not d.endswith(".tmp")]
    old = sorted((p for p in old if p != tree), key=os.path.getmtime)
    for p in old[:-5]:
        shutil.rmtree(p, ignore_errors=True)
    return tree


@contextlib.contextmanager
def _lock():
    os.makedirs(TOP, exist_ok=True)
    with open(os.path.join(TOP, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _is_current(kind):
    if kind == "unix32-frozen":
        return _current(EXE[kind], frozen_key())
    tree = mpy_tree_dir()
    return _current(EXE[kind], base_key()) and os.path.isdir(tree)


def ensure(kind, compile_only=False):
    # Build `kind` if its cache key changed; returns the interpreter's path. Progress on stderr.
    # compile_only (frozen kind): see _build_unix; `make test` runs it beside `pip install`.
    if kind not in KINDS:
        raise Upy32Error("unknown kind %r; choose from %s" % (kind, ", ".join(KINDS)))
    if _is_current(kind):  # fast path, no lock
        return EXE[kind]
    with _lock():
        if _is_current(kind):  # built by someone else meanwhile
            return EXE[kind]
        src = source_dir()
        mpy_cross = _mpy_cross(src)
        base = base_key()
        if kind == "unix32":
            if not _current(EXE[kind], base):
                _build_unix(kind, src, base, base)
            key = mpy_key()
            if not os.path.isdir(mpy_tree_dir(key)):
                _build_mpy_tree(mpy_cross, key)
        else:
            _build_unix(kind, src, frozen_key(), base, compile_only)
    return EXE[kind]


def firmware_dirs(kind):
    # The directories `kind` imports the firmware from, as of now (built first if missing);
    # the frozen kind has none.
    if kind == "unix32-frozen":
        return []
    if kind != "unix32":
        raise Upy32Error("unknown kind %r; choose from %s" % (kind, ", ".join(KINDS)))
    tree = mpy_tree_dir()
    if not os.path.isdir(tree):
        ensure(kind)
        tree = mpy_tree_dir()
    return [os.path.join(tree, "firmware"), os.path.join(tree, "unix")]


def micropypath(kind, board="unix", extra=(), dirs=None):
    # MICROPYPATH for `kind`: extra, the firmware dirs (default: firmware_dirs(kind)), .frozen.
    # Only the unix board exists on 32 bits.
    if board != "unix":
        raise Upy32Error("%s runs the unix board only, not %r" % (kind, board))
    if dirs is None:
        dirs = firmware_dirs(kind)
    return ":".join(list(extra) + list(dirs) + [".frozen"])


def check(kind):
    # The build is 32-bit, has littlefs2, and reads the .mpy version the pinned mpy-cross writes.
    from host_tools import toolchain

    code = "import struct, sys, vfs\n"
    code += "print(struct.calcsize('P'), hasattr(vfs, 'VfsLfs2'), sys.implementation._mpy)\n"
    if kind == "unix32-frozen":
        code += "import ihd, drivers\n"
    env = dict(os.environ, MICROPYPATH=".frozen")
    p = subprocess.run([EXE[kind], "-c", code], capture_output=True, text=True, env=env)
    if p.returncode:
        raise Upy32Error("%s does not run: %s" % (EXE[kind], (p.stdout + p.stderr).strip()))
    ptr, lfs2, mpy = p.stdout.split()
    got = (int(mpy) & 0xFF, (int(mpy) >> 8) & 3)
    want = toolchain.mpy_cross_mpy()
    if ptr != "4" or lfs2 != "True":
        raise Upy32Error("%s: pointer size %s, VfsLfs2 %s (want 4, True)" % (EXE[kind], ptr, lfs2))
    if got != want:
        raise Upy32Error(
            "%s reads mpy v%d.%d but the pinned mpy-cross emits v%d.%d"
            % ((EXE[kind],) + got + want)
        )


# --- CLI ---------------------------------------------------------------------------------------


@cli.guarded("upy32")
def main(argv=None):
    ap = cli.ArgumentParser(
        prog="python -m host_tools.upy32",
        description="build the 32-bit MicroPython unix port (cached under build/upy32/)",
    )
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    b = sub.add_parser("build", help="build (or confirm up to date) the 32-bit interpreters")
    b.add_argument("--kind", choices=KINDS + ("all",), default="all", help="default: all")
    b.add_argument(
        "--compile-only",
        action="store_true",
        help="unix32-frozen: compile only, no check (runs before the venv exists)",
    )
    p = sub.add_parser("path", help="print an interpreter's path (building it if needed)")
    p.add_argument("kind", choices=paths.INTERPRETERS)
    m = sub.add_parser("micropypath", help="print the MICROPYPATH that goes with an interpreter")
    m.add_argument("kind", choices=paths.INTERPRETERS)
    args = ap.parse_args(argv)
    try:
        if args.cmd == "build":
            kinds = KINDS if args.kind == "all" else (args.kind,)
            if args.compile_only and kinds != ("unix32-frozen",):
                ap.error("--compile-only is for --kind unix32-frozen")
            for k in kinds:
                was = _is_current(k)
                ensure(k, args.compile_only)
                if was:
                    _say("%s up to date: %s" % (k, os.path.relpath(EXE[k], paths.ROOT)))
        elif args.cmd == "path":
            print(paths.interpreter(args.kind).exe)
        else:
            print(paths.interpreter(args.kind).micropypath())
    except (Upy32Error, OSError) as e:
        print("upy32: error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
