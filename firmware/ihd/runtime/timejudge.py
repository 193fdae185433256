# Judge of a new UTC time (Zigbee epoch: seconds since 2000-01-01) offered by the Comms Hub's
# Time cluster, against the device's own clock (the last trusted time carried on by monotonic
# ticks). Pure: no I/O, no clock of its own; runtime/clock.py holds one and applies the verdict.
#
# - 0, 0xFFFFFFFF (the ZCL "invalid" UTCTime) and 0xFFFFFFFE (year 2136, a hub's "not set")
#   are INVALID; anything before this firmware existed or more than 20 years after its build
#   is IMPLAUSIBLE. Both are refused, always.
# - Never synced: the first valid, plausible time is taken (FIRST).
# - Within `threshold` seconds of our clock: ACCEPT (an ordinary correction).
# - Further off, a jump: taken only when confirmed. The meter's own clock (its Time cluster,
#   read by the caller when a jump is seen) decides at once: agreeing with the new time, STEP;
#   agreeing with ours, REFUSED. Without a meter's opinion, `confirm_reads` reads in a row that
#   agree with each other (within the threshold) over at least `confirm_s` of our clock
#   confirm it (STEP); until then each is SUSPECT (refused for now).
from micropython import const

FIRST = const(0)
ACCEPT = const(1)
STEP = const(2)
SUSPECT = const(3)
REFUSED = const(4)
INVALID = const(5)
IMPLAUSIBLE = const(6)
TAKEN = (FIRST, ACCEPT, STEP)  # the verdicts that set the clock

BUILD_DAY = const(9497)  # 2026-01-01, this firmware's build (days since 2000-01-01)
EARLIEST_DAY = const(8766)  # 2024-01-01: no earlier time is real for this firmware
LATEST_DAY = const(16802)  # 2046-01-01: 20 years after the build (a meter's life and more)
_INVALID_LO = const(0xFFFFFFFE)


def invalid(utc):
    # The markers: 0, 0xFFFFFFFE, 0xFFFFFFFF (and anything that is no uint32).
    return not isinstance(utc, int) or utc <= 0 or utc >= _INVALID_LO


def plausible(utc):
    return EARLIEST_DAY <= utc // 86400 < LATEST_DAY


def usable(utc):
    return utc is not None and not invalid(utc) and plausible(utc)


class TimeJudge:
    def __init__(self, confirm_reads=3, confirm_s=600):
        self.confirm_reads = confirm_reads
        self.confirm_s = confirm_s
        self.reset()

    def reset(self):
        self.cand = None  # offset (offered - ours) of a suspected jump
        self.since = 0  # our clock when it was first seen
        self.n = 0  # reads agreeing with it

    def judge(self, utc, ours, threshold, meter_utc=None):
        # utc: the offered time; ours: our clock now (None: never synced); meter_utc: the
        # meter's own time read just now (None: not read / unreadable). -> verdict.
        if invalid(utc):
            return INVALID
        if not plausible(utc):
            return IMPLAUSIBLE
        if ours is None:
            self.reset()
            return FIRST
        d = utc - ours
        if -threshold <= d <= threshold:
            self.reset()
            return ACCEPT
        if usable(meter_utc):
            md = meter_utc - ours
            if -threshold <= md - d <= threshold:
                self.reset()
                return STEP  # the meter's clock went the same way
            if -threshold <= md <= threshold:
                self.reset()
                return REFUSED  # the meter's clock agrees with ours: the hub is wrong
        c = self.cand
        if c is not None and -threshold <= d - c <= threshold:
            self.n += 1
            if self.n >= self.confirm_reads and ours - self.since >= self.confirm_s:
                self.reset()
                return STEP
            return SUSPECT
        self.cand = d
        self.since = ours
        self.n = 1
        return SUSPECT

    def pending(self):
        # -> (offset, reads so far) of a suspected jump, or None
        return None if self.cand is None else (self.cand, self.n)
