# The tariff core (firmware/ihd/meters/tariff.py) under CPython, property-tested with
# hypothesis against plain reference definitions: the price in force, bounded event lists,
# pruning, the cost of a half-hour (split at a boundary inside it) and block costs (split at a
# threshold). Exact small-int money: every result is compared to the mp.
from hypothesis import given, settings
from hypothesis import strategies as st

from host_tools import upy_shim

upy_shim.install()

from ihd.meters import tariff as TF  # noqa: E402

HH = 1800
DAY0 = 9000 * 86400  # a UTC midnight


def _price(e):
    return None if e is None else (e[2], e[3])


def _cost_ref(wh, rate):
    return wh * rate // 1000


def _at_ref(evs, t):
    # the definition: the latest-starting event covering t; else the latest to start by t
    cover = [e for e in evs if e[0] <= t < e[1]]
    if cover:
        return max(cover, key=lambda e: e[0])
    before = [e for e in evs if e[0] <= t]
    return max(before, key=lambda e: e[0]) if before else None


ev_st = st.tuples(
    st.integers(0, 96),  # start, in half-hours... or minutes (below)
    st.integers(1, 600),  # duration in minutes
    st.integers(0, 60000),  # rate mp/kWh
    st.integers(1, 4),  # tier
    st.booleans(),  # start on a minute (True) or a half-hour (False)
    st.booleans(),  # open-ended
)


def _make(raw, i):
    s, dur, rate, tier, minute, open_ = raw
    start = DAY0 + (s * 60 * 7 if minute else s * HH)
    return TF.event(start, 0xFFFF if open_ else dur, rate, tier, "T%d" % tier, 1, 100 + i, 0)


def _prices(raws):
    p = TF.Prices()
    for i, raw in enumerate(raws):
        e = _make(raw, i)
        assert e is not None
        p.add(e)
    return p


@settings(max_examples=300, deadline=None)
@given(st.lists(ev_st, max_size=8), st.integers(0, 3 * 86400))
def test_price_in_force_is_the_reference_and_bounded(raws, dt):
    p = _prices(raws)
    assert len(p.ev) <= TF.MAX_EVENTS
    starts = [e[0] for e in p.ev]
    assert starts == sorted(set(starts))
    t = DAY0 + dt
    assert p.at(t) == _at_ref(p.ev, t)
    b = p.change_after(t)
    if b:
        assert b > t and _price(p.at(b)) != _price(p.at(t))
    # nothing changes between t and b (checked on the minute)
    for x in range(t, b or t + 86400, 60):
        assert _price(p.at(x)) == _price(p.at(t))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(ev_st, min_size=1, max_size=4), st.integers(0, 2 * 86400), st.integers(0, 6 * 3600)
)
def test_prune_keeps_what_can_still_apply(raws, dt, later):
    p = _prices(raws)
    t = DAY0 + dt
    before = [(x, p.at(x)) for x in range(t, t + later + 1, 300)]
    cur = p.at(t)
    p.prune(t)
    assert p.at(t) is cur
    for x, e in before:
        if e is not None and x < e[1]:  # a covering event: still the one in force
            assert p.at(x) == e, (x, e, p.ev)


@settings(max_examples=300, deadline=None)
@given(st.lists(ev_st, min_size=1, max_size=4), st.integers(0, 95), st.integers(0, 5000))
def test_half_hour_cost_at_the_prices_during_it(raws, k, wh):
    p = _prices(raws)
    t = DAY0 + k * HH
    c = TF.cost_hh(p, None, t, wh)
    if p.at(t) is None:
        assert c is None
        return
    # reference: each second's share of the energy at that second's price, cut into runs
    runs = []
    for x in range(t, t + HH):
        r = _at_ref(p.ev, x)[2]
        if runs and runs[-1][1] == r:
            runs[-1][0] += 1
        else:
            runs.append([1, r])
    ref = done = el = 0
    for n, r in runs:
        el += n
        part = wh * el // HH - done
        ref += _cost_ref(part, r)
        done += part
    assert done == wh
    assert c == ref
    rates = [r for _n, r in runs]
    assert min(rates) * wh // 1000 - len(rates) <= c <= max(rates) * wh // 1000


