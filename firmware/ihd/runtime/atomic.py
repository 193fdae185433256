# Power-fail-safe small files: write "<path>.tmp", then rename over <path> (atomic on littlefs
# and POSIX). The payload carries a length and CRC32 so a torn or corrupted file reads as None
# (logged and counted) instead of as garbage.
import binascii
import os
import struct

from ihd.runtime import log
from ihd.runtime.counters import Counters

_MAGIC = b"IHD1"
_HDR = "<4sII"  # magic, length, crc32
_HDR_LEN = 12

stats = Counters("atomic", ("writes", "corrupt", "missing"))


def write(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack(_HDR, _MAGIC, len(data), binascii.crc32(data) & 0xFFFFFFFF))
        f.write(data)
        if hasattr(f, "flush"):
            f.flush()
    try:
        os.rename(tmp, path)
    except OSError:
        # Some VFS refuse to rename over an existing file: remove first. The old copy is gone
        # only after the new one is complete, and read() falls back to the .tmp copy.
        os.remove(path)
        os.rename(tmp, path)
    stats.inc("writes")


def _read_one(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    if len(raw) < _HDR_LEN:
        return False
    magic, n, crc = struct.unpack_from(_HDR, raw, 0)
    body = raw[_HDR_LEN:]
    if magic != _MAGIC or n != len(body) or (binascii.crc32(body) & 0xFFFFFFFF) != crc:
        return False
    return body


def read(path):
    body = _read_one(path)
    if body is None or body is False:
        # A cut between remove and rename (fallback path) leaves only the complete .tmp.
        alt = _read_one(path + ".tmp")
        if alt:
            return alt
    if body is False:
        stats.inc("corrupt")
        log.warn("atomic", "corrupt file %s ignored", path)
        return None
    if body is None:
        stats.inc("missing")
    return body


def remove(path):
    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass
