# ASH (Asynchronous Serial Host, Silicon Labs UG101) link to an EZSP NCP.
# SPDX-License-Identifier: MIT
#
# Two halves:
# - a pure codec: CRC-16/CCITT-FALSE, data randomization, byte stuffing, frame encode helpers and
#   a streaming `Decoder` that works in one preallocated buffer (no allocation per byte/frame);
# - `Ash(reader, writer)`: the asyncio link. RST/RSTACK handshake, frame/ack numbers, separate and
#   piggybacked ACKs, NAK + reject condition, retransmission with the adaptive ack timer.
#
# Choices (ezsp-ash reference 1.7/1.8): TX window is 1 frame like bellows (UG101 allows 5; bellows
# notes that more crashes some firmware, and EZSP runs one command at a time anyway). The ack
# timer adapts only on frames ACKed without retransmission (Karn's rule); a NAK retransmits at
# once and, like a timeout, counts toward ACK_TIMEOUTS (4, UG101) before the link is declared
# failed. Unsolicited RSTACK / ERROR, ack-timeout failure and EOF are all reported as
# a code on the resets Signal so the EZSP/NCP layers re-initialise.
import asyncio
import time
from array import array

from ihd.runtime import log
from ihd.runtime.aio import wait_ms
from ihd.runtime.counters import Counters
from ihd.runtime.events import Signal
from micropython import const

# Reserved bytes (UG101 "Reserved bytes")
FLAG = const(0x7E)
ESCAPE = const(0x7D)
XON = const(0x11)
XOFF = const(0x13)
SUBSTITUTE = const(0x18)
CANCEL = const(0x1A)
WAKE = const(0xFF)

# Control bytes
RST = const(0xC0)
RSTACK = const(0xC1)
ERROR = const(0xC2)
ASH_VERSION = const(2)

# Reset / error codes (RSTACK, ERROR) plus one host-side code
RESET_POWER_ON = const(0x02)
RESET_SOFTWARE = const(0x0B)
ERROR_ACK_TIMEOUTS = const(0x51)  # also used when *this* host gives up waiting for ACKs
LINK_LOST = const(0x100)  # host-side: the serial stream hit EOF / write error

# Link states
ST_DOWN = const(0)
ST_RESETTING = const(1)
ST_CONNECTED = const(2)
ST_FAILED = const(3)

MAX_DATA = const(220)  # EZSP frame bytes per DATA frame (herdsman; SDK v14 needs 202)

_FLIP = const(0x20)
_LFSR_SEED = const(0x42)
_LFSR_POLY = const(0xB8)
_RX_CHUNK = const(64)
_LOG_EVERY_MS = const(5000)  # rx error summary at most this often (errors are per byte/frame)

_MAX_NAKS_PER_FRAME = const(16)
_COUNTER_NAMES = (
    "tx_data",
    "retransmits",
    "ack_timeouts",
    "naks_rx",
    "acks_sent",
    "naks_sent",
    "rx_frames",
    "rx_data",
    "crc_errors",
    "bad_frames",
    "overflows",
    "out_of_seq",
    "duplicates",
    "discarded",
    "cancels",
    "substitutes",
    "xon",
    "xoff",
    "xoff_expired",
    "resets",
    "reset_timeouts",
    "unsolicited_rstack",
    "errors_rx",
    "failures",
    "deliver_errors",
)


class AshError(Exception):
    pass


# ---- codec ---------------------------------------------------------------------------------


def _make_crc_table():
    t = array("H", [0] * 256)
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        t[i] = c & 0xFFFF
    return t


_CRC_TAB = _make_crc_table()  # 512 bytes, built once at import


# CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout) of buf[start:end].
# Run over a whole received frame including its big-endian CRC it yields 0 (the residue).
def crc16(buf, start=0, end=None, crc=0xFFFF):
    if end is None:
        end = len(buf)
    tab = _CRC_TAB
    for i in range(start, end):
        crc = ((crc << 8) & 0xFFFF) ^ tab[((crc >> 8) ^ buf[i]) & 0xFF]
    return crc


