# The messages on flash: one file written whole with runtime.atomic (tmp + rename, CRC), so a
# power cut leaves the old or the new set, never a mix. Bounded: at most N_MAX messages of at
# most MAX_TEXT_B bytes of UTF-8 each (~2.3 KB file at worst). Record: id u32, start u32,
# end u32 (0: until cancelled), fuel u8, control u8, flags u8, text length u8, text.
import struct

from micropython import const

from ihd.messages import stats
from ihd.runtime import atomic, log
from ihd.state import model as M

N_MAX = const(8)
MAX_TEXT_B = const(128)
_VERSION = const(1)
_REC = "<IIIBBBB"
_REC_B = const(16)


def clip(text):
    # -> text cut to MAX_TEXT_B bytes of UTF-8 at a character boundary (same object if it fits).
    b = text.encode()
    if len(b) <= MAX_TEXT_B:
        return text
    n = MAX_TEXT_B
    while n and b[n] & 0xC0 == 0x80:  # a continuation byte: back to the character's start
        n -= 1
    return str(b[:n], "utf-8")


def encode(msgs):
    parts = [bytes((_VERSION, len(msgs)))]
    for m in msgs:
        t = m.text.encode()[:MAX_TEXT_B]
        parts.append(struct.pack(_REC, m.id, m.time_utc, m.end_utc, m.fuel, m.control, m.flags,
                                 len(t)))  # fmt: skip
        parts.append(t)
    return b"".join(parts)


def decode(raw):
    # -> [Message], newest first as saved. A file of another shape: [] (counted, logged).
    if len(raw) < 2 or raw[0] != _VERSION or raw[1] > N_MAX:
        return _bad("header")
    out = []
    off = 2
    for _ in range(raw[1]):
        if off + _REC_B > len(raw):
            return _bad("short")
        i, s, e, fuel, ctl, fl, n = struct.unpack_from(_REC, raw, off)
        off += _REC_B
        if off + n > len(raw) or fuel > 1:
            return _bad("record")
        try:
            text = str(raw[off : off + n], "utf-8")
        except UnicodeError:
            return _bad("text")
        off += n
        out.append(M.Message(i, text, s, fuel, control=ctl, end_utc=e, flags=fl))
    return out


def _bad(why):
    stats.inc("bad_store")
    log.warn("messages", "stored messages unreadable (%s): none kept", why)
    return []


def load(path):
    raw = atomic.read(path) if path else None
    return [] if raw is None else decode(raw)


def save(path, msgs):
    if path:
        atomic.write(path, encode(msgs))
