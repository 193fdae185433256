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

stats = Counters("atomic", ("writes", "corrupt", "missing", "spare_misses"))

# The file-open spare. Opening a littlefs file allocates 636 B in one piece (the file object
# holds its 512-byte cache, runtime/storage.py); on a fragmented heap no such piece may be
# left though 20 KB are free (docs/boards.md "Fragmentation"). One piece is kept aside from
# boot (spare_keep, app.py): lent just before an open (its reference dropped, so the
# collection an allocation failure triggers frees it for the file object) and taken back
# after the close (the closed file object, garbage then, frees a piece again). 640 B of RAM.
# Lending nests (a flush lends, and each file it reads lends again): the spare comes back
# when the outermost lender is done. Every spare_lend() is paired with a spare_keep().
_SPARE_B = 640
_spare = None
_lent = 0


def spare_keep():
    # (Re)take the spare once no lender is left; a miss is counted and retried at the next.
    global _spare, _lent
    if _lent:
        _lent -= 1
    if not _lent and _spare is None:
        try:
            _spare = bytearray(_SPARE_B)
        except MemoryError:
            stats.inc("spare_misses")


def spare_lend():
    global _spare, _lent
    _lent += 1
    _spare = None


def write(path, data):
    tmp = path + ".tmp"
    hdr = struct.pack(_HDR, _MAGIC, len(data), binascii.crc32(data) & 0xFFFFFFFF)
    spare_lend()
    try:
        with open(tmp, "wb") as f:
            f.write(hdr)
            f.write(data)
            if hasattr(f, "flush"):
                f.flush()
    finally:
        spare_keep()
    try:
        os.rename(tmp, path)
    except OSError:
        # Some VFS refuse to rename over an existing file: remove first. The old copy is gone
        # only after the new one is complete, and read() falls back to the .tmp copy.
        os.remove(path)
        os.rename(tmp, path)
    stats.inc("writes")


def write_json(path, obj):
    # write() of obj as JSON; the text is made with the file-open spare lent (a state file's
    # JSON is a few hundred bytes in one growing piece).
    import json

    spare_lend()
    try:
        write(path, json.dumps(obj).encode())
    finally:
        spare_keep()


def _read_one(path):
    spare_lend()
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError:
        return None
    finally:
        spare_keep()
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