# XOR buf[start:end] in place with the UG101 pseudo-random sequence (42 21 A8 54 ...).
# Applied to the data field of DATA frames only; the same call de-randomizes.
def randomize(buf, start=0, end=None):
    if end is None:
        end = len(buf)
    r = _LFSR_SEED
    for i in range(start, end):
        buf[i] ^= r
        r = (r >> 1) ^ _LFSR_POLY if r & 1 else r >> 1
    return buf


def _is_reserved(b):
    return b in (FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL)


# Byte-stuff src[start:end] into dst at pos; returns the new pos. WAKE (0xFF) is not escaped.
def stuff_into(dst, pos, src, start=0, end=None):
    if end is None:
        end = len(src)
    for i in range(start, end):
        b = src[i]
        if _is_reserved(b):
            dst[pos] = ESCAPE
            dst[pos + 1] = b ^ _FLIP
            pos += 2
        else:
            dst[pos] = b
            pos += 1
    return pos


def data_ctrl(frm_num, ack_num, re_tx=0):
    return ((frm_num & 7) << 4) | ((1 if re_tx else 0) << 3) | (ack_num & 7)


def ack_ctrl(ack_num, n_rdy=0):
    return 0x80 | ((1 if n_rdy else 0) << 3) | (ack_num & 7)


def nak_ctrl(ack_num, n_rdy=0):
    return 0xA0 | ((1 if n_rdy else 0) << 3) | (ack_num & 7)


# Build the unstuffed frame [ctrl][data][crc hi][crc lo] into raw; DATA frames are randomized.
# Returns its length.
def build_raw(raw, ctrl, data: "bytes | bytearray | memoryview" = b"", n=None):
    if n is None:
        n = len(data)
    raw[0] = ctrl
    for i in range(n):
        raw[1 + i] = data[i]
    if not ctrl & 0x80:
        randomize(raw, 1, 1 + n)
    crc = crc16(raw, 0, 1 + n)
    raw[1 + n] = crc >> 8
    raw[2 + n] = crc & 0xFF
    return 3 + n


# Allocating convenience for tests and tools: the bytes on the wire for one frame, FLAG included.
def encode(ctrl, data=b""):
    raw = bytearray(3 + len(data))
    n = build_raw(raw, ctrl, data)
    out = bytearray(2 * n + 1)
    m = stuff_into(out, 0, raw, 0, n)
    out[m] = FLAG
    return bytes(out[: m + 1])


def stuff(data):
    out = bytearray(2 * len(data))
    return bytes(out[: stuff_into(out, 0, data)])


# Allocating convenience: every frame in wire bytes -> list of (ctrl, data bytes or None if bad).
def decode(wire):
    out = []
    d = Decoder(
        lambda ctrl, n: out.append((ctrl, bytes(d.buf[1 : 1 + n]))),
        lambda ctrl: out.append((ctrl, None)),
    )
    d.feed(wire, len(wire))
    return out


