# Raw key region: per meter tenancy-epoch keys and visible_from times, kept in a few erase blocks
# OUTSIDE littlefs so that destroying a key really destroys it (littlefs is copy-on-write and
# would leave old copies in free blocks). Two copies of one record, one per erase block (the
# first two blocks of the region), so that one bad block loses nothing. Each copy:
#   "<4sBBHI" magic b"IHDK", version 1, n_meters, reserved u16, seq u32
#   n_meters x "<II16s" epoch u32, visible_from_s u32, key 16 bytes
#   crc32 u32 over everything before it (the version-1 record, all an older firmware reads)
#   then the witness extension: magic b"IHDW", n_meters x ("<I" epoch, WITNESS_LEN bytes), crc32
#   u32 over the extension; erased (0xFF) when an older firmware wrote the copy. The rest of the
#   block stays erased (the buffer is padded with 0xFF to a multiple of 256: whole flash pages).
# The witness of a meter is what the history store last noted of its files (store.py: a copy
# of its ledger, written once a day), kept here because this region is outside littlefs: a
# flipped bit in littlefs that takes a whole directory back also takes the store's ledger back;
# this copy still says what was there. A witness of another epoch than its meter's is dropped
# at the next commit (a truncation's commit drops the old tenancy's).
# commit() writes the copy with seq + 1 into copy 0 (erase, program, read back), then the same
# into copy 1: at every instant of a commit one valid copy exists (the old one until copy 0
# reads back, the new one from then on), and after it the old keys exist nowhere on the device.
# load() takes the valid copy with the higher seq and rewrites the other one from it when it is
# not identical: torn or flipped (counted bad_copies, logged), blank, or older (a commit cut
# after copy 0: finishing it also destroys the old keys). A copy that still does not read back
# after its rewrite is counted (unrepaired) and logged; the other copy carries on alone.
import binascii
import os
import struct

from micropython import const

from ihd.runtime import log
from ihd.runtime.counters import Counters

_TAG = "histkey"
_MAGIC = b"IHDK"
_WMAGIC = b"IHDW"
_VERSION = const(1)
_HDR_FMT = "<4sBBHI"
_HDR_LEN = const(12)
_ENT_FMT = "<II16s"
_ENT_LEN = const(24)
_IOCTL_ERASE = const(6)
_PAGE = const(256)
KEY_LEN = const(16)
WITNESS_LEN = const(33)  # = the store's ledger payload (records.py "Ledger payload")


def new_key():
    return bytes(os.urandom(KEY_LEN))


def _crc_ok(buf, start, end):
    # crc32 of buf[start:end] equals the u32 at buf[end:end + 4]
    c = binascii.crc32(memoryview(buf)[start:end]) & 0xFFFFFFFF
    return c == struct.unpack_from("<I", buf, end)[0]


