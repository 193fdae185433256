# On-flash record formats of the history store and their encryption (AES-128-CTR built from
# cryptolib ECB mode 1). Nothing here touches a file system: pure encode/decode of bytearrays.
# Shared with host_tools/history (which re-implements decryption with `cryptography`).
#
# File = 20-byte plaintext header + AES-CTR(key_epoch, nonce) of (payload || crc32).
#   header "<3sBBBHI8s": magic b"IHH", version 1, kind (1 day, 2 month), meter, reserved u16,
#   epoch u32, nonce 8 bytes (random per write). Counter block i = nonce || i (u64 big endian).
#   crc32 = binascii.crc32(header || payload) (detects torn files and wrong keys).
# Day payload (kind 1), 404 bytes, little endian:
#   day u32 (days since 2000-01-01), flags u32, standing_mp i32, backfill_energy_wh u32,
#   backfill_cost_mp i32, then 48 x (energy_wh u32, cost_mp i32); energy 0xFFFFFFFF = no data.
# Month payload (kind 2), 288 bytes: month index u32 (months since 2000-01), reserved u32,
#   day flags 32 x u8, then 31 x (energy_wh u32, cost_mp i32); energy 0xFFFFFFFF = no data.
# Ledger payload (kind 3; store.py "ledger"), 8 + n_day + n_month bytes: base_day u32 (newest day
#   held by the day ring), base_month u32 (newest month held by the month ring), then one byte per
#   ring file, day ring first: bits 0..5 rows held (half-hours with data / days with data), bit 6
#   the day file holds the meter's own day total (DF_BACKFILL), bit 7 the file holds an index
#   older than the ring's window below base (which one is not kept). 0 = no rows expected. The
#   index of a file in the window is implied: the one in (base - ring, base] at its ring position.
import binascii
import struct

import cryptolib
from micropython import const

MAGIC = b"IHH"
VERSION = const(1)
KIND_DAY = const(1)
KIND_MONTH = const(2)
KIND_LEDGER = const(3)
HDR_LEN = const(20)
_HDR_FMT = "<3sBBBHI8s"
ABSENT = const(0xFFFFFFFF)
_ABSENT_I = const(-1)  # the same bytes read as i32: a small int on a 32-bit port, not a big one

DAY_LEN = const(404)
DAY_SLOT_OFF = const(20)
MONTH_LEN = const(288)
MONTH_FLAGS_OFF = const(8)
MONTH_DAY_OFF = const(40)

# Day flags
DF_BACKFILL = const(1)  # backfill_* holds the meter's own day total (it covers lost intervals)
DF_POSTVF = const(2)  # rebuilt at a truncation: holds only consumption at/after visible_from
# Some half-hours of the day are the meter's own profile intervals (Metering GetProfile,
# meters/backfill.py), filled where the device had none. Per day, not per slot: 48 slot bits do
# not fit in the flags word, and the day payload does not grow for it.
DF_PROFILE = const(4)
# Month day flags
MF_BACKFILL = const(1)
MF_POSTVF = const(2)
# Ledger row bytes
LG_ROWS = const(0x3F)
LG_BACKFILL = const(0x40)
LG_OLDER = const(0x80)
LEDGER_HDR = const(8)


def new_day(day):
    return blank_day(bytearray(DAY_LEN), day)


def blank_day(p, day):
    # p (DAY_LEN bytes) made the payload of a day with no data; -> p
    for i in range(DAY_SLOT_OFF):
        p[i] = 0
    struct.pack_into("<I", p, 0, day)
    for i in range(48):
        struct.pack_into("<Ii", p, DAY_SLOT_OFF + 8 * i, ABSENT, 0)
    return p


def new_month(mi):
    p = bytearray(MONTH_LEN)
    struct.pack_into("<I", p, 0, mi)
    for i in range(31):
        struct.pack_into("<I", p, MONTH_DAY_OFF + 8 * i, ABSENT)
    return p


def rec_index(p):
    return struct.unpack_from("<I", p, 0)[0]


def day_slot(p, i):
    # -> (energy_wh, cost_mp) or None. Energy is read as i32 (the u32 on flash is < 2^31 for any
    # real half-hour), so 0xFFFFFFFF is -1 and no big int is made on a 32-bit port.
    e, c = struct.unpack_from("<ii", p, DAY_SLOT_OFF + 8 * i)
    return None if e == _ABSENT_I else (e, c)


def set_day_slot(p, i, energy_wh, cost_mp):
    struct.pack_into("<Ii", p, DAY_SLOT_OFF + 8 * i, energy_wh, cost_mp)


def clear_day_slot(p, i):
    struct.pack_into("<Ii", p, DAY_SLOT_OFF + 8 * i, ABSENT, 0)


def day_meta(p):
    # -> (flags, standing_mp, backfill_energy_wh, backfill_cost_mp)
    return struct.unpack_from("<IiIi", p, 4)


def set_day_meta(p, flags, standing_mp, bf_energy_wh, bf_cost_mp):
    struct.pack_into("<IiIi", p, 4, flags, standing_mp, bf_energy_wh, bf_cost_mp)


