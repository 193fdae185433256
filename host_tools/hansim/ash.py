"""NCP side of ASH (UG101): framing, CRC, stuffing, randomization, ack/nak, retransmission.

The host (the firmware, or bellows) sends RST; we answer RSTACK(2, RESET_SOFTWARE). DATA frames
from the host are acked (piggybacked on our next DATA frame when one is ready at once, else a
separate ACK). Our DATA frames are retransmitted on NAK or when the ack timer expires.
"""

from __future__ import annotations

import asyncio
import binascii
import logging
from collections import deque
from typing import Callable, Deque, List, Optional, Tuple

log = logging.getLogger("hansim.ash")

FLAG = 0x7E
ESCAPE = 0x7D
XON = 0x11
XOFF = 0x13
SUBSTITUTE = 0x18
CANCEL = 0x1A
RESERVED = frozenset((FLAG, ESCAPE, XON, XOFF, SUBSTITUTE, CANCEL))

RST = 0xC0
RSTACK = 0xC1
ERROR = 0xC2
RESET_SOFTWARE = 0x0B

TX_WINDOW = 3
ACK_TIMEOUT_INIT_S = 0.8
ACK_TIMEOUT_MIN_S = 0.4
ACK_TIMEOUT_MAX_S = 3.2
MAX_RETRIES = 6  # ASH_MAX_TIMEOUTS of the SDK host port (herdsman); then FAILED + ERROR(0x51)


def crc16(data: bytes) -> int:
    return binascii.crc_hqx(data, 0xFFFF)


def _pseudo_random(n: int) -> bytes:
    out = bytearray(n)
    r = 0x42
    for i in range(n):
        out[i] = r
        r = (r >> 1) ^ (0xB8 if r & 1 else 0)
    return bytes(out)


_PRNG = _pseudo_random(512)


def randomize(data: bytes) -> bytes:
    return bytes(b ^ _PRNG[i] for i, b in enumerate(data))


def stuff(data: bytes) -> bytes:
    out = bytearray()
    for b in data:
        if b in RESERVED:
            out.append(ESCAPE)
            out.append(b ^ 0x20)
        else:
            out.append(b)
    return bytes(out)


def encode_frame(control: int, data: bytes = b"") -> bytes:
    body = bytes((control,)) + data
    c = crc16(body)
    return stuff(body + bytes((c >> 8, c & 0xFF))) + bytes((FLAG,))


def rstack_bytes(code: int = RESET_SOFTWARE) -> bytes:
    # A CANCEL byte precedes the RSTACK, as real NCPs do (ezsp-ash.md 1.9).
    return bytes((CANCEL,)) + encode_frame(RSTACK, bytes((0x02, code)))