class Decoder:
    # Streaming receiver. Unstuffs into one preallocated buffer, checks the CRC, de-randomizes
    # DATA in place and calls on_frame(ctrl, n) with the data at buf[1:1 + n]; on_bad(ctrl) for a
    # frame with a bad CRC / escape / length (ctrl -1 if not even a control byte arrived).
    # Handles XON/XOFF (dropped; `xoff` tracks the peer from the first XOFF, `xoff_t` is when it
    # came, `xoff_ignore` discredits the peer's XOFFs until its next XON: Ash._write), CANCEL
    # (drop the frame so far), SUBSTITUTE (drop up to and including the next FLAG) and WAKE
    # between frames.
    # Allocates nothing per byte or per frame (proved in tests/firmware/test_ash.py).
    def __init__(self, on_frame, on_bad=None, max_data=MAX_DATA, counters=None):
        self.buf = bytearray(max_data + 3)
        self.mv = memoryview(self.buf)
        self.on_frame = on_frame
        self.on_bad = on_bad
        self.c = counters
        self.xoff = False
        self.xoff_t = 0
        self.xoff_ignore = False
        self.reset()

    def reset(self):
        self._pos = 0
        self._esc = False
        self._drop = False  # after SUBSTITUTE, until FLAG
        self._bad = False  # invalid escape seen in this frame
        self._over = False  # frame longer than the buffer

    def _count(self, name):
        if self.c is not None:
            self.c.inc(name)

    def feed(self, data, n):
        buf = self.buf
        cap = len(buf)
        pos = self._pos
        esc = self._esc
        for i in range(n):
            b = data[i]
            if b in (XON, XOFF):
                # Flow-control bytes are never part of a frame (stuffed if they are data). A
                # repeated XOFF does not restart the pause (Ash._write bounds it from the first).
                if b == XON:
                    self.xoff = self.xoff_ignore = False
                    self._count("xon")
                else:
                    if not (self.xoff or self.xoff_ignore):
                        self.xoff = True
                        self.xoff_t = time.ticks_ms()
                    self._count("xoff")
            elif b == FLAG:
                if self._drop:
                    self._drop = False
                elif pos or esc or self._over:
                    self._end(pos, esc)
                pos = 0
                esc = False
                self._bad = self._over = False
            elif self._drop:
                pass
            elif b == CANCEL:
                pos = 0
                esc = False
                self._bad = self._over = False
                self._count("cancels")
            elif b == SUBSTITUTE:
                pos = 0
                esc = False
                self._drop = True
                self._count("substitutes")
            elif b == ESCAPE:
                if esc:
                    self._bad = True
                esc = True
            elif b == WAKE and pos == 0 and not esc:
                pass  # wake byte between frames
            else:
                if esc:
                    b ^= _FLIP
                    esc = False
                    if not _is_reserved(b):
                        self._bad = True
                if pos < cap:
                    buf[pos] = b
                    pos += 1
                else:
                    self._over = True
        self._pos = pos
        self._esc = esc

    def _end(self, pos, esc):
        buf = self.buf
        if self._over:
            self._count("overflows")
        elif esc or self._bad or pos < 3:
            self._count("bad_frames")
        elif crc16(buf, 0, pos) != 0:
            self._count("crc_errors")
        else:
            ctrl = buf[0]
            n = pos - 3
            if not ctrl & 0x80:
                randomize(buf, 1, 1 + n)
            self._count("rx_frames")
            self.on_frame(ctrl, n)
            return
        if self.on_bad is not None:
            self.on_bad(buf[0] if pos else -1)


# ---- link ----------------------------------------------------------------------------------

# CANCEL + RST + FLAG: the host's reset request (UG101, bellows send_reset()).
RST_BYTES = b"\x1a\xc0\x38\xbc\x7e"


