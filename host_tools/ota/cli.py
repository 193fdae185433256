# python -m host_tools.ota build|inspect|apply|keygen (docs/ota.md).
#   build --version X --out FILE [--sign KEY.pem] [--board unix] [--manufacturer 0xFFF1]
#         [--image-type ..] [--hw-min 0x0100 --hw-max 0x01FF] [--hmac-key HEX]
#         [--element TAG:FILE ...] [--source] [--files DIR]
#   inspect FILE [--trust PUB.pem ...]   header, sub-elements, digest, signature, bundle manifest
#   apply FILE --port PORT [--dry-run] [--root /flash]       local update over mpremote
#   apply FILE --unix-flash IMAGE [--dry-run]                into a unix-port littlefs image
#   keygen OUT.pem                     new P-256 signing key (+ OUT.pub.pem), prints its key id
# Every bad input (missing or garbage file, unreadable key) is one line on stderr and exit 1;
# argparse's usage errors exit 2.
from __future__ import annotations

import argparse
import ast
import os
import shutil
import subprocess
import sys
import tempfile
from typing import List, Optional, Sequence, Tuple

from host_tools import cli, paths
from host_tools.ota import fileformat as FF
from host_tools.ota import signing

_RESERVED_TAGS = (FF.TAG_UPGRADE_IMAGE, FF.TAG_SHA256, FF.TAG_HMAC, FF.TAG_SIGNATURE)


def _int(text: str) -> int:
    return int(text, 0)


def _version(text: str) -> int:
    try:
        return FF.parse_version(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _element(text: str) -> Tuple[int, str]:
    tag, sep, path = text.partition(":")
    try:
        t = int(tag, 0)
    except ValueError:
        t = -1
    if not sep or not path or not 0 <= t <= 0xFFFF or t in _RESERVED_TAGS:
        raise argparse.ArgumentTypeError(
            "%r: want TAG:FILE, TAG 0..0xFFFF other than 0x0000, 0xF100-0xF102" % text
        )
    return t, path


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise FF.OtaFormatError("cannot read %s: %s" % (path, e.strerror or e)) from None


def cmd_build(a: argparse.Namespace) -> int:
    version = a.version
    itype = a.image_type if a.image_type is not None else FF.IMAGE_TYPES[a.board]
    key = signing.load_private_key(a.sign) if a.sign else None  # before the (long) build
    try:
        hmac_key = bytes.fromhex(a.hmac_key) if a.hmac_key else None
    except ValueError:
        raise FF.OtaFormatError("--hmac-key: not hex") from None
    extra = [(tag, _read(path)) for tag, path in a.element]
    if a.files:
        if not os.path.isdir(a.files):
            raise FF.OtaFormatError("--files %s: not a directory" % a.files)
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
        hmac_key=hmac_key,
        extra_elements=extra,
        sign_key=key,
    )
    try:
        with open(a.out, "wb") as f:
            f.write(data)
    except OSError as e:
        raise FF.OtaFormatError("cannot write %s: %s" % (a.out, e.strerror or e)) from None
    signed = "signed, key id %s" % signing.key_id(key).hex() if key else "UNSIGNED"
    print(
        "wrote %s: %d B, version %s, %d files, mfr 0x%04X type 0x%04X, %s"
        % (a.out, len(data), FF.version_str(version), len(files), a.manufacturer, itype, signed)
    )
    if key is None:
        print(
            "warning: %s is unsigned: devices refuse unsigned images by default "
            "(sign with --sign KEY.pem)" % a.out,
            file=sys.stderr,
        )
    return 0


