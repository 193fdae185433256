# Bucket math (UTC half-hour/day/Monday-week/month), on MicroPython and CPython; under CPython
# also Hypothesis properties against datetime.
from ihd.history import buckets as B

PORTABLE = True


def test_known_dates():
    assert B.civil_from_days(0) == (2000, 1, 1)
    assert B.days_from_civil(2024, 2, 29) == B.days_from_civil(2024, 2, 28) + 1
    assert B.civil_from_days(B.days_from_civil(2025, 3, 1) - 1) == (2025, 2, 28)
    assert B.week_start_day(2) == 2  # Monday 2000-01-03
    assert B.week_start_day(0) == -5  # Saturday 2000-01-01 -> Monday 1999-12-27
    assert B.month_days(B.month_index_of_day(B.days_from_civil(2024, 2, 10))) == 29
    assert B.slot_of(86400 + 1799) == 0 and B.slot_of(86400 + 1800) == 1


def test_bucket_starts_and_ends():
    now = B.days_from_civil(2025, 1, 15) * 86400 + 3600
    ms = B.bucket_starts(B.RES_MONTH, now, 13)
    assert B.civil_from_days(ms[0] // 86400) == (2024, 1, 1)
    assert B.civil_from_days(ms[-1] // 86400) == (2025, 1, 1)
    for r in (B.RES_HALF_HOUR, B.RES_DAY, B.RES_WEEK, B.RES_MONTH):
        st = B.bucket_starts(r, now, 6)
        for a, b in zip(st, st[1:]):
            assert B.bucket_end(r, a) == b
        assert st[-1] <= now < B.bucket_end(r, st[-1])


try:
    import datetime

    from hypothesis import given
    from hypothesis import strategies as st

    _E = datetime.datetime(2000, 1, 1)

    @given(st.integers(min_value=0, max_value=3_000_000_000))
    def test_property_against_datetime(t):
        d = _E + datetime.timedelta(seconds=t)
        assert B.civil_from_days(B.day_of(t)) == (d.year, d.month, d.day)
        ws = _E + datetime.timedelta(seconds=B.week_start(t))
        assert ws.weekday() == 0 and 0 <= (d - ws).total_seconds() < 7 * 86400
        ms = _E + datetime.timedelta(seconds=B.month_start(t))
        assert (ms.year, ms.month, ms.day, ms.hour) == (d.year, d.month, 1, 0)
        for r in (B.RES_HALF_HOUR, B.RES_DAY, B.RES_WEEK, B.RES_MONTH):
            s = B.bucket_start(r, t)
            assert s <= t < B.bucket_end(r, s)
            assert B.bucket_end(r, B.prev_bucket_start(r, s)) == s

except ImportError:  # MicroPython: no hypothesis
    pass
