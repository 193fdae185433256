# Wall clock in UTC seconds since 2000-01-01 (the Zigbee epoch), synced from the Time cluster,
# plus monotonic ticks. The offset is kept against ticks so a wall-clock jump on the host does
# not move device time; set_utc() logs and counts jumps.
#
# offer(utc, meter_utc) is how a new hub time gets in: judged by runtime/timejudge.py (invalid
# markers, implausible years, jumps beyond threshold_s() taken only once confirmed by the
# meter's own clock or by repeated reads), logged and counted (counters "clock.*").
# Deadlines are monotonic ticks, never the wall clock: deadline(s), due(dl), left_ms(dl) and
# wait(event, dl) are what every loop sleeps with, so a time step never puts one to sleep.
import time

from micropython import const

from ihd.runtime import log
from ihd.runtime import timejudge as J
from ihd.runtime.counters import Counters

UNIX_OFFSET_S = const(946684800)  # 2000-01-01T00:00:00Z in Unix seconds
INVALID = const(0xFFFFFFFF)
_JUMP_LOG_S = const(120)
_JUMP_S = const(300)  # a difference beyond this (+ the jitter below) is a jump, to be confirmed
_JITTER_MS = const(2000)  # real ms of read latency and scheduling (x the fast-forward scale)
_MAX_WAIT_MS = const(1 << 28)  # ticks_add/ticks_diff hold half the 2^30 ticks period

_base_utc = 0  # UTC at _base_ticks
_base_ticks = 0
_synced = False
_source = None  # test/simulation hook: fn() -> utc seconds
_scale = 1  # simulated seconds per real second (unix board fast-forward against hansim)
_offset = 0  # sum of every correction set_utc() made to a synced clock (device seconds)
jumps = 0
c = Counters("clock", ("syncs", "invalid", "implausible", "suspect", "refused", "steps"))
_judge = J.TimeJudge()


def ticks_ms():
    return time.ticks_ms()


def set_source(fn):
    # Tests and the unix simulation may drive time directly; None restores the tick clock.
    global _source, _synced
    _source = fn
    _synced = fn is not None


def now():
    # Current UTC (Zigbee epoch); 0 until the first sync.
    if _source is not None:
        return int(_source())
    if not _synced:
        return 0
    return _base_utc + time.ticks_diff(time.ticks_ms(), _base_ticks) * _scale // 1000


def set_scale(k):
    # Fast-forward for simulation: application timers (poll periods, schedules) run k times
    # faster; link-level timers (ASH, EZSP) stay real-time. 1 on real hardware.
    global _scale, _base_utc, _base_ticks
    if _synced and _source is None:
        _base_utc, _base_ticks = now(), time.ticks_ms()
    _scale = max(1, int(k))


def scale():
    return _scale


