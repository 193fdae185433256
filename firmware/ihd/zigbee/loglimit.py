# Log rate limit for per-frame rejects on the receive path. SPDX-License-Identifier: MIT
# A storm of bad frames must not flood the log, and only the first of a kind may allocate (a
# log line is formatted on the heap): every reject is still counted by the caller. Checking
# costs a ticks_ms() and allocates nothing.
import time

from micropython import const

_EVERY_MS = const(5000)


class LogLimit:
    # ok(kind) -> True for the first event of a kind (0 .. kinds-1), then at most once per
    # period_ms; suppressed counts the rest.
    def __init__(self, kinds, period_ms=_EVERY_MS):
        self.period_ms = period_ms
        self.suppressed = 0
        self._t = [0] * kinds  # type: list
        self._seen = bytearray(kinds)

    def ok(self, kind):
        now = time.ticks_ms()
        if self._seen[kind] and time.ticks_diff(now, self._t[kind]) < self.period_ms:
            self.suppressed += 1
            return False
        self._seen[kind] = 1
        self._t[kind] = now
        return True
