# Bucket math for the consumption history: half-hour, day, week (starting Monday) and month.
# Everything here is UTC: time is seconds since 2000-01-01T00:00Z (ZCL UTCTime), a "day" is a UTC
# day (day number = t // 86400, day 0 = Saturday 2000-01-01), a week starts on a UTC Monday and a
# month is a UTC calendar month. UK local time (BST) is deliberately not applied here; a UI that
# wants local-time buckets shifts the query window itself. Pure integer math, no allocation
# beyond the returned ints/tuples; runs on MicroPython and CPython.
from micropython import const

from ihd.runtime.clock import civil_from_days, days_from_civil  # noqa: F401 - re-exported

HALF_HOUR_S = const(1800)
DAY_S = const(86400)
WEEK_S = const(604800)
SLOTS_PER_DAY = const(48)

RES_HALF_HOUR = const(0)
RES_DAY = const(1)
RES_WEEK = const(2)
RES_MONTH = const(3)
RES_NAMES = ("half_hour", "day", "week", "month")

_MONDAY_OFFSET = const(5)  # (day + 5) % 7 == 0 on Mondays (day 2 = Mon 2000-01-03)


def half_hour_start(t_s):
    return t_s - t_s % HALF_HOUR_S


def day_of(t_s):
    return t_s // DAY_S


def day_start(t_s):
    return t_s - t_s % DAY_S


def slot_of(t_s):
    # Half-hour slot within its UTC day, 0..47.
    return (t_s % DAY_S) // HALF_HOUR_S


def week_start_day(day):
    # Day number of the Monday starting the week that contains `day`.
    return day - (day + _MONDAY_OFFSET) % 7


def week_start(t_s):
    return week_start_day(day_of(t_s)) * DAY_S


def month_index_of_day(day):
    # Months since 2000-01 (0 = January 2000).
    y, m, _ = civil_from_days(day)
    return (y - 2000) * 12 + m - 1


def month_first_day(mi):
    return days_from_civil(2000 + mi // 12, mi % 12 + 1, 1)


def month_days(mi):
    return month_first_day(mi + 1) - month_first_day(mi)


def month_start(t_s):
    return month_first_day(month_index_of_day(day_of(t_s))) * DAY_S


def bucket_start(res, t_s):
    if res == RES_HALF_HOUR:
        return half_hour_start(t_s)
    if res == RES_DAY:
        return day_start(t_s)
    if res == RES_WEEK:
        return week_start(t_s)
    return month_start(t_s)


def bucket_end(res, start_s):
    # End (exclusive) of the bucket that starts at start_s.
    if res == RES_HALF_HOUR:
        return start_s + HALF_HOUR_S
    if res == RES_DAY:
        return start_s + DAY_S
    if res == RES_WEEK:
        return start_s + WEEK_S
    return month_first_day(month_index_of_day(start_s // DAY_S) + 1) * DAY_S


def prev_bucket_start(res, start_s):
    if res == RES_HALF_HOUR:
        return start_s - HALF_HOUR_S
    if res == RES_DAY:
        return start_s - DAY_S
    if res == RES_WEEK:
        return start_s - WEEK_S
    return month_first_day(month_index_of_day(start_s // DAY_S) - 1) * DAY_S


def bucket_starts(res, now_s, count):
    # The `count` most recent bucket starts (the one containing now_s last), oldest first.
    out = [0] * count
    s = bucket_start(res, now_s)
    i = count - 1
    while i >= 0:
        out[i] = s
        s = prev_bucket_start(res, s)
        i -= 1
    return out