def inspect_text(data: bytes, trusted: Sequence = ()) -> Tuple[str, List[str]]:
    # -> (the listing, the reasons the file is bad: empty when it is fine). Raises
    # FF.OtaFormatError when it does not parse at all.
    info = FF.parse_ota(data)
    h = info["header"]
    bad = []
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
    if not info["size_ok"]:
        bad.append("total size mismatch")
    if "hw_min" in h:
        out.append("  hardware         0x%04X .. 0x%04X" % (h["hw_min"], h["hw_max"]))
    if "destination" in h:
        out.append("  destination      %s" % h["destination"])
    out.append("sub-elements:")
    for tag, off, length in info["elements"]:
        out.append("  0x%04X %-40s %8d B at %d" % (tag, FF.TAG_NAMES.get(tag, "?"), length, off))
    d = info["digest_ok"]
    out.append("SHA-256 element: %s" % ("missing" if d is None else ("ok" if d else "BAD")))
    if not d:
        bad.append("SHA-256 element %s" % ("missing" if d is None else "bad"))
    sig = info["signature"]
    if sig is not None:
        out.append("  signer key id    %s" % sig["key_id"].hex())
        out.append("  signed bytes     0 .. %d" % sig["signed_end"])
    verdict, kid = signing.verify_file(data, trusted)
    hexid = kid.hex() if kid else ""
    if verdict == signing.VALID:
        out.append("signature: valid (key id %s)" % hexid)
    elif verdict == signing.BAD:
        out.append("signature: BAD (key id %s)" % hexid)
        bad.append("bad signature")
    elif verdict == signing.UNKNOWN:
        out.append("signature: signed by unknown key %s" % hexid)
        bad.append("signed by unknown key %s" % hexid)
    elif verdict == signing.UNCHECKED:
        out.append("signature: key id %s, not checked (no --trust key given)" % hexid)
    else:
        out.append("signature: unsigned")
        if trusted:
            bad.append("unsigned")
    try:
        ver, entries, _ = FF.parse_bundle(FF.upgrade_image(data))
        out.append("bundle: version 0x%08X, %d files" % (ver, len(entries)))
        for path, size, hsh in entries:
            out.append("  %8d  %s  %s" % (size, hsh.hex()[:16], path))
    except (FF.OtaFormatError, IndexError, UnicodeDecodeError, ValueError) as e:
        out.append("bundle: not readable (%s)" % e)
        bad.append("bundle not readable")
    return "\n".join(out), bad


def _trusted(files: Sequence[str]) -> list:
    keys: list = []
    for p in files:
        keys += signing.load_public_keys(p)
    return keys


def cmd_inspect(a: argparse.Namespace) -> int:
    trusted = _trusted(a.trust)
    data = _read(a.file)
    try:
        text, bad = inspect_text(data, trusted)
    except FF.OtaFormatError as e:
        raise FF.OtaFormatError("%s: not a valid OTA file: %s" % (a.file, e)) from None
    print(text)
    if bad:
        print("%s: refused: %s" % (a.file, ", ".join(bad)), file=sys.stderr)
        return 1
    return 0


def cmd_keygen(a: argparse.Namespace) -> int:
    priv = signing.new_key()
    pub = signing.write_key(a.out, priv)
    print("wrote %s (private, keep it secret) and %s" % (a.out, pub))
    print("key id %s" % signing.key_id(priv).hex())
    print("firmware/ihd/ota/trust.py MANUFACTURER_KEYS entry (SEC1 point):")
    print(signing.firmware_line(priv))
    return 0


# ---------------- apply --unix-flash ----------------

_LFS_MAGIC = b"littlefs"
_LFS_TYPE_SUPERBLOCK = 0x0FF
_LFS_TYPE_INLINESTRUCT = 0x201


def _superblock(image: bytes, base: int) -> Optional[Tuple[int, int]]:
    # littlefs v2 (SPEC.md): a superblock metadata block starts with the revision count, then
    # the name tag "littlefs" (always at offset 8), then the inline superblock struct: version,
    # block size, block count, name max, file max, attr max (u32 LE). Tags are big-endian,
    # each XORed with the one before (the first with 0xFFFFFFFF). -> (block size, block count).
    b = image[base : base + 44]
    if len(b) < 44 or b[8:16] != _LFS_MAGIC:
        return None
    t0 = int.from_bytes(b[4:8], "big") ^ 0xFFFFFFFF
    t1 = int.from_bytes(b[16:20], "big") ^ t0
    if (t0 >> 20) & 0x7FF != _LFS_TYPE_SUPERBLOCK or t0 & 0x3FF != 8:
        return None
    if (t1 >> 20) & 0x7FF != _LFS_TYPE_INLINESTRUCT or t1 & 0x3FF < 24:
        return None
    version, bs, bc = (int.from_bytes(b[20 + 4 * i : 24 + 4 * i], "little") for i in range(3))
    if version >> 16 != 2 or bs < 128 or bs & (bs - 1) or (base and base != bs):
        return None
    return bs, bc