def test_change_at_0530_and_0030_costs_each_half_hour_at_its_price():
    for hhmm in ((5, 30), (0, 30)):
        change = DAY0 + hhmm[0] * 3600 + hhmm[1] * 60
        p = TF.Prices()
        p.add(TF.event(change - 7 * 3600, 7 * 60, 24500, 1, "Day", 1, 1, 0))
        p.add(TF.event(change, 7 * 60, 9000, 2, "Night", 1, 2, 0))
        before, after = change - HH, change
        assert TF.cost_hh(p, None, before, 1000) == 24500  # old price, closed whenever
        assert TF.cost_hh(p, None, after, 1000) == 9000
        # a boundary inside a half-hour (not GB's): split by time
        mid = change - 600
        assert TF.cost_hh(p, None, mid, 1800) == 600 * 24500 // 1000 + 1200 * 9000 // 1000
        assert p.next_after(before)[1] == change and p.next_after(before)[0][2] == 9000


def test_refuses_bad_events_and_drops_the_farthest_future():
    assert TF.event(DAY0, 30, TF.MAX_RATE_MP_KWH + 1, 1, "", 1, 1, 0) is None
    assert TF.event(DAY0, 0, 100, 1, "", 1, 1, 0) is None  # no duration
    assert TF.event(0x7FFFFFFF, 30, 100, 1, "", 1, 1, 0) is None
    e = TF.event(0, 30, 100, 1, "", 1, 1, DAY0)  # start 0: now, held from the epoch
    assert e[0] == 0 and e[1] == DAY0 + 1800
    p = TF.Prices()
    for i in range(10):
        p.add(TF.event(DAY0 + (9 - i) * HH, 30, 100 + i, 1, "", 1, i, 0))
    assert len(p.ev) == TF.MAX_EVENTS
    assert [e[0] for e in p.ev] == [DAY0 + i * HH for i in range(TF.MAX_EVENTS)]
    # the same issuer event again, changed: replaced, not added
    p.add(TF.event(DAY0, 30, 777, 1, "", 1, 9, 0))
    assert p.rate_at(DAY0) == 777 and len(p.ev) == TF.MAX_EVENTS


block_st = st.lists(st.integers(1, 3000), min_size=0, max_size=3).map(
    lambda xs: tuple(sorted(set(xs)))
)


@settings(max_examples=300, deadline=None)
@given(block_st, st.data(), st.lists(st.integers(0, 1500), max_size=20))
def test_block_cost_splits_at_thresholds(th, data, whs):
    prices = tuple(data.draw(st.integers(0, 60000)) for _ in range(len(th) + 1))
    b = TF.Blocks(th, prices, DAY0, 86400)
    assert b.valid()
    p = TF.Prices()
    used = 0
    for i, wh in enumerate(whs):
        t = DAY0 + i * HH
        c = TF.cost_hh(p, b, t, wh)
        # reference: Wh by Wh, each at the block its consumption falls in
        ref = 0
        per = {}
        for k in range(used, used + wh):
            blk = sum(1 for x in th if k >= x)
            per[blk] = per.get(blk, 0) + 1
        for blk, n in per.items():
            ref += _cost_ref(n, prices[blk])
        assert c == ref
        b.take(t, wh)
        used += wh
    # the next period starts from block 1
    t = DAY0 + 86400
    assert TF.cost_hh(p, b, t, 1000) == TF.Blocks(th, prices, t, 86400).cost(0, 1000)
    b.take(t, 10)
    assert b.used_wh == 10 and b.start == t


def test_invalid_blocks():
    assert not TF.Blocks((100, 50), (1, 2, 3), DAY0, 86400).valid()
    assert not TF.Blocks((100,), (1,), DAY0, 86400).valid()
    assert not TF.Blocks((), (1,), DAY0, 0).valid()
    assert not TF.Blocks((1, 2, 3, 4), (1, 1, 1, 1, 1), DAY0, 60).valid()