class AshNcp:
    """ASH link, NCP role. `write` sends raw bytes to the host; `on_frame(bytes)` receives each
    EZSP frame; `on_reset()` is called after a RST from the host (link state already reset)."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        on_frame: Callable[[bytes], None],
        on_reset: Callable[[], None],
    ):
        self._write = write
        self.on_frame = on_frame
        self.on_reset = on_reset
        self._rx = bytearray()
        self._escaped = False
        self._discard = False
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._timer: Optional[asyncio.TimerHandle] = None
        self.counters = {
            "rx_frames": 0,
            "crc_errors": 0,
            "naks_sent": 0,
            "naks_rx": 0,
            "retransmits": 0,
            "resets": 0,
            "out_of_seq": 0,
            "tx_frames": 0,
        }
        self._reset_state()

    def _reset_state(self) -> None:
        self.connected = False
        self.failed = False
        self.tx_seq = 0  # next frmNum we send
        self.rx_ack = 0  # ackNum we send = next frmNum expected from the host
        self.reject = False
        self.pending: Deque[bytes] = deque()  # EZSP frames not yet sent
        self.unacked: List[Tuple[int, bytes]] = []  # (frmNum, ezsp) sent, waiting for ack
        self.ack_timeout_s = ACK_TIMEOUT_INIT_S
        self.retries = 0
        self._sent_at = 0.0
        self._cancel_timer()

    # ---- receive path ---------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        for b in data:
            if b in (XON, XOFF):
                continue
            if b == CANCEL:
                self._rx.clear()
                self._escaped = False
                self._discard = False
                continue
            if b == SUBSTITUTE:
                self._rx.clear()
                self._escaped = False
                self._discard = True
                continue
            if b == FLAG:
                if not self._discard and self._rx:
                    self._frame(bytes(self._rx))
                self._rx.clear()
                self._escaped = False
                self._discard = False
                continue
            if self._discard:
                continue
            if b == ESCAPE:
                self._escaped = True
                continue
            if self._escaped:
                b ^= 0x20
                self._escaped = False
            self._rx.append(b)

    def _frame(self, frame: bytes) -> None:
        if len(frame) < 3 or crc16(frame[:-2]) != (frame[-2] << 8 | frame[-1]):
            self.counters["crc_errors"] += 1
            log.debug("bad frame %s", frame.hex())
            if frame and frame[0] & 0x80 == 0 and self.connected:
                self._send_nak()
            return
        self.counters["rx_frames"] += 1
        control = frame[0]
        data = frame[1:-2]
        if control == RST:
            self.counters["resets"] += 1
            self._reset_state()
            self.connected = True
            self._write(rstack_bytes(RESET_SOFTWARE))
            self.on_reset()
            return
        if not self.connected:
            if self.failed:
                self._send_error()  # FAILED: every frame but RST gets ERROR again
            return  # nothing but RST until the link is up
        if control & 0x80 == 0:
            self._data(control, data)
        elif control & 0xE0 == 0x80:
            self._ack(control & 0x07)
            self._pump()
        elif control & 0xE0 == 0xA0:
            self.counters["naks_rx"] += 1
            self._ack(control & 0x07)
            self._retransmit_all()
        # other control bytes (RSTACK/ERROR from a confused host) are ignored

    def _data(self, control: int, data: bytes) -> None:
        frm = (control >> 4) & 0x07
        retx = control & 0x08
        self._ack(control & 0x07)
        if frm != self.rx_ack:
            self.counters["out_of_seq"] += 1
            if retx:
                self._send_ack()
            elif not self.reject:
                self._send_nak()
            self._pump()
            return
        self.reject = False
        self.rx_ack = (self.rx_ack + 1) & 0x07
        before = self.counters["tx_frames"]
        if data:
            self.on_frame(randomize(data))
        self._pump()
        if self.counters["tx_frames"] == before:
            self._send_ack()  # nothing to piggyback the ack on

    def _ack(self, ack_num: int) -> None:
        # ack_num acknowledges every frame before it
        acked = False
        while self.unacked:
            frm = self.unacked[0][0]
            # frames in flight are a contiguous window ending before tx_seq
            dist_frm = (self.tx_seq - frm) & 0x07
            dist_ack = (self.tx_seq - ack_num) & 0x07
            if dist_ack < dist_frm:
                self.unacked.pop(0)
                acked = True
            else:
                break
        if acked:
            if self._loop is not None:
                elapsed = self._loop.time() - self._sent_at
                t = self.ack_timeout_s * 7 / 8 + elapsed / 2
                self.ack_timeout_s = min(max(t, ACK_TIMEOUT_MIN_S), ACK_TIMEOUT_MAX_S)
            self.retries = 0
            self._cancel_timer()
            if self.unacked:
                self._start_timer()

    # ---- transmit path --------------------------------------------------------------------

    def send(self, ezsp: bytes) -> None:
        if not self.connected:
            log.debug("link down, dropping %s", ezsp.hex())
            return
        self.pending.append(ezsp)
        self._pump()

    def _pump(self) -> None:
        while self.pending and len(self.unacked) < TX_WINDOW:
            ezsp = self.pending.popleft()
            frm = self.tx_seq
            self.tx_seq = (self.tx_seq + 1) & 0x07
            self.unacked.append((frm, ezsp))
            self._send_data(frm, ezsp, retx=False)
            if self._timer is None:
                self._start_timer()

    def _send_data(self, frm: int, ezsp: bytes, retx: bool) -> None:
        control = (frm << 4) | (0x08 if retx else 0) | self.rx_ack
        self.counters["tx_frames"] += 1
        self._write(encode_frame(control, randomize(ezsp)))

    def _send_error(self) -> None:
        # ERROR(0x51), repeated every ack period while FAILED: a lost ERROR must not leave the
        # host waiting on a silent link.
        if not self.failed:
            return
        self._write(encode_frame(ERROR, bytes((0x02, 0x51))))
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_later(ACK_TIMEOUT_MAX_S, self._send_error)

    def _send_ack(self) -> None:
        self._write(encode_frame(0x80 | self.rx_ack))

    def _send_nak(self) -> None:
        self.reject = True
        self.counters["naks_sent"] += 1
        self._write(encode_frame(0xA0 | self.rx_ack))

    def _retransmit_all(self) -> None:
        for frm, ezsp in self.unacked:
            self.counters["retransmits"] += 1
            self._send_data(frm, ezsp, retx=True)
        self._cancel_timer()
        if self.unacked:
            self._start_timer()
        self._pump()

    def _start_timer(self) -> None:
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._sent_at = self._loop.time()
        self._timer = self._loop.call_later(self.ack_timeout_s, self._on_timeout)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        if not self.unacked:
            return
        self.retries += 1
        self.ack_timeout_s = min(self.ack_timeout_s * 2, ACK_TIMEOUT_MAX_S)
        if self.retries > MAX_RETRIES:
            # As a real NCP (UG101): enter FAILED, report ERROR(0x51) and accept nothing but RST.
            # The host must reset; frames in flight are lost with the NCP state, visibly.
            log.warning("host stopped acking; FAILED with %d frames", len(self.unacked))
            self.counters["failures"] = self.counters.get("failures", 0) + 1
            self.unacked.clear()
            self.pending.clear()
            self.retries = 0
            self.connected = False
            self.failed = True
            self._send_error()
            return
        self._retransmit_all()

    # ---- NCP-initiated reset --------------------------------------------------------------

    def ncp_reset(self, code: int = RESET_SOFTWARE) -> None:
        # Unsolicited RSTACK, as after a watchdog / power cycle. The host must re-init.
        self._reset_state()
        self.connected = True
        self._write(rstack_bytes(code))

    def close(self) -> None:
        self._cancel_timer()