class KeyRegion:
    def __init__(self, bdev, first_block, block_size, n_meters=2):
        self._dev = bdev
        self._blk = (first_block, first_block + 1)
        self._bs = block_size
        self._n = n_meters
        self._len = _HDR_LEN + _ENT_LEN * n_meters + 4  # the version-1 record
        self._rlen = self._len + 4 + (4 + WITNESS_LEN) * n_meters + 4  # + witness extension
        self._plen = min(block_size, (self._rlen + _PAGE - 1) // _PAGE * _PAGE)
        self.seq = 0
        self.active = -1  # a copy holding the current record (-1: none loaded yet)
        self.entries = []  # per meter [epoch, visible_from_s, key]
        self.witness = [None] * n_meters  # per meter None or [epoch, bytes]: see above
        self.erases = 0
        self.fresh = False  # load() found no valid copy and made new keys (sticky)
        self.c = Counters("histkey", ("bad_copies", "repaired", "unrepaired", "commits"))

    @classmethod
    def on(cls, storage, bdev, n_meters=2):
        # The region runtime.storage.mount left outside littlefs (its Storage object).
        return cls(bdev, storage.raw_first, storage.block_size, n_meters)

    def _read(self, slot):
        buf = bytearray(self._rlen)
        try:
            self._dev.readblocks(self._blk[slot], buf, 0)
        except OSError as e:
            log.warn(_TAG, "key copy %d unreadable (%s)", slot, e)
            return None  # neither blank nor valid: rewritten from the other copy
        return buf

    def _parse(self, buf):
        # -> (seq, entries, witness) of a valid copy, else None
        if buf is None:
            return None
        magic, ver, n, _, seq = struct.unpack_from(_HDR_FMT, buf, 0)
        if magic != _MAGIC or ver != _VERSION or n != self._n:
            return None
        end = self._len - 4
        if not _crc_ok(buf, 0, end):
            return None
        ents = []
        for i in range(n):
            ep, vf, key = struct.unpack_from(_ENT_FMT, buf, _HDR_LEN + _ENT_LEN * i)
            ents.append([ep, vf, bytes(key)])
        wit = [None] * n
        x = self._len
        if buf[x : x + 4] == _WMAGIC:
            if not _crc_ok(buf, x, self._rlen - 4):
                return None  # a torn or flipped extension: the whole copy is invalid
            for i in range(n):
                o = x + 4 + (4 + WITNESS_LEN) * i
                ep = struct.unpack_from("<I", buf, o)[0]
                if ep:
                    wit[i] = [ep, bytes(buf[o + 4 : o + 4 + WITNESS_LEN])]
        elif not self._blank(memoryview(buf)[x:]):
            return None  # neither an extension nor erased
        return seq, ents, wit

    def _erase(self, slot):
        self._dev.ioctl(_IOCTL_ERASE, self._blk[slot])
        self.erases += 1

    def _blank(self, buf):
        return buf is not None and all(b == 0xFF for b in buf)

    def load(self):
        # -> True if valid keys were found; False if the region was blank or unreadable and was
        # initialised with fresh keys (the caller must then wipe all history: it is unreadable).
        # Sticky: every later load() of this object answers False too (app and store both ask).
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
                log.warn(_TAG, "both key copies unreadable: new keys, history discarded")
                self.c.inc("bad_copies", 2)
            self.seq = 0
            self.entries = [[1, 0, new_key()] for _ in range(self._n)]
            self.witness = [None] * self._n
            self.active = -1
            self.commit()
            self.fresh = True
            return False
        self.seq, self.entries, self.witness = rec
        self.active = best
        other = 1 - best
        if bufs[other] != bufs[best]:
            r = recs[other]
            if r is not None:  # older: a commit cut after the first copy; finish it
                log.info(_TAG, "key copy %d older (seq %d < %d): rewritten", other, r[0], rec[0])
            elif self._blank(bufs[other]):  # a commit cut between erase and program
                log.info(_TAG, "key copy %d blank: rewritten", other)
            else:  # torn by a power cut, or a flipped bit
                self.c.inc("bad_copies")
                log.warn(_TAG, "key copy %d invalid (torn or flipped): rewritten from copy %d",
                         other, best)  # fmt: skip
            if self._program(other, self._pad(bufs[best])):
                self.c.inc("repaired")
            else:
                self.c.inc("unrepaired")
                log.error(_TAG, "key copy %d does not read back: one copy left", other)
        return not self.fresh

    def _pad(self, rec):
        buf = bytearray(b"\xff" * self._plen)
        buf[: len(rec)] = rec
        return buf

    def _program(self, slot, buf):
        # Erase slot, program buf, read back -> True if it now holds exactly buf.
        self._erase(slot)
        self._dev.writeblocks(self._blk[slot], buf, 0)
        got = self._read(slot)
        return got is not None and got == buf[: self._rlen]

    def _image(self):
        # The copy for self.seq / entries / witness, padded to whole pages.
        buf = bytearray(b"\xff" * self._plen)
        struct.pack_into(_HDR_FMT, buf, 0, _MAGIC, _VERSION, self._n, 0, self.seq)
        for i in range(self._n):
            ep, vf, key = self.entries[i]
            struct.pack_into(_ENT_FMT, buf, _HDR_LEN + _ENT_LEN * i, ep, vf, key)
        end = self._len - 4
        struct.pack_into("<I", buf, end, binascii.crc32(memoryview(buf)[:end]) & 0xFFFFFFFF)
        x = self._len
        buf[x : x + 4] = _WMAGIC
        for i in range(self._n):
            o = x + 4 + (4 + WITNESS_LEN) * i
            w = self.witness[i]
            if w is not None and w[0] == self.entries[i][0]:
                struct.pack_into("<I", buf, o, w[0])
                buf[o + 4 : o + 4 + WITNESS_LEN] = w[1]
            else:  # none, or of an epoch that is gone
                self.witness[i] = None
                struct.pack_into("<I", buf, o, 0)
                buf[o + 4 : o + 4 + WITNESS_LEN] = bytes(WITNESS_LEN)
        end = self._rlen - 4
        struct.pack_into("<I", buf, end, binascii.crc32(memoryview(buf)[x:end]) & 0xFFFFFFFF)
        return buf

    def commit(self):
        # Persist entries + witness as a new copy in both blocks, copy 0 first; the old record
        # (the old keys) survives until copy 0 reads back new, and nowhere after copy 1 does.
        self.seq += 1
        buf = self._image()
        if not self._program(0, buf):
            raise OSError(5)  # EIO: copy 1 still holds the previous record; nothing committed
        self.active = 0
        if not self._program(1, buf):
            # committed (copy 0); copy 1 may still hold the old keys: load() retries the rewrite
            self.c.inc("unrepaired")
            log.error(_TAG, "key copy 1 does not read back after commit")
        self.c.inc("commits")

    def set_witness(self, meter, data):
        # Keep `data` (WITNESS_LEN bytes) for the meter's current epoch; durable at commit().
        self.witness[meter] = [self.entries[meter][0], bytes(data)]

    def epoch(self, meter):
        return self.entries[meter][0]

    def visible_from(self, meter):
        return self.entries[meter][1]

    def key(self, meter):
        return self.entries[meter][2]
