# Input abstraction: buttons (prev/next/select/back) and a 12-key keypad (0-9, *, #) produce
# small-int events into a bounded queue that wakes the display loop. Long presses (held for
# LONG_MS) produce their own event once, e.g. long select -> Status screen.
# An input source (board contract, docs/boards.md) is any object with `async run(queue)`:
# the board builds Buttons/Keypad from its pins, the app owns the one queue and runs them.
# MIT license
import asyncio
import time

from micropython import const

EV_NONE = const(-1)
EV_PREV = const(1)
EV_NEXT = const(2)
EV_SELECT = const(3)
EV_BACK = const(4)
EV_LONG_SELECT = const(5)  # -> Status screen
EV_LONG_BACK = const(6)  # -> Home
EV_QUIT = const(7)  # orderly stop of the app (unix terminal: q); sets InputQueue.quit
EV_KEY0 = const(16)  # EV_KEY0 + digit
EV_STAR = const(26)
EV_HASH = const(27)

LONG_MS = const(1500)
_POLL_MS = const(10)
_DEBOUNCE_MS = const(30)
_QLEN = const(16)

KEYPAD_MAP = "123456789*0#"  # row-major 4x3


def key_event(ch):
    if "0" <= ch <= "9":
        return EV_KEY0 + ord(ch) - 48
    if ch == "*":
        return EV_STAR
    if ch == "#":
        return EV_HASH
    return EV_NONE


class InputQueue:
    # Bounded ring of event codes; post() never allocates (oldest event dropped when full).
    wake: "asyncio.Event | None"  # the display loop's Event, set on post

    def __init__(self):
        self._q = bytearray(_QLEN)
        self._head = 0
        self._n = 0
        self.dropped = 0
        self.wake = None
        self.quit = asyncio.Event()  # set by EV_QUIT; the app stops when it is set

    def post(self, ev):
        if ev == EV_QUIT:
            self.quit.set()
            return
        if self._n == _QLEN:
            self._head = (self._head + 1) % _QLEN
            self._n -= 1
            self.dropped += 1
        self._q[(self._head + self._n) % _QLEN] = ev
        self._n += 1
        if self.wake is not None:
            self.wake.set()

    def get(self):
        if not self._n:
            return EV_NONE
        ev = self._q[self._head]
        self._head = (self._head + 1) % _QLEN
        self._n -= 1
        return ev

    def __len__(self):
        return self._n


class Buttons:
    # pins: (prev, next, select, back) machine.Pin inputs, active low (pull-ups). Short press
    # of prev/next fires on press, select/back on release (so a long press does not also fire
    # the short event).
    _SHORT = (EV_PREV, EV_NEXT, EV_SELECT, EV_BACK)
    _LONG = (EV_NONE, EV_NONE, EV_LONG_SELECT, EV_LONG_BACK)
    q: "InputQueue | None"  # given here or to run()

    def __init__(self, pins, queue=None, active_low=True):
        self.pins = pins
        self.q = queue
        self.active_low = active_low
        n = len(pins)
        self._state = bytearray(n)  # debounced: 1 = pressed
        self._since = [0] * n  # ticks of the last raw change
        self._raw = bytearray(n)
        self._down = [0] * n  # ticks when pressed
        self._long = bytearray(n)  # long event already sent

    def poll(self, now_ms):
        q = self.q
        if q is None:  # no queue yet (run() not started)
            return
        for i in range(len(self.pins)):
            v = self.pins[i].value()
            raw = (v == 0) if self.active_low else (v == 1)
            if raw != self._raw[i]:
                self._raw[i] = raw
                self._since[i] = now_ms
                continue
            if raw != self._state[i] and time.ticks_diff(now_ms, self._since[i]) >= _DEBOUNCE_MS:
                self._state[i] = raw
                if raw:
                    self._down[i] = now_ms
                    self._long[i] = 0
                    if i < 2:
                        q.post(self._SHORT[i])
                elif i >= 2 and not self._long[i]:
                    q.post(self._SHORT[i])
            held_ms = time.ticks_diff(now_ms, self._down[i])
            if self._state[i] and i >= 2 and not self._long[i] and held_ms >= LONG_MS:
                self._long[i] = 1
                q.post(self._LONG[i])

    async def run(self, queue=None):
        if queue is not None:
            self.q = queue
        while True:
            self.poll(time.ticks_ms())
            await asyncio.sleep_ms(_POLL_MS)


class Keypad:
    # 4x3 matrix: rows are outputs (driven low one at a time), cols inputs with pull-ups.
    # A '#' held for LONG_MS gives EV_LONG_SELECT (the keypad-only way to reach Status).
    q: "InputQueue | None"  # given here or to run()

    def __init__(self, rows, cols, queue=None):
        self.rows = rows
        self.cols = cols
        self.q = queue
        self._down = -1  # index of the key held, -1 none
        self._down_ms = 0
        self._long = False
        for r in rows:
            r.value(1)

    def scan(self):
        for ri in range(len(self.rows)):
            row = self.rows[ri]
            row.value(0)
            for ci in range(len(self.cols)):
                if self.cols[ci].value() == 0:
                    row.value(1)
                    return ri * len(self.cols) + ci
            row.value(1)
        return -1

    def poll(self, now_ms):
        q = self.q
        if q is None:  # no queue yet (run() not started)
            return
        k = self.scan()
        if k != self._down:
            if k >= 0:
                q.post(key_event(KEYPAD_MAP[k]))
                self._down_ms = now_ms
                self._long = False
            self._down = k
        elif k == 11 and not self._long and time.ticks_diff(now_ms, self._down_ms) >= LONG_MS:
            self._long = True
            q.post(EV_LONG_SELECT)

    async def run(self, queue=None):
        if queue is not None:
            self.q = queue
        while True:
            self.poll(time.ticks_ms())
            await asyncio.sleep_ms(_DEBOUNCE_MS)