def _unix_board_geometry() -> Tuple[int, int]:
    # (FLASH_BLOCK_SIZE, FLASH_BLOCKS) of the unix board (boards/unix/board.py, read, not
    # imported): the geometry it and `simulate` create, the default for a new image.
    path = os.path.join(paths.BOARDS, "unix", "board.py")
    with open(path) as f:
        tree = ast.parse(f.read())
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            t = node.targets[0]
            if isinstance(t, ast.Name) and t.id in ("FLASH_BLOCK_SIZE", "FLASH_BLOCKS"):
                found[t.id] = ast.literal_eval(node.value)
    bs, bc = found.get("FLASH_BLOCK_SIZE"), found.get("FLASH_BLOCKS")
    if not isinstance(bs, int) or not isinstance(bc, int):
        raise FF.OtaFormatError("%s: no FLASH_BLOCK_SIZE / FLASH_BLOCKS" % path)
    return bs, bc


def flash_geometry(path: str) -> Optional[Tuple[int, int]]:
    # -> (block size, block count of the whole image, raw key region included) of an existing
    # unix-port flash image, read from its littlefs superblock and checked by mounting a copy in
    # memory with littlefs-python (host_tools.history.export, which reads the same images).
    # None: no image yet, or an erased (all 0xFF) one that the device would format.
    # OtaFormatError: anything else (not littlefs, or a geometry the device would not mount).
    from host_tools.history import export

    if not os.path.exists(path):
        return None
    image = _read(path)
    if image.count(0xFF) == len(image):
        return None
    sb = _superblock(image, 0)
    if sb is None:  # block 0 of the pair erased mid-compaction: its twin is block 1
        for bs in (1 << k for k in range(7, 21)):
            sb = _superblock(image, bs)
            if sb is not None:
                break
    if sb is None:
        raise FF.OtaFormatError("%s: no littlefs superblock: not a device flash image" % path)
    bs, lfs_blocks = sb
    total = len(image) // bs
    try:
        fs, _, n = export._mount(image, bs)
        fs.unmount()
    except SystemExit:
        raise FF.OtaFormatError(
            "%s: littlefs of %d blocks of %d B in an image of %d B; the device expects %d raw "
            "blocks after it: it would not mount (and would be reformatted)"
            % (path, lfs_blocks, bs, len(image), export.RAW_BLOCKS)
        ) from None
    assert n + export.RAW_BLOCKS == total and len(image) == total * bs
    return bs, total


def _geometry(a: argparse.Namespace) -> Tuple[Tuple[int, int], bool]:
    # -> ((block size, block count), exists: the image holds a littlefs to keep, never format).
    geo = flash_geometry(a.unix_flash)
    if geo is not None:
        for name, given, have in (
            ("block size", a.block_size, geo[0]),
            ("block count", a.block_count, geo[1]),
        ):
            if given is not None and given != have:
                raise FF.OtaFormatError(
                    "%s: its %s is %d (read from the image), not %d"
                    % (a.unix_flash, name, have, given)
                )
        return geo, True
    dbs, dbc = _unix_board_geometry()
    bs = a.block_size or dbs
    if os.path.exists(a.unix_flash):  # erased: its size is the flash size
        size = os.path.getsize(a.unix_flash)
        if size and size % bs:
            raise FF.OtaFormatError("%s: %d B is no multiple of %d" % (a.unix_flash, size, bs))
        dbc = size // bs or dbc
    return (bs, a.block_count or dbc), False


_UNIX_APPLY = """
import sys
from blockdev import FileBlockDev
from ihd.runtime import storage
dev = FileBlockDev(sys.argv[1], %(bs)d, %(bc)d)
if %(keep)r:
    # an existing littlefs: check it mounts first, as storage.mount would format it otherwise
    import vfs
    try:
        vfs.VfsLfs2(storage.Partition(dev, 0, %(bc)d - storage.RAW_BLOCKS), mtime=False)
    except OSError as e:
        print("@@ota result False flash image does not mount (%%s): not formatting it" %% e)
        sys.exit(1)
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

import board as unix_board  # the unix board's hardware version and trusted-key file

class Board:
    NAME = %(board)r  # the image's board: its image type
    HW_VERSION = getattr(unix_board, "HW_VERSION", 0x0100)
    OTA_KEYS_FILE = getattr(unix_board, "OTA_KEYS_FILE", None)

from ihd.ota import local
ok, msg = local.apply(dst, "/flash", Board(), dry_run=%(dry)r)
os.remove(dst)
print("@@ota result", ok, msg)
st.umount()
dev.close()
"""