async def sleep_s(s):
    # Sleep for s seconds of device (possibly simulated) time.
    import asyncio

    await asyncio.sleep_ms(max(1, int(s * 1000) // _scale))


def synced():
    return _synced


def set_utc(utc):
    # Sets the clock, unjudged (tests, benches; the hub's time goes through offer()). Rejects
    # the invalid markers 0, 0xFFFFFFFE and 0xFFFFFFFF.
    global jumps
    if J.invalid(utc):
        log.warn("clock", "ignoring invalid time %r", utc)
        return False
    if _synced and _source is None:
        drift = utc - now()
        if drift > _JUMP_LOG_S * _scale or drift < -_JUMP_LOG_S * _scale:
            jumps += 1
            log.warn("clock", "time jump %d s", drift)
    _apply(utc)
    return True


def _apply(utc):
    global _base_utc, _base_ticks, _synced, _offset
    if _synced and _source is None:
        _offset += utc - now()
    _base_utc = utc
    _base_ticks = time.ticks_ms()
    _synced = True


def threshold_s():
    # Device seconds our clock and an offered time may differ by before it counts as a jump.
    return _JUMP_S + _JITTER_MS * _scale // 1000


def disputed(utc):
    # True when offer(utc) would need confirmation: a valid, plausible time too far from ours
    # (the caller then reads the meter's own clock for offer's meter_utc).
    if not _synced or not J.usable(utc):
        return False
    d = utc - now()
    th = threshold_s()
    return d > th or d < -th


def offer(utc, meter_utc=None):
    # A new time from the hub (the Time cluster's Time attribute), judged before it is taken
    # (timejudge.py); meter_utc: the meter's own Time, when the caller read it. -> verdict
    # (timejudge.FIRST / ACCEPT / STEP set the clock; the others leave it alone).
    global jumps
    ours = now() if _synced else None
    v = _judge.judge(utc, ours, threshold_s(), meter_utc)
    if v == J.FIRST or v == J.ACCEPT:
        _apply(utc)
        c.inc("syncs")
    elif v == J.STEP:
        assert ours is not None
        how = "the meter's time agrees" if J.usable(meter_utc) else "confirmed by repeated reads"
        log.warn("clock", "clock stepped by %d s to %s (%s)", utc - ours, iso(utc), how)
        _apply(utc)
        c.inc("steps")
    elif v == J.INVALID:
        c.inc("invalid")
        log.warn("clock", "hub time %r (0x%08x) is invalid: ignored", utc, _u32(utc))
    elif v == J.IMPLAUSIBLE:
        c.inc("implausible")
        log.warn("clock", "hub time %s (0x%08x) is implausible for this firmware: ignored",
                 iso(utc), utc)  # fmt: skip
    elif v == J.REFUSED:
        assert ours is not None
        c.inc("refused")
        log.warn("clock", "hub time %s is %d s from ours and the meter's time agrees with ours:"
                 " refused", iso(utc), utc - ours)  # fmt: skip
    else:  # SUSPECT
        assert ours is not None
        jumps += 1
        c.inc("suspect")
        p = _judge.pending()
        log.warn("clock", "hub time %s jumps %d s from ours: not taken until confirmed (%d/%d)",
                 iso(utc), utc - ours, p[1] if p else 0, _judge.confirm_reads)  # fmt: skip
    return v


def _u32(v):
    return v & 0xFFFFFFFF if isinstance(v, int) else 0


def offset():
    # Sum of the corrections made to the synced clock so far (device seconds): a reading's
    # time plus (offset() now - offset() then) is that moment on today's clock.
    return _offset


def reset():
    global _base_utc, _base_ticks, _synced, _source, jumps, _scale, _offset
    _base_utc = _base_ticks = jumps = _offset = 0
    _synced = False
    _source = None
    _scale = 1
    _judge.reset()
    c.reset()


# ---- deadlines: monotonic ticks, never the wall clock ----


def deadline(s):
    # The ticks_ms at which s device seconds (fast-forwarded by scale()) will have passed.
    ms = int(s * 1000) // _scale
    if ms > _MAX_WAIT_MS:
        ms = _MAX_WAIT_MS
    elif ms < 0:
        ms = 0
    return time.ticks_add(time.ticks_ms(), ms)


def left_ms(dl):
    # Real ms until deadline dl; <= 0 once it has passed.
    return time.ticks_diff(dl, time.ticks_ms())


def due(dl):
    return time.ticks_diff(dl, time.ticks_ms()) <= 0


def sooner(a, b):
    # The earlier of two deadlines.
    return a if time.ticks_diff(a, b) <= 0 else b


async def wait(event, dl, min_s=1):
    # Sleep until `event` is set or deadline dl, and at least min_s device seconds (no busy
    # loop on a deadline already due). The event is left as it is.
    import asyncio

    ms = left_ms(dl)
    floor = min_s * 1000 // _scale
    if ms < floor:
        ms = floor
    if ms < 1:
        ms = 1
    try:
        await asyncio.wait_for(event.wait(), ms / 1000)
    except asyncio.TimeoutError:
        pass


def to_unix(utc):
    return utc + UNIX_OFFSET_S


def iso(utc):
    # "2026-11-21T10:30:00Z" for logs and exports.
    y, mo, d, h, mi, s = civil(utc)
    return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (y, mo, d, h, mi, s)


def civil_from_days(day):
    # Days since 2000-01-01 -> (year, month 1..12, day 1..31): H. Hinnant's algorithm shifted to
    # the Zigbee epoch (2000-01-01 is day 10957 since 1970). The one implementation in the tree:
    # no time module, so both interpreters agree (MicroPython's gmtime epoch varies by port).
    z = day + 10957 + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    y = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return (y + 1 if m <= 2 else y), m, d


def days_from_civil(y, m, d):
    # Inverse of civil_from_days().
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    mp = m - 3 if m > 2 else m + 9
    doy = (153 * mp + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468 - 10957


def civil(utc):
    # UTC seconds (2000 epoch) -> (year, month, day, hour, minute, second)
    days, rem = divmod(utc, 86400)
    h, rem = divmod(rem, 3600)
    mi, s = divmod(rem, 60)
    y, mo, d = civil_from_days(days)
    return y, mo, d, h, mi, s


def from_civil(y, mo, d, h=0, mi=0, s=0):
    # Inverse of civil().
    return days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s


def ticks_diff_ms(since_ms):
    return time.ticks_diff(time.ticks_ms(), since_ms)
