# python -m host_tools.ota build|inspect|apply (docs/ota.md).
#   build --version X --out FILE [--board unix] [--manufacturer 0xFFF1] [--image-type ..]
#         [--hw-min 0x0100 --hw-max 0x01FF] [--hmac-key HEX] [--source] [--files DIR]
#   inspect FILE                      header, sub-elements, digest, bundle manifest
#   apply FILE --port PORT [--dry-run] [--root /flash]       local update over mpremote
#   apply FILE --unix-flash IMAGE [--dry-run]                into a unix-port littlefs image
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from typing import List, Optional

from host_tools import paths
from host_tools.ota import fileformat as FF


def _int(text: str) -> int:
    return int(text, 0)


def cmd_build(a: argparse.Namespace) -> int:
    version = FF.parse_version(a.version)
    itype = a.image_type if a.image_type is not None else FF.IMAGE_TYPES[a.board]
    if a.files:
        files = FF.dir_files(a.files)
    else:
        files = FF.firmware_files(version, a.board, compiled=not a.source)
    data = FF.make_ota(
        FF.make_bundle(files, version),
        version,
        manufacturer=a.manufacturer,
        image_type=itype,
        hw_min=a.hw_min,
        hw_max=a.hw_max,
        header_string=a.header_string or "IHD %s %s" % (a.board, FF.version_str(version)),
        hmac_key=bytes.fromhex(a.hmac_key) if a.hmac_key else None,
    )
    with open(a.out, "wb") as f:
        f.write(data)
    print(
        "wrote %s: %d B, version %s, %d files, mfr 0x%04X type 0x%04X"
        % (a.out, len(data), FF.version_str(version), len(files), a.manufacturer, itype)
    )
    return 0


def inspect_text(data: bytes) -> str:
    info = FF.parse_ota(data)
    h = info["header"]
    out = [
        "OTA upgrade file, %d bytes" % len(data),
        "  upgrade file id  0x%08X" % h["upgrade_file_id"],
        "  header version   0x%04X" % h["header_version"],
        "  header length    %d" % h["header_length"],
        "  field control    0x%04X" % h["field_control"],
        "  manufacturer     0x%04X" % h["manufacturer"],
        "  image type       0x%04X" % h["image_type"],
        "  file version     0x%08X (%s)" % (h["file_version"], FF.version_str(h["file_version"])),
        "  stack version    0x%04X" % h["stack_version"],
        "  header string    %r" % h["header_string"],
        "  total size       %d (%s)" % (h["total_size"], "ok" if info["size_ok"] else "MISMATCH"),
    ]
    if "hw_min" in h:
        out.append("  hardware         0x%04X .. 0x%04X" % (h["hw_min"], h["hw_max"]))
    if "destination" in h:
        out.append("  destination      %s" % h["destination"])
    out.append("sub-elements:")
    for tag, off, length in info["elements"]:
        out.append("  0x%04X %-40s %8d B at %d" % (tag, FF.TAG_NAMES.get(tag, "?"), length, off))
    d = info["digest_ok"]
    out.append("SHA-256 element: %s" % ("missing" if d is None else ("ok" if d else "BAD")))
    try:
        ver, entries, _ = FF.parse_bundle(FF.upgrade_image(data))
        out.append("bundle: version 0x%08X, %d files" % (ver, len(entries)))
        for path, size, hsh in entries:
            out.append("  %8d  %s  %s" % (size, hsh.hex()[:16], path))
    except (FF.OtaFormatError, IndexError, UnicodeDecodeError) as e:
        out.append("bundle: not readable (%s)" % e)
    return "\n".join(out)


def cmd_inspect(a: argparse.Namespace) -> int:
    with open(a.file, "rb") as f:
        data = f.read()
    try:
        print(inspect_text(data))
    except FF.OtaFormatError as e:
        print("not a valid OTA file: %s" % e)
        return 1
    return 0


_UNIX_APPLY = """
import sys
from blockdev import FileBlockDev
from ihd.runtime import storage
dev = FileBlockDev(sys.argv[1], %(bs)d, %(bc)d)
st = storage.mount(dev, "/flash")
import os
try:
    os.mkdir("/flash/ota")
except OSError:
    pass
src = sys.argv[2]
dst = "/flash/ota/local.bin"
with open(src, "rb") as fi, open(dst, "wb") as fo:
    buf = bytearray(4096)
    while True:
        n = fi.readinto(buf)
        if not n:
            break
        fo.write(memoryview(buf)[:n])

class Board:
    NAME = %(board)r

from ihd.ota import local
ok, msg = local.apply(dst, "/flash", Board(), dry_run=%(dry)r)
os.remove(dst)
print("@@ota result", ok, msg)
st.umount()
dev.close()
"""


