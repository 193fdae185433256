# UTRN entry state machine for the top-up screen (docs/prepay.md "UI"). Pure: no I/O, no
# asyncio, no display. The screen maps keys to the methods below; methods that need the
# prepayment service return a request tuple the screen runs as a task, then hands the service's
# Result back with finish(). Imports under CPython (portable tests).
#
# Two input styles, usable together:
#   keypad (PPMID 4x3):   digit() types, delete() ('*' or BACK) removes, submit() ('#' or OK)
#   four buttons (Pico):  up()/down() (next/prev) change the candidate digit at the cursor,
#                         select() commits it (OK); with 20 digits typed select() submits
# States: ENTER -> (FUEL when both meters are prepayment) -> SENDING -> RESULT; LOCKED while
# the service rate-limits; PENDING when a code was sent without an answer (kept for retry).
import time

from micropython import const

from ihd.state import utrn as U

# The service's result codes the entry tells apart (the shared words: ihd/state/prepay.py).
from ihd.state.prepay import ACCEPTED as R_ACCEPTED  # noqa: F401 - re-exported
from ihd.state.prepay import BAD_ANSWER as R_BAD_ANSWER
from ihd.state.prepay import BAD_CHECK as R_BAD_CHECK
from ihd.state.prepay import LOCKED as R_LOCKED
from ihd.state.prepay import NO_ANSWER as R_NO_ANSWER

ST_ENTER = const(0)
ST_FUEL = const(1)
ST_SENDING = const(2)
ST_RESULT = const(3)
ST_LOCKED = const(4)
ST_PENDING = const(5)

# Requests returned to the screen (first item of the tuple).
REQ_TOP_UP = const(1)  # (REQ_TOP_UP, meter, digits): await actions.top_up(meter, digits)
REQ_RETRY = const(2)  # (REQ_RETRY, meter): await actions.retry(meter)
REQ_BAD_CHECK = const(3)  # (REQ_BAD_CHECK, meter, digits): tell the service (rate limit only;
#                           it refuses the code locally, nothing is sent)
REQ_LEAVE = const(4)  # (REQ_LEAVE,): back to the Prepayment screen

MSG_SHORT = "Codes have 20 digits"
MSG_MISTYPED = "Code mistyped: check digits"

_LEAVE = (REQ_LEAVE,)