class _Progress:
    # The apply progress bar on stdout: redrawn in place from "@@ota stage DONE TOTAL" lines,
    # ended (at 100% once the device reports the whole file verified) with a newline before
    # any other output, so a log line is never glued to it.
    WIDTH = 40

    def __init__(self, out=None):
        self.out = out or sys.stdout
        self.open = False
        self.total = 0
        self.pct = -1

    def draw(self, done: int, total: int) -> None:
        self.total = max(total, 1)
        done = min(max(done, 0), self.total)
        pct = 100 * done // self.total
        if self.open and pct == self.pct:
            return  # nothing new to show
        k = self.WIDTH * done // self.total
        self.out.write("\r[%s%s] %3d%%" % ("#" * k, "." * (self.WIDTH - k), pct))
        self.out.flush()
        self.open = True
        self.pct = pct

    def end(self, complete: bool = False) -> None:
        # complete: the device has read (and verified) the whole file: the bar shows 100%.
        if not self.open:
            return
        if complete:
            self.draw(self.total, self.total)
        self.out.write("\n")
        self.out.flush()
        self.open = False

    def line(self, text: str) -> None:
        self.end()
        self.out.write(text.rstrip("\n") + "\n")
        self.out.flush()


def _follow(cmd: List[str], env: Optional[dict] = None, what: str = "the device") -> int:
    # Runs the device side, draws the progress bar from its "@@ota stage" lines. A run that
    # ends without the device's "@@ota result" (mpremote could not reach the board, the
    # interpreter failed) is one line on stderr: the last thing it printed.
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=env)  # fmt: skip
    except OSError as e:
        raise FF.OtaFormatError("cannot run %s: %s" % (cmd[0], e.strerror or e)) from None
    ok = False
    result = False
    last = ""
    bar = _Progress()
    assert p.stdout is not None
    for line in p.stdout:
        parts = line.split()
        if parts[:2] == ["@@ota", "stage"] and len(parts) >= 4:
            bar.draw(int(parts[2]), int(parts[3]))
        elif parts[:2] == ["@@ota", "result"]:
            result = True
            ok = parts[2:3] == ["True"]
            bar.end(complete=ok)
            print(" ".join(parts[3:]), flush=True)
        elif parts[:2] in (["@@ota", "verified"], ["@@ota", "activated"]):
            bar.end(complete=True)
            bar.line(" ".join(parts[1:]))
        elif parts[:1] == ["@@ota"]:
            bar.line(" ".join(parts[1:]))
        elif line.strip():
            last = line.strip()
            bar.line(line)
    bar.end()
    rc = p.wait()
    if not result:
        raise FF.OtaFormatError(
            "%s gave no result (exit %d)%s" % (what, rc, ": " + last if last else "")
        )
    return 0 if ok and rc == 0 else 1


def _apply_unix(a: argparse.Namespace, board: str) -> int:
    # --unix-flash: the unix port's local.apply() on the image file, with the image's own
    # geometry. --dry-run works on a temporary copy: the image itself is only ever read.
    (bs, bc), keep = _geometry(a)
    env = dict(os.environ, MICROPYPATH=paths.micropypath("unix"))
    with tempfile.TemporaryDirectory(prefix="ota-apply-") as tmp:
        image = a.unix_flash
        if a.dry_run:
            image = os.path.join(tmp, "flash.img")
            if os.path.exists(a.unix_flash):
                shutil.copyfile(a.unix_flash, image)
        script = os.path.join(tmp, "apply.py")
        with open(script, "w") as t:
            t.write(
                _UNIX_APPLY
                % {
                    "bs": bs,
                    "bc": bc,
                    "board": board,
                    "dry": a.dry_run,
                    "keep": keep,
                }
            )
        return _follow(
            [paths.micropython_exe(), "-X", "heapsize=2M", script, image, os.path.abspath(a.file)],
            env,
            "the unix port",
        )