class Ash:
    # Signals (runtime/events.py; the EZSP layer connects):
    #   frames  payload: an in-sequence EZSP frame (memoryview, valid only during the call).
    #   resets  payload: the code of an NCP reset or failure (unsolicited RSTACK code, ERROR
    #           code, ERROR_ACK_TIMEOUTS, LINK_LOST); send() fails until reset() succeeds.
    def __init__(
        self,
        reader,
        writer,
        t_ack_init_ms=1600,
        t_ack_min_ms=400,
        t_ack_max_ms=3200,
        ack_timeouts=4,
        t_rstack_ms=3200,
        reset_attempts=5,
        t_xoff_max_ms=1000,
        max_data=MAX_DATA,
        name="ash",
    ):
        self._reader = reader
        self._writer = writer
        self._readinto = hasattr(reader, "readinto")
        self.t_ack_min_ms = t_ack_min_ms
        self.t_ack_max_ms = t_ack_max_ms
        self.t_ack_init_ms = t_ack_init_ms
        self.t_rx_ack_ms = t_ack_init_ms  # the adaptive ack timer
        self.ack_timeouts = ack_timeouts
        self.t_rstack_ms = t_rstack_ms
        self.reset_attempts = reset_attempts
        self.t_xoff_max_ms = t_xoff_max_ms
        self.max_data = max_data
        self.c = Counters(name, _COUNTER_NAMES)
        self.frames = Signal(name, self.c, "deliver_errors")  # the upper layer's bugs stay there
        self.resets = Signal(name)
        self.state = ST_DOWN
        self.last_reset_code = -1
        self._dec = Decoder(self._rx_frame, self._rx_bad, max_data, self.c)
        self._views = [None] * (max_data + 1)  # type: list  # per-length views of the rx data, made on first use
        self._chunk = bytearray(_RX_CHUNK)
        self._chunk_mv = memoryview(self._chunk)
        self._tx_data = bytearray(max_data)
        self._tx_raw = bytearray(max_data + 3)
        self._tx_out = bytearray(2 * (max_data + 3) + 1)
        self._tx_out_mv = memoryview(self._tx_out)
        self._ctl_raw = bytearray(3)
        self._ctl_out = bytearray(7)
        self._ctl_out_mv = memoryview(self._ctl_out)
        self._tx_lock = asyncio.Lock()  # TX window 1: one DATA frame outstanding
        self._wlock = asyncio.Lock()  # one writer on the stream at a time
        self._tx_evt = asyncio.Event()
        self._rst_evt = asyncio.Event()
        self._rx_task = None
        self._rst_other = -1
        self._errs_logged = 0
        self._log_t = time.ticks_ms()
        self._init_seq()

    def _init_seq(self):
        self._tx_next = 0  # frmNum of our next new DATA frame
        self._rx_next = 0  # ackNum: next frmNum expected from the NCP
        self._tx_frm = -1  # frmNum awaiting ACK, -1 if none
        self._tx_acked = self._tx_nak = self._tx_fail = False
        self._need_ack = self._need_nak = self._reject = False

    # ---- lifecycle

    def start(self):
        if self._rx_task is None:
            self._rx_task = asyncio.create_task(self._rx_loop())

    def stop(self):
        if self._rx_task is not None:
            self._rx_task.cancel()
            self._rx_task = None
        self.state = ST_DOWN
        self._abort_tx()

    # Send CANCEL+RST+FLAG and wait for RSTACK; retried reset_attempts times. Everything else
    # received meanwhile is discarded. Returns the reset code; raises AshError on failure.
    async def reset(self):
        self.start()
        self.state = ST_RESETTING
        self._abort_tx()
        for _ in range(self.reset_attempts):
            self._rst_evt.clear()
            async with self._wlock:
                await self._write(RST_BYTES, len(RST_BYTES))
            self._rst_other = -1
            try:
                await wait_ms(self._rst_evt.wait(), self.t_rstack_ms)
            except asyncio.TimeoutError:
                if self._rst_other < 0:
                    self.c.inc("reset_timeouts")
                    continue
                # Only a non-software RSTACK came: accept it (some NCPs answer RST that way).
                self.last_reset_code = self._rst_other
            self._init_seq()
            self._dec.xoff = self._dec.xoff_ignore = False
            self.t_rx_ack_ms = self.t_ack_init_ms
            self.state = ST_CONNECTED
            self.c.inc("resets")
            log.info("ash", "connected, RSTACK code 0x%02x", self.last_reset_code)
            return self.last_reset_code
        self.state = ST_FAILED
        log.error("ash", "no RSTACK after %d attempts", self.reset_attempts)
        raise AshError("reset failed")

    # ---- transmit

    # Send one EZSP frame in a DATA frame and wait until the NCP acknowledges it.
    async def send(self, payload):
        n = len(payload)
        if not 0 < n <= self.max_data:
            raise ValueError("ash payload length")
        async with self._tx_lock:
            if self.state != ST_CONNECTED:
                raise AshError("link down")
            self._tx_data[:n] = payload
            frm = self._tx_next
            self._tx_next = (frm + 1) & 7
            self._tx_frm = frm
            self._tx_fail = False
            timeouts = naks = 0
            re_tx = 0
            while True:
                self._tx_evt.clear()
                self._tx_acked = self._tx_nak = False
                await self._write_data(frm, re_tx, n)
                t0 = time.ticks_ms()  # the ack timer measures the NCP, not our XOFF/lock wait
                if not (self._tx_acked or self._tx_nak or self._tx_fail):
                    try:
                        await wait_ms(self._tx_evt.wait(), self.t_rx_ack_ms)
                    except asyncio.TimeoutError:
                        pass
                if self._tx_fail:
                    self._tx_frm = -1
                    raise AshError("NCP reset")
                if self._tx_acked:
                    self._tx_frm = -1
                    if not re_tx:
                        self._adapt(time.ticks_diff(time.ticks_ms(), t0))
                    return
                re_tx = 1
                # UG101 ACK_TIMEOUTS counts timeouts only: a NAK proves the NCP is alive (on a
                # noisy UART half the frames may be NAKed). NAKs get their own generous cap.
                if self._tx_nak:
                    naks += 1
                    self.c.inc("naks_rx")
                else:
                    timeouts += 1
                    self.c.inc("ack_timeouts")
                    self.t_rx_ack_ms = min(2 * self.t_rx_ack_ms, self.t_ack_max_ms)
                if timeouts >= self.ack_timeouts or naks >= _MAX_NAKS_PER_FRAME:
                    self._tx_frm = -1
                    self._fail(ERROR_ACK_TIMEOUTS)
                    raise AshError("no ACK")
                self.c.inc("retransmits")

    # t = 7/8 t + 1/2 elapsed, clamped (UG101 / bellows).
    def _adapt(self, elapsed_ms):
        t = (7 * self.t_rx_ack_ms) // 8 + elapsed_ms // 2
        self.t_rx_ack_ms = max(self.t_ack_min_ms, min(t, self.t_ack_max_ms))

    async def _write_data(self, frm, re_tx, n):
        async with self._wlock:
            if self.state != ST_CONNECTED:
                self._tx_fail = True
                return
            # Carries the current ackNum: this piggybacks any pending ACK.
            self._need_ack = False
            m = build_raw(self._tx_raw, data_ctrl(frm, self._rx_next, re_tx), self._tx_data, n)
            k = stuff_into(self._tx_out, 0, self._tx_raw, 0, m)
            self._tx_out[k] = FLAG
            self.c.inc("tx_data")
            await self._write(self._tx_out_mv, k + 1)

    async def _write_ctrl(self, ctrl):
        n = build_raw(self._ctl_raw, ctrl)
        k = stuff_into(self._ctl_out, 0, self._ctl_raw, 0, n)
        self._ctl_out[k] = FLAG
        await self._write(self._ctl_out_mv, k + 1)

    async def _write(self, buf, n):
        # Honour an XOFF from the NCP for at most t_xoff_max_ms from its arrival, in all (ASH has
        # no flow control of its own, ezsp-ash 1.1/1.8, and the boards use RTS/CTS: an XOFF is
        # most likely a stray byte). An XOFF that outlasts the bound is dropped, counted
        # (xoff_expired) and logged, and the peer's XOFFs are ignored until it sends an XON: one
        # stray byte costs one bounded pause, a held XOFF cannot stall the link.
        d = self._dec
        if d.xoff:
            lim = self.t_xoff_max_ms
            t0 = time.ticks_ms()
            while d.xoff:
                now = time.ticks_ms()
                if time.ticks_diff(now, d.xoff_t) >= lim or time.ticks_diff(now, t0) >= lim:
                    d.xoff = False
                    d.xoff_ignore = True
                    self.c.inc("xoff_expired")
                    log.warn("ash", "XOFF without XON for %d ms: ignored until an XON", lim)
                    break
                await asyncio.sleep_ms(2)
        try:
            self._writer.write(buf[:n])
            await self._writer.drain()
        except OSError as e:
            log.exc("ash", e, "write failed")
            self._fail(LINK_LOST)
            raise AshError("write failed") from e

    def _abort_tx(self):
        if self._tx_frm >= 0:
            self._tx_fail = True
            self._tx_evt.set()

    def _fail(self, code):
        self.c.inc("failures")
        self.state = ST_FAILED
        self._abort_tx()
        self._report(code)

    def _report(self, code):
        self.last_reset_code = code
        self.resets.emit(code)

    # ---- receive

    async def _rx_loop(self):
        buf = self._chunk
        mv = self._chunk_mv
        while True:
            try:
                if self._readinto:
                    n = await self._reader.readinto(buf)
                else:
                    d = await self._reader.read(len(buf))
                    n = len(d)
                    buf[:n] = d
            except OSError as e:
                log.exc("ash", e, "read failed")
                n = 0
            if not n:
                self._fail(LINK_LOST)
                self._rx_task = None
                return
            self.feed(mv, n)
            try:
                await self._flush_ctrl()
            except AshError:
                pass
            self._log_errors()

    # Push received bytes through the decoder and link state machine (the allocation-free path;
    # ACK/NAK replies are only flagged here and written by the rx task afterwards).
    def feed(self, data, n):
        self._dec.feed(data, n)

    async def _flush_ctrl(self):
        if not (self._need_nak or self._need_ack) or self.state != ST_CONNECTED:
            return
        async with self._wlock:
            if self._need_nak:
                self._need_nak = self._need_ack = False
                self.c.inc("naks_sent")
                await self._write_ctrl(nak_ctrl(self._rx_next))
            elif self._need_ack:  # still needed: no DATA frame carried it meanwhile
                self._need_ack = False
                self.c.inc("acks_sent")
                await self._write_ctrl(ack_ctrl(self._rx_next))

    def _log_errors(self):
        c = self.c
        errs = c.get("crc_errors") + c.get("bad_frames") + c.get("overflows")
        errs += c.get("out_of_seq") + c.get("substitutes")
        if errs != self._errs_logged:
            now = time.ticks_ms()
            if time.ticks_diff(now, self._log_t) >= _LOG_EVERY_MS or not self._errs_logged:
                self._errs_logged = errs
                self._log_t = now
                log.warn(
                    "ash",
                    "rx errors: crc %d bad %d overflow %d out-of-seq %d sub %d",
                    c.get("crc_errors"),
                    c.get("bad_frames"),
                    c.get("overflows"),
                    c.get("out_of_seq"),
                    c.get("substitutes"),
                )

    def _view(self, n):
        v = self._views[n]
        if v is None:
            v = self._dec.mv[1 : 1 + n]
            self._views[n] = v
        return v

    def _rx_bad(self, ctrl):
        # UG101 reject condition: NAK once for a damaged DATA frame, then stay quiet until an
        # in-sequence DATA frame arrives (bellows 1.2.1 does the same, DATA-type controls only).
        if self.state == ST_CONNECTED and ctrl >= 0 and not ctrl & 0x80:
            self._reject_frame()

    def _reject_frame(self):
        if not self._reject:
            self._reject = True
            self._need_nak = True

    def _rx_ack(self, ack):
        f = self._tx_frm
        if f >= 0 and ack == ((f + 1) & 7):
            self._tx_acked = True
            self._tx_evt.set()

    def _rx_frame(self, ctrl, n):
        c = self.c
        buf = self._dec.buf
        if ctrl in (RSTACK, ERROR):
            if n != 2 or buf[1] != ASH_VERSION:
                c.inc("bad_frames")
                return
            code = buf[2]
            if ctrl == RSTACK and self.state == ST_RESETTING:
                # Prefer RESET_SOFTWARE (the answer to our RST): a power-on RSTACK that was
                # already queued must not make the real answer look unsolicited later.
                if code == RESET_SOFTWARE:
                    self.last_reset_code = code
                    self._rst_evt.set()
                else:
                    self._rst_other = code
                return
            if self.state != ST_CONNECTED:
                # Resetting: an NCP in FAILED state keeps sending ERROR until RST. Failed: the
                # failure was reported already; the upper layer is re-initialising.
                c.inc("discarded")
                return
            c.inc("unsolicited_rstack" if ctrl == RSTACK else "errors_rx")
            log.warn("ash", "%s code 0x%02x", "RSTACK" if ctrl == RSTACK else "ERROR", code)
            self.state = ST_FAILED
            self._abort_tx()
            self._need_ack = self._need_nak = False
            self._report(code)
            return
        if self.state != ST_CONNECTED:
            c.inc("discarded")
            return
        if not ctrl & 0x80:  # DATA
            if n < 3:  # shorter than any EZSP frame
                c.inc("bad_frames")
                self._reject_frame()
                return
            self._rx_ack(ctrl & 7)
            frm = (ctrl >> 4) & 7
            if frm == self._rx_next:
                self._rx_next = (frm + 1) & 7
                self._reject = False
                self._need_ack = True
                c.inc("rx_data")
                self.frames.emit(self._view(n))
            elif ctrl & 0x08:  # a retransmission of a frame we already have: re-ACK it
                c.inc("duplicates")
                self._need_ack = True
            else:
                c.inc("out_of_seq")
                self._reject_frame()
        elif ctrl & 0xE0 == 0x80:  # ACK
            self._rx_ack(ctrl & 7)
        elif ctrl & 0xE0 == 0xA0:  # NAK: retransmit from ackNum
            ack = ctrl & 7
            self._rx_ack(ack)
            if self._tx_frm >= 0 and ack == self._tx_frm:
                self._tx_nak = True
                self._tx_evt.set()
        else:  # RST from the NCP or an unused control byte
            c.inc("bad_frames")