class Entry:
    def __init__(self):
        self.meters = []  # prepayment meter names, e.g. ["elec", "gas"]
        self.reset()

    def reset(self):
        self.state = ST_ENTER
        self.digits = ""
        self.cand = -1  # candidate digit at the cursor (button style), -1 = keypad style
        self.fuel_sel = 0
        self.meter = None  # meter chosen / used for the request
        self.error = None  # message shown under the code while entering (nothing sent)
        self.result = None  # service Result (RESULT state)
        self.lock_until_ms = None  # ticks_ms() when a lockout ends, None: no lockout
        self.pending_code = None

    # -- opening --
    def open(self, meters, lock_s=0, now_ms=None, pending=None):
        # meters: prepayment meter names; pending: (meter, digits) sent without an answer.
        # An entry in flight (SENDING) or showing a result is kept as it is.
        self.meters = list(meters)
        if self.state == ST_SENDING:
            return
        self.reset()
        if lock_s > 0:
            self.lock(lock_s, now_ms)
        elif pending is not None:
            self.state = ST_PENDING
            self.meter, self.pending_code = pending

    def lock(self, lock_s, now_ms=None):
        # now_ms: time.ticks_ms() now (tests pass their own)
        if now_ms is None:
            now_ms = time.ticks_ms()
        self.state = ST_LOCKED
        self.lock_until_ms = time.ticks_add(now_ms, lock_s * 1000)

    def lock_left_s(self, now_ms):
        # Seconds left (rounded up); leaves LOCKED when the time is over.
        if self.state != ST_LOCKED:
            return 0
        until = self.lock_until_ms
        left_ms = 0 if until is None else time.ticks_diff(until, now_ms)  # wraps at 2^30 ms
        if left_ms <= 0:
            self.reset()
            return 0
        return (left_ms + 999) // 1000

    # -- display --
    def text(self):
        # Typed digits grouped as on receipts ("7395 0067 88").
        return U.group(self.digits)

    # -- keypad style --
    def digit(self, d):
        if self.state in (ST_RESULT, ST_PENDING):
            self.reset()  # a new code
        if self.state != ST_ENTER:
            return None
        self.error = None
        self.cand = -1
        if len(self.digits) < U.UTRN_LEN:
            self.digits += chr(48 + d)
        return None

    def delete(self):
        # BACK / '*': remove the last digit; on an empty code leave the screen.
        st = self.state
        if st == ST_ENTER:
            self.error = None
            if self.digits:
                self.digits = self.digits[:-1]
                return None
            if self.cand >= 0:
                self.cand = -1
                return None
            return _LEAVE
        if st == ST_FUEL:
            self.state = ST_ENTER
            return None
        if st == ST_SENDING:
            return _LEAVE  # the request goes on; the result waits here
        if st == ST_RESULT and self._kept():
            return _LEAVE  # the code stays pending in the service
        if st == ST_RESULT and self.result is not None and not self.result.ok():
            self._edit_again()
            return None
        return _LEAVE

    def cancel(self):
        # Long BACK: forget the typed code and leave (a request in flight goes on).
        if self.state != ST_SENDING:
            self.reset()
        return _LEAVE

    # -- four-button style --
    def up(self):
        return self._step(1)

    def down(self):
        return self._step(9)

    def _step(self, k):
        st = self.state
        if st == ST_FUEL:
            n = len(self.meters)
            self.fuel_sel = (self.fuel_sel + (1 if k == 1 else n - 1)) % n
            return None
        if st != ST_ENTER or len(self.digits) >= U.UTRN_LEN:
            return None
        self.error = None
        self.cand = (max(self.cand, 0) + k) % 10 if self.cand >= 0 else (1 if k == 1 else 9)
        return None

    def select(self):
        # OK: commit the candidate digit, else submit / confirm / retry / close.
        st = self.state
        if st == ST_ENTER and self.cand >= 0 and len(self.digits) < U.UTRN_LEN:
            self.digits += chr(48 + self.cand)
            self.cand = 0 if len(self.digits) < U.UTRN_LEN else -1
            return None
        return self.submit()

    def submit(self):
        st = self.state
        if st == ST_ENTER:
            return self._check()
        if st == ST_FUEL:
            self.meter = self.meters[self.fuel_sel]
            return self._send()
        if st == ST_PENDING or (st == ST_RESULT and self._kept()):
            # Only here, because the user asked, is a code sent again.
            self.state = ST_SENDING
            return (REQ_RETRY, self.meter)
        if st == ST_RESULT:
            if self.result is not None and not self.result.ok():
                self._edit_again()
                return None
            return _LEAVE
        return None

    def choose(self, i):
        # Keypad 1/2 in the fuel choice.
        if self.state == ST_FUEL and 0 <= i < len(self.meters):
            self.fuel_sel = i
            return self.submit()
        return None

    # -- the request's outcome --
    def finish(self, result, now_ms=None):
        # result: the service's Result (code, text(), ok(), credit_mp, amount_mp, lock_s, ...).
        self.result = result
        self.cand = -1
        if result.code == R_LOCKED:
            self.lock(result.lock_s, now_ms)
            return
        if result.code == R_BAD_CHECK:
            # Told the service after the local check failed: stay in entry unless that locked.
            self.result = None
            if result.lock_s:
                self.lock(result.lock_s, now_ms)
            return
        self.state = ST_RESULT
        if result.lock_s and not result.ok():
            # This rejection started a lockout: shown first, the lock follows on dismissal.
            now_ms = time.ticks_ms() if now_ms is None else now_ms
            self.lock_until_ms = time.ticks_add(now_ms, result.lock_s * 1000)

    def _kept(self):
        r = self.result
        return r is not None and r.code in (R_NO_ANSWER, R_BAD_ANSWER)

    def _edit_again(self):
        # After a rejection: back to the typed code so a typo can be fixed (or to the lockout).
        locked = self.lock_until_ms is not None
        self.state = ST_ENTER
        self.result = None
        if locked:
            self.state = ST_LOCKED

    def _check(self):
        d = self.digits
        if len(d) != U.UTRN_LEN:
            self.error = MSG_SHORT
            return None
        if U.validate(d) != U.OK:
            # Mistyped: caught here, nothing is sent; the service only counts it.
            self.error = MSG_MISTYPED
            return (REQ_BAD_CHECK, self.meters[0] if self.meters else "elec", d)
        self.error = None
        if len(self.meters) > 1:
            self.state = ST_FUEL
            self.fuel_sel = 0
            return None
        self.meter = self.meters[0] if self.meters else "elec"
        return self._send()

    def _send(self):
        self.state = ST_SENDING
        return (REQ_TOP_UP, self.meter, self.digits)
