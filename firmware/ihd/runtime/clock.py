# Wall clock in UTC seconds since 2000-01-01 (the Zigbee epoch), synced from the Time cluster,
# plus monotonic ticks. The offset is kept against ticks so a wall-clock jump on the host does
# not move device time; set_utc() logs and counts jumps.
import time

from micropython import const

from ihd.runtime import log

UNIX_OFFSET_S = const(946684800)  # 2000-01-01T00:00:00Z in Unix seconds
INVALID = const(0xFFFFFFFF)
_JUMP_LOG_S = const(120)

_base_utc = 0  # UTC at _base_ticks
_base_ticks = 0
_synced = False
_source = None  # test/simulation hook: fn() -> utc seconds
_scale = 1  # simulated seconds per real second (unix board fast-forward against hansim)
jumps = 0


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
    # Called with the Time cluster's Time attribute. Rejects the invalid marker.
    global _base_utc, _base_ticks, _synced, jumps
    if utc == INVALID or utc <= 0:
        log.warn("clock", "ignoring invalid time %r", utc)
        return False
    if _synced and _source is None:
        drift = utc - now()
        if drift > _JUMP_LOG_S * _scale or drift < -_JUMP_LOG_S * _scale:
            jumps += 1
            log.warn("clock", "time jump %d s", drift)
    _base_utc = utc
    _base_ticks = time.ticks_ms()
    _synced = True
    return True


def reset():
    global _base_utc, _base_ticks, _synced, _source, jumps, _scale
    _base_utc = _base_ticks = jumps = 0
    _synced = False
    _source = None
    _scale = 1


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
