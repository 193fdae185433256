# Raw key region: per meter tenancy-epoch keys and visible_from times, kept in a few erase blocks
# OUTSIDE littlefs so that destroying a key really destroys it (littlefs is copy-on-write and
# would leave old copies in free blocks). A/B scheme: two slots (the first two blocks of the
# region), each one erase block holding one record:
#   "<4sBBHI" magic b"IHDK", version 1, n_meters, reserved u16, seq u32
#   n_meters x "<II16s" epoch u32, visible_from_s u32, key 16 bytes
#   crc32 u32 over everything before it; the rest of the block stays erased.
# commit() erases and programs the inactive slot with seq + 1, reads it back, then erases the
# previously active slot so that the old keys exist nowhere on the device. load() picks the
# valid slot with the higher seq and erases the other one if it is not blank (finishing a commit
# that was cut after the new slot was written; also scrubs torn slots).
import binascii
import os
import struct

from micropython import const

from ihd.runtime import log

_TAG = "histkey"
_MAGIC = b"IHDK"
_VERSION = const(1)
_HDR_FMT = "<4sBBHI"
_HDR_LEN = const(12)
_ENT_FMT = "<II16s"
_ENT_LEN = const(24)
_IOCTL_ERASE = const(6)
KEY_LEN = const(16)


def new_key():
    return bytes(os.urandom(KEY_LEN))


class KeyRegion:
    def __init__(self, bdev, first_block, block_size, n_meters=2):
        self._dev = bdev
        self._blk = (first_block, first_block + 1)
        self._bs = block_size
        self._n = n_meters
        self._len = _HDR_LEN + _ENT_LEN * n_meters + 4
        self.seq = 0
        self.active = -1  # slot index holding the current record
        self.entries = []  # per meter [epoch, visible_from_s, key]
        self.erases = 0

    @classmethod
    def on(cls, storage, bdev, n_meters=2):
        # The region runtime.storage.mount left outside littlefs (its Storage object).
        return cls(bdev, storage.raw_first, storage.block_size, n_meters)

    def _read(self, slot):
        buf = bytearray(self._len)
        self._dev.readblocks(self._blk[slot], buf, 0)
        return buf

    def _parse(self, buf):
        magic, ver, n, _, seq = struct.unpack_from(_HDR_FMT, buf, 0)
        if magic != _MAGIC or ver != _VERSION or n != self._n:
            return None
        end = self._len - 4
        if (
            binascii.crc32(memoryview(buf)[:end]) & 0xFFFFFFFF
            != struct.unpack_from("<I", buf, end)[0]
        ):
            return None
        ents = []
        for i in range(n):
            ep, vf, key = struct.unpack_from(_ENT_FMT, buf, _HDR_LEN + _ENT_LEN * i)
            ents.append([ep, vf, bytes(key)])
        return seq, ents

    def _erase(self, slot):
        self._dev.ioctl(_IOCTL_ERASE, self._blk[slot])
        self.erases += 1

    def _blank(self, buf):
        return all(b == 0xFF for b in buf)

    def load(self):
        # -> True if valid keys were found; False if the region was blank or unreadable and was
        # initialised with fresh keys (the caller must then wipe all history: it is unreadable).
        bufs = (self._read(0), self._read(1))
        recs = (self._parse(bufs[0]), self._parse(bufs[1]))
        best = -1
        rec = None  # recs[best]
        for s in (0, 1):
            r = recs[s]
            if r is not None and (rec is None or r[0] > rec[0]):
                best = s
                rec = r
        if rec is None:
            if not (self._blank(bufs[0]) and self._blank(bufs[1])):
                log.warn(_TAG, "key region unreadable: new keys, history discarded")
            self.seq = 0
            self.entries = [[1, 0, new_key()] for _ in range(self._n)]
            self.active = 1
            self.commit()
            return False
        self.seq, self.entries = rec
        self.active = best
        other = 1 - best
        if not self._blank(bufs[other]):
            # stale (older keys) or torn: destroy it now
            self._erase(other)
        return True

    def commit(self):
        # Persist self.entries as a new record, then destroy the previous one.
        buf = bytearray(self._len)
        self.seq += 1
        struct.pack_into(_HDR_FMT, buf, 0, _MAGIC, _VERSION, self._n, 0, self.seq)
        for i in range(self._n):
            ep, vf, key = self.entries[i]
            struct.pack_into(_ENT_FMT, buf, _HDR_LEN + _ENT_LEN * i, ep, vf, key)
        end = self._len - 4
        struct.pack_into("<I", buf, end, binascii.crc32(memoryview(buf)[:end]) & 0xFFFFFFFF)
        target = 1 - self.active if self.active >= 0 else 0
        self._erase(target)
        self._dev.writeblocks(self._blk[target], buf, 0)
        if self._parse(self._read(target)) is None:
            raise OSError(5)  # EIO: programmed record does not read back
        old = self.active
        self.active = target
        if old >= 0:
            self._erase(old)

    def epoch(self, meter):
        return self.entries[meter][0]

    def visible_from(self, meter):
        return self.entries[meter][1]

    def key(self, meter):
        return self.entries[meter][2]