def cmd_apply(a: argparse.Namespace) -> int:
    data = _read(a.file)
    try:
        info = FF.parse_ota(data)  # host-side sanity first: refuse obvious garbage
    except FF.OtaFormatError as e:
        raise FF.OtaFormatError("%s: not a valid OTA file: %s" % (a.file, e)) from None
    if not info["size_ok"] or not info["digest_ok"]:
        print("refusing %s: size or SHA-256 wrong" % a.file, file=sys.stderr)
        return 1
    board = {v: k for k, v in FF.IMAGE_TYPES.items()}.get(info["header"]["image_type"], "unix")
    if a.unix_flash:
        return _apply_unix(a, board)
    if not a.port:
        print("apply needs --port PORT or --unix-flash IMAGE", file=sys.stderr)
        return 2
    from host_tools.flash import _venv_exe, check_port

    check_port(a.port)
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
    return _follow(cmd, what="the board on %s" % a.port)


# A usage error is one line on stderr (exit 2), like every other bad input.
_Parser = cli.ArgumentParser


def parser() -> argparse.ArgumentParser:
    ap = _Parser(
        prog="python -m host_tools.ota",
        description="Build, inspect, sign and apply Zigbee OTA files of the IHD firmware "
        "(docs/ota.md).",
    )
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="make a Zigbee OTA file from the firmware tree")
    b.add_argument(
        "--version", required=True, type=_version, help='0x00020000, 131072 or "0.2.0.0"'
    )
    b.add_argument("--out", required=True)
    b.add_argument(
        "--sign",
        metavar="KEY.pem",
        default=None,
        help="P-256 private key: adds the signature element 0xF102 (last). Without "
        "it the file is unsigned, which devices refuse by default",
    )
    b.add_argument("--board", default="unix", choices=sorted(FF.IMAGE_TYPES))
    b.add_argument("--manufacturer", type=_int, default=FF.MANUFACTURER_CODE)
    b.add_argument("--image-type", type=_int, default=None)
    b.add_argument("--hw-min", type=_int, default=None)
    b.add_argument("--hw-max", type=_int, default=None)
    b.add_argument("--hmac-key", default=None, help="hex device key: adds tag 0xF101")
    b.add_argument(
        "--element",
        metavar="TAG:FILE",
        type=_element,
        action="append",
        default=[],
        help="extra sub-element (e.g. 0x0004:picture.bin) after the upgrade image, repeatable",
    )
    b.add_argument("--header-string", default=None)
    b.add_argument("--source", action="store_true", help="bundle .py sources, not .mpy")
    b.add_argument("--files", default=None, help="bundle this directory instead")
    b.set_defaults(fn=cmd_build)
    i = sub.add_parser(
        "inspect",
        help="print the header, sub-elements, signature and bundle; exit 1 on a bad file",
    )
    i.add_argument("file")
    i.add_argument(
        "--trust",
        metavar="PUB.pem",
        action="append",
        default=[],
        help="public key(s) to check the signature against (repeatable, one or "
        "more keys per file); then unsigned or unknown signers are bad too",
    )
    i.set_defaults(fn=cmd_inspect)
    p = sub.add_parser("apply", help="local update: verify, stage and activate on a device")
    p.add_argument("file")
    p.add_argument("--port", default=None)
    p.add_argument("--root", default="/flash", help="device filesystem root of the slots")
    p.add_argument("--unix-flash", default=None, help="unix port: littlefs image file")
    p.add_argument(
        "--block-size",
        type=int,
        default=None,
        help="new --unix-flash image only (default: the unix board's); an existing "
        "image's geometry is read from it",
    )
    p.add_argument(
        "--block-count",
        type=int,
        default=None,
        help="new --unix-flash image only, raw key region included",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="verify on the device, do not activate; --unix-flash: on a temporary copy, "
        "the image itself is never written",
    )
    p.add_argument("--no-reset", action="store_true")
    p.set_defaults(fn=cmd_apply)
    k = sub.add_parser("keygen", help="new ECDSA P-256 signing key: OUT.pem + OUT.pub.pem")
    k.add_argument("out", metavar="OUT.pem")
    k.set_defaults(fn=cmd_keygen)
    return ap


@cli.guarded("ota")
def main(argv: Optional[List[str]] = None) -> int:
    a = parser().parse_args(argv)
    try:
        return a.fn(a)
    except FF.OtaFormatError as e:
        print("error: %s" % e, file=sys.stderr)
    except cli.CliError as e:
        print("error: %s" % e, file=sys.stderr)
        return e.code
    except BrokenPipeError:
        raise  # stdout closed (`| head`): cli.guarded ends quietly
    except OSError as e:
        print("error: %s" % cli.describe(e), file=sys.stderr)
    return 1
