# Formatting and UK civil time for the screens (both interpreters).
from ihd.ui import fmt

PORTABLE = True


def test_money():
    assert fmt.money(0) == "£0.00"
    assert fmt.money(123456) == "£1.23"
    assert fmt.money(123500) == "£1.24"  # half up
    assert fmt.money(-250000) == "-£2.50"
    assert fmt.money(1234500000) == "£12345.00"


def test_pence_and_energy():
    assert fmt.pence(24500) == "24.50p"
    assert fmt.pence(6040) == "6.04p"
    assert fmt.kwh(0) == "0.00 kWh"
    assert fmt.kwh(4254) == "4.25 kWh"
    assert fmt.kwh(26080) == "26.1 kWh"
    assert fmt.kwh(1311400) == "1311 kWh"
    assert fmt.power(456) == "456 W"
    assert fmt.power(1234) == "1.23 kW"
    assert fmt.power(-1500) == "-1.50 kW"  # export
    assert fmt.power(None) == "--"


def test_civil_roundtrip():
    for days in (0, 59, 60, 365, 366, 9500, 10000, 20000):
        y, m, d = fmt.civil(days)
        assert fmt.days_from_civil(y, m, d) == days
    assert fmt.civil(0) == (2000, 1, 1)
    assert fmt.weekday(0) == 5  # Saturday
    assert fmt.civil(fmt.days_from_civil(2024, 2, 29)) == (2024, 2, 29)


def test_bst_boundaries():
    # 2026: BST from 29 Mar 01:00 UTC to 25 Oct 01:00 UTC.
    start = fmt.days_from_civil(2026, 3, 29) * 86400 + 3600
    end = fmt.days_from_civil(2026, 10, 25) * 86400 + 3600
    assert fmt.uk_offset_s(start - 1) == 0
    assert fmt.uk_offset_s(start) == 3600
    assert fmt.uk_offset_s(end - 1) == 3600
    assert fmt.uk_offset_s(end) == 0
    assert fmt.hhmm(start) == "02:00"
    summer = fmt.days_from_civil(2026, 7, 1) * 86400 + 12 * 3600
    assert fmt.hhmm(summer) == "13:00"
    # Local midnight in summer is 23:00 UTC the day before.
    assert fmt.local_midnight_utc(summer) == fmt.days_from_civil(2026, 6, 30) * 86400 + 23 * 3600


def test_age_and_dates():
    t = fmt.days_from_civil(2026, 1, 15) * 86400 + 18 * 3600 + 42 * 60
    assert fmt.date_short(t) == "Thu 15 Jan"
    assert fmt.age(t, t - 10) == "just now"
    assert fmt.age(t, t - 600) == "10 min ago"
    assert fmt.age(t, t - 7200) == "2 h ago"
    assert fmt.age(t, None) == "no data"
    # EUI64s travel little-endian; shown most significant byte first, as Zigbee tools print
    assert fmt.hex_eui64(bytes.fromhex("5634120b006f0d00")) == "00:0D:6F:00:0B:12:34:56"
    assert fmt.hex_eui64(None) == "-"
    assert fmt.date_long(t) == "15 Jan 2026"
    assert fmt.day_hhmm(t) == "15 Jan 18:42"
