# Pure formatting and UK civil-time helpers for the screens (imports under CPython too).
# Money is in 1e-5 GBP ("mp"), energy in Wh, time in UTC seconds since 2000-01-01.
# MIT license
from micropython import const

from ihd.runtime.clock import civil_from_days, days_from_civil

_DAY_S = const(86400)
_MONTHS = "JanFebMarAprMayJunJulAugSepOctNovDec"
_DAYS = "MonTueWedThuFriSatSun"


def money(mp):
    # 123456 mp -> "£1.23" (rounded half away from zero to the penny).
    neg = mp < 0
    p = ((-mp if neg else mp) + 500) // 1000
    return "%s£%d.%02d" % ("-" if neg else "", p // 100, p % 100)


def pence(mp):
    # Unit rates: 24567 mp/kWh -> "24.57p".
    neg = mp < 0
    v = ((-mp if neg else mp) + 5) // 10
    return "%s%d.%02dp" % ("-" if neg else "", v // 100, v % 100)


def kwh_num(wh):
    # Energy number only, precision that fits: 0.42, 4.25, 42.5, 425
    if wh < 0:
        return "-" + kwh_num(-wh)
    if wh < 9995:
        v = (wh + 5) // 10
        return "%d.%02d" % (v // 100, v % 100)
    if wh < 99950:
        v = (wh + 50) // 100
        return "%d.%d" % (v // 10, v % 10)
    return "%d" % ((wh + 500) // 1000)


def kwh(wh):
    return kwh_num(wh) + " kWh"


def power(w):
    # Live demand: "456 W" below 1 kW, "1.23 kW" above.
    if w is None:
        return "--"
    if -1000 < w < 1000:
        return "%d W" % w
    neg = w < 0
    v = ((-w if neg else w) + 5) // 10
    return "%s%d.%02d kW" % ("-" if neg else "", v // 100, v % 100)


# Calendar arithmetic lives in runtime.clock; civil(days) is its civil_from_days.
civil = civil_from_days


def weekday(days):
    # 0 = Monday; 2000-01-01 was a Saturday.
    return (days + 5) % 7


def _last_sunday(y, m):
    # Days (2000 epoch) of the last Sunday of month m (March or October: 31 days).
    d = days_from_civil(y, m, 31)
    return d - (weekday(d) + 1) % 7


# The BST window of the year last asked about: [year start, next year start, BST start, BST
# end] in UTC, so uk_offset_s (and local, hhmm, ...) allocate nothing within that year (civil()
# makes a tuple).
_bst = [0, 0, 0, 0]


def uk_offset_s(utc):
    # GMT/BST: BST from 01:00 UTC on the last Sunday of March to 01:00 UTC on the last Sunday
    # of October.
    b = _bst
    if not b[0] <= utc < b[1]:
        y = civil(utc // _DAY_S)[0]
        b[0] = days_from_civil(y, 1, 1) * _DAY_S
        b[1] = days_from_civil(y + 1, 1, 1) * _DAY_S
        b[2] = _last_sunday(y, 3) * _DAY_S + 3600
        b[3] = _last_sunday(y, 10) * _DAY_S + 3600
    return 3600 if b[2] <= utc < b[3] else 0


def local(utc):
    return utc + uk_offset_s(utc)


def local_midnight_utc(utc):
    # UTC of the start of the local day containing utc.
    lt = local(utc)
    m = lt - lt % _DAY_S
    return m - uk_offset_s(m - 3600)


def hhmm(utc):
    t = local(utc) % _DAY_S
    return "%02d:%02d" % (t // 3600, t % 3600 // 60)


def month_name(m):
    return _MONTHS[3 * m - 3 : 3 * m]


def day_name(wd):
    return _DAYS[3 * wd : 3 * wd + 3]


def date_short(utc):
    # "Thu 15 Jan"
    days = local(utc) // _DAY_S
    _, m, d = civil(days)
    return "%s %d %s" % (day_name(weekday(days)), d, month_name(m))


def age(now_utc, t_utc):
    # Age of a reading: "now", "5 min ago", "2 h ago", "3 d ago"; None -> "no data".
    if t_utc is None:
        return "no data"
    s = now_utc - t_utc
    if s < 60:
        return "just now"
    if s < 3600:
        return "%d min ago" % (s // 60)
    if s < _DAY_S:
        return "%d h ago" % (s // 3600)
    return "%d d ago" % (s // _DAY_S)


def date_long(utc):
    # "15 Jan 2026"
    y, m, d = civil(local(utc) // _DAY_S)
    return "%d %s %d" % (d, month_name(m), y)


def day_hhmm(utc):
    # "15 Jan 11:00"
    _, m, d = civil(local(utc) // _DAY_S)
    return "%d %s %s" % (d, month_name(m), hhmm(utc))


def hex_eui64(b):
    # Wire (little-endian) bytes -> display order, most significant byte first, as Zigbee
    # tools print it: 00:0D:6F:00:0B:12:34:56.
    if not b:
        return "-"
    return ":".join("%02X" % b[i] for i in range(len(b) - 1, -1, -1))