def _bar(done: int, total: int) -> None:
    w = 40
    k = w * done // max(total, 1)
    sys.stdout.write("\r[%s%s] %3d%%" % ("#" * k, "." * (w - k), 100 * done // max(total, 1)))
    sys.stdout.flush()


def _follow(cmd: List[str], env: Optional[dict] = None) -> int:
    # Runs the device side, draws the progress bar from its "@@ota stage" lines.
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env)  # fmt: skip
    ok = False
    assert p.stdout is not None
    for line in p.stdout:
        parts = line.split()
        if parts[:2] == ["@@ota", "stage"]:
            _bar(int(parts[2]), int(parts[3]))
        elif parts[:2] == ["@@ota", "result"]:
            sys.stdout.write("\n")
            ok = parts[2] == "True"
            print(" ".join(parts[3:]))
        elif parts[:1] == ["@@ota"]:
            sys.stdout.write("\n" + " ".join(parts[1:]) + "\n")
        elif line.strip():
            sys.stdout.write(line)
    rc = p.wait()
    return 0 if ok and rc == 0 else 1


def cmd_apply(a: argparse.Namespace) -> int:
    with open(a.file, "rb") as f:
        data = f.read()
    info = FF.parse_ota(data)  # host-side sanity first: refuse obvious garbage
    if not info["size_ok"] or not info["digest_ok"]:
        print("refusing %s: size or SHA-256 wrong" % a.file)
        return 1
    board = {v: k for k, v in FF.IMAGE_TYPES.items()}.get(info["header"]["image_type"], "unix")
    if a.unix_flash:
        script = _UNIX_APPLY % {"bs": a.block_size, "bc": a.block_count, "board": board,
                                "dry": a.dry_run}  # fmt: skip
        with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as t:
            t.write(script)
        env = dict(os.environ, MICROPYPATH=paths.micropypath("unix"))
        try:
            return _follow([paths.micropython_exe(), "-X", "heapsize=2M", t.name, a.unix_flash,
                            os.path.abspath(a.file)], env)  # fmt: skip
        finally:
            os.remove(t.name)
    if not a.port:
        print("apply needs --port PORT or --unix-flash IMAGE")
        return 2
    from host_tools.flash import _venv_exe

    dst = a.root + "/ota/local.bin"
    code = "import os\ntry: os.mkdir(%r)\nexcept OSError: pass\n" % (a.root + "/ota")
    run = (
        "import board\nfrom ihd.ota import local\n"
        "ok, msg = local.apply(%r, %r, board, dry_run=%r)\n"
        "import os\nos.remove(%r)\nprint('@@ota result', ok, msg)\n"
        % (dst, a.root, a.dry_run, dst)
    )
    cmd = [_venv_exe("mpremote"), "connect", a.port, "exec", code, "+", "fs", "cp", a.file,
           ":" + dst, "+", "exec", run]  # fmt: skip
    if not a.dry_run and not a.no_reset:
        cmd += ["+", "reset"]
    print("copying %s (%d B) to %s:%s, then verifying + staging on the device" %
          (a.file, len(data), a.port, dst))  # fmt: skip
    return _follow(cmd)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m host_tools.ota", description=__doc__)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="make a Zigbee OTA file from the firmware tree")
    b.add_argument("--version", required=True, help='0x00020000, 131072 or "0.2.0.0"')
    b.add_argument("--out", required=True)
    b.add_argument("--board", default="unix", choices=sorted(FF.IMAGE_TYPES))
    b.add_argument("--manufacturer", type=_int, default=FF.MANUFACTURER_CODE)
    b.add_argument("--image-type", type=_int, default=None)
    b.add_argument("--hw-min", type=_int, default=None)
    b.add_argument("--hw-max", type=_int, default=None)
    b.add_argument("--hmac-key", default=None, help="hex device key: adds tag 0xF101")
    b.add_argument("--header-string", default=None)
    b.add_argument("--source", action="store_true", help="bundle .py sources, not .mpy")
    b.add_argument("--files", default=None, help="bundle this directory instead")
    b.set_defaults(fn=cmd_build)
    i = sub.add_parser("inspect", help="print the header, sub-elements and bundle")
    i.add_argument("file")
    i.set_defaults(fn=cmd_inspect)
    p = sub.add_parser("apply", help="local update: verify, stage and activate on a device")
    p.add_argument("file")
    p.add_argument("--port", default=None)
    p.add_argument("--root", default="/flash", help="device filesystem root of the slots")
    p.add_argument("--unix-flash", default=None, help="unix port: littlefs image file")
    p.add_argument("--block-size", type=int, default=4096)
    p.add_argument("--block-count", type=int, default=256)
    p.add_argument("--dry-run", action="store_true", help="verify and stage, do not activate")
    p.add_argument("--no-reset", action="store_true")
    p.set_defaults(fn=cmd_apply)
    a = ap.parse_args(argv)
    return a.fn(a)