def _present(p, off, n):
    # How many of the n (energy u32, cost i32) slots from off hold data (energy not ABSENT).
    # Allocation-free (bytes, not struct: an unpacked tuple per slot would allocate).
    k = 0
    for i in range(n):
        o = off + 8 * i
        if p[o] & p[o + 1] & p[o + 2] & p[o + 3] != 0xFF:
            k += 1
    return k


def day_rows(p):
    # Ledger byte of a day payload: half-hours with data | LG_BACKFILL.
    n = _present(p, DAY_SLOT_OFF, 48)
    if p[4] & DF_BACKFILL:  # flags u32, little endian
        n |= LG_BACKFILL
    return n


def month_rows(p):
    # Ledger byte of a month payload: days with data.
    return _present(p, MONTH_DAY_OFF, 31)


def ledger_pack(base_day, base_month, rows):
    # rows: bytearray of ledger bytes, day ring then month ring -> payload.
    p = bytearray(LEDGER_HDR + len(rows))
    struct.pack_into("<II", p, 0, base_day, base_month)
    p[LEDGER_HDR:] = rows
    return p


def ledger_base(p):
    # -> (base_day, base_month)
    return struct.unpack_from("<II", p, 0)


def month_day(p, i):
    # i = mday - 1 -> (energy_wh, cost_mp, flags) or None
    e, c = struct.unpack_from("<ii", p, MONTH_DAY_OFF + 8 * i)
    return None if e == _ABSENT_I else (e, c, p[MONTH_FLAGS_OFF + i])


def set_month_day(p, i, energy_wh, cost_mp, flags):
    struct.pack_into("<Ii", p, MONTH_DAY_OFF + 8 * i, energy_wh, cost_mp)
    p[MONTH_FLAGS_OFF + i] = flags


def clear_month_day(p, i):
    struct.pack_into("<Ii", p, MONTH_DAY_OFF + 8 * i, ABSENT, 0)
    p[MONTH_FLAGS_OFF + i] = 0


_KS = bytearray(16)  # one keystream block; no await between its uses, so one is enough


def _ctr(key, nonce, src, soff, dst, doff, n, pos=0):
    # dst[doff:doff + n] = src[soff:soff + n] ^ AES-CTR keystream from stream position pos
    # (counter block i = nonce || i). dst may be src. One 16-byte block at a time: a 428-byte
    # day file allocates no keystream buffer as big as itself (docs/boards.md "Fragmentation").
    aes = cryptolib.aes(key, 1)
    ks = _KS
    blk = -1
    for i in range(n):
        q = pos + i
        if q >> 4 != blk:
            blk = q >> 4
            ks[0:8] = nonce
            struct.pack_into(">Q", ks, 8, blk)
            aes.encrypt(ks, ks)
        dst[doff + i] = src[soff + i] ^ ks[q & 15]


def seal(kind, meter, epoch, key, nonce, payload, out=None):
    # -> the file image (header + encrypted payload + crc): written into `out` (a buffer of
    # exactly that length) when given, else a new bytearray
    n = len(payload)
    if out is None:
        out = bytearray(HDR_LEN + n + 4)
    struct.pack_into(_HDR_FMT, out, 0, MAGIC, VERSION, kind, meter, 0, epoch, nonce)
    out[HDR_LEN : HDR_LEN + n] = payload
    crc = binascii.crc32(memoryview(out)[: HDR_LEN + n]) & 0xFFFFFFFF
    struct.pack_into("<I", out, HDR_LEN + n, crc)
    _ctr(key, nonce, out, HDR_LEN, out, HDR_LEN, n + 4)
    return out


def sealed_epoch(data):
    # The epoch in a file's plaintext header, or -1 if it is not one of ours.
    if len(data) < HDR_LEN or data[:3] != MAGIC:
        return -1
    return struct.unpack_from("<I", data, 8)[0]


_CRC = bytearray(4)  # the decrypted crc of the file being opened


def _open(data, kind, meter, epoch, key, length, check):
    # The payload decrypted into a new bytearray (the only allocation of its size; `data` is
    # left as it was: the store reads every file into one buffer and may look at it again), or
    # None if the header is not one of ours for (kind, meter, epoch), the length is wrong or,
    # with check, the crc fails.
    if data is None or len(data) != HDR_LEN + length + 4:
        return None
    magic, ver, k, m, _, ep, nonce = struct.unpack_from(_HDR_FMT, data, 0)
    if magic != MAGIC or ver != VERSION or k != kind or m != meter or ep != epoch:
        return None
    out = bytearray(length)
    _ctr(key, nonce, data, HDR_LEN, out, 0, length)
    if check:
        _ctr(key, nonce, data, HDR_LEN + length, _CRC, 0, 4, length)
        crc = binascii.crc32(out, binascii.crc32(memoryview(data)[:HDR_LEN])) & 0xFFFFFFFF
        if crc != struct.unpack_from("<I", _CRC, 0)[0]:
            return None
    return out


def open_damaged(data, kind, meter, epoch, key, length):
    # The payload of a file whose crc fails, decrypted anyway, only to estimate what it held
    # (never served: CTR keeps a flipped bit where it was, a flipped nonce garbles it all).
    return _open(data, kind, meter, epoch, key, length, False)


def open_sealed(data, kind, meter, epoch, key, length):
    # -> payload bytearray, or None if the file is torn, foreign, of another epoch or corrupt.
    return _open(data, kind, meter, epoch, key, length, True)
