# Tariff core (pure; no I/O): the price in force at any time from the PublishPrice events a
# meter sent (the current one, the next ones from GetScheduledPrices or pushed), block
# thresholds and prices, and the cost of a half-hour at the prices that applied during it.
# Imported by meters/service.py; tested under CPython with hypothesis (tests/host/
# test_tariff_core.py) and under MicroPython (tests/firmware/test_meters_tou.py).
#
# Choices (docs/meters.md "Time-of-use and block tariffs"):
# - The price in force at t: of the events with start <= t < end, the one that started last
#   (a later event supersedes an earlier one where they overlap; SE D.4.2.4.1). Where no
#   event covers t (the last one ended and no next is known yet) the last one to start before t
#   goes on: the meter is asked again at once (service), and a stale price is nearer than none.
# - A half-hour is costed split where a price boundary falls inside it: each part at its price,
#   the half-hour's energy shared by time (the only split the device can make: it knows the
#   half-hour's total). GB prices change on half-hour boundaries, so in practice a half-hour
#   is costed whole at the price in force at its start; a change at 05:30 costs 05:00-05:30 at
#   the old price and 05:30-06:00 at the new one, whenever the half-hour is closed.
# - Blocks: the block is chosen by the consumption since the block period start, counted by
#   the device from the half-hours it closes (Blocks.used_wh); a half-hour that crosses a
#   threshold is split at it. Periods repeat back to back from the published start. The block
#   prices, when known, replace the PublishPrice rate (GBCS block tariffs: NoTierBlock prices).
# Bounded: at most MAX_EVENTS events; expired ones go (prune); the farthest future goes first.
# Money in mp (1e-5 GBP) per kWh, energy in Wh: small ints only.
from micropython import const

from ihd.meters import units

MAX_EVENTS = const(3)  # the one a closing half-hour needs, the one in force, the next
MAX_BLOCKS = const(4)  # GBCS: NoTierBlock1..4 prices, 3 thresholds
MAX_RATE_MP_KWH = const(1000000)  # GBP 10/kWh: beyond it a published rate is refused
OPEN_END = const(0x3FFFFFFF)  # DurationInMinutes 0xFFFF: until changed
_DUR_OPEN = const(0xFFFF)
_HH_S = const(1800)
# event tuple fields
E_START = const(0)
E_END = const(1)
E_RATE = const(2)
E_TIER = const(3)
E_LABEL = const(4)
E_PROVIDER = const(5)
E_EID = const(6)


def event(start, duration_min, rate_mp_kwh, tier, label, provider, eid, now):
    # A PublishPrice as the core keeps it; None if unusable. StartTime 0 = now (SE): a price
    # in force now whose start is not said is held from the epoch (start 0, its duration
    # counted from now), so the half-hour open when it arrives is costed at it; any event
    # with a start said supersedes it where they overlap.
    if rate_mp_kwh is None or not 0 <= rate_mp_kwh <= MAX_RATE_MP_KWH:
        return None
    if not 0 <= start < OPEN_END:
        return None
    t0 = start or now
    end = OPEN_END if duration_min == _DUR_OPEN else t0 + duration_min * 60
    if end <= start or end > OPEN_END:
        return None
    return (start, end, rate_mp_kwh, tier, label, provider, eid)


def _differ(a, b):
    # two events (or None) that price differently: another rate or tier
    if a is None or b is None:
        return a is not b
    return a[E_RATE] != b[E_RATE] or a[E_TIER] != b[E_TIER]


class Prices:
    def __init__(self):
        self.ev = []  # event tuples, by start

    def clear(self):
        self.ev = []

    def add(self, e):
        # -> True if e changed what is known. The same start or the same issuer event id
        # replaces the event held; the list stays sorted and at most MAX_EVENTS long.
        ev = self.ev
        for i in range(len(ev)):
            o = ev[i]
            if o[E_START] == e[E_START] or (o[E_PROVIDER] == e[E_PROVIDER]
                                            and o[E_EID] == e[E_EID]):  # fmt: skip
                if o == e:
                    return False
                ev.pop(i)
                break
        i = 0
        while i < len(ev) and ev[i][E_START] <= e[E_START]:
            i += 1
        ev.insert(i, e)
        if len(ev) > MAX_EVENTS:
            ev.pop()  # the farthest future (or e itself, if that is e)
        return True

    def prune(self, t):
        # Drop events that can no longer be in force at or after t (what is in force at t
        # stays): ended by t, or superseded from t on by a later-starting one that started by
        # t and lasts at least as long.
        ev = self.ev
        keep = self.at(t)
        i = 0
        while i < len(ev):
            e = ev[i]
            gone = False
            if e is not keep and e[E_START] <= t:
                gone = e[E_END] <= t
                for f in ev:
                    if e[E_START] < f[E_START] <= t and f[E_END] >= e[E_END]:
                        gone = True
            if gone:
                ev.pop(i)
            else:
                i += 1

    def at(self, t):
        # The event in force at t (see the header), or None.
        best = last = None
        for e in self.ev:
            if e[E_START] > t:
                break
            last = e
            if t < e[E_END]:
                best = e
        return best if best is not None else last

    def covers(self, t):
        # True if a known event covers t (the price at t is known, not carried on). A loop, not
        # any(): no generator object.
        for e in self.ev:  # noqa: SIM110
            if e[E_START] <= t < e[E_END]:
                return True
        return False

    def change_after(self, t):
        # The first time after t at which the price (rate or tier) in force changes, or 0
        # (none known). 0 B: called for the open half-hour at every reading.
        cur = self.at(t)
        best = 0
        for e in self.ev:
            b = e[E_START]
            if t < b and (not best or b < best) and _differ(self.at(b), cur):
                best = b
            b = e[E_END]
            if t < b < OPEN_END and (not best or b < best) and _differ(self.at(b), cur):
                best = b
        return best

    def next_after(self, t):
        # (event, from_utc) of the next price after t's, or None.
        b = self.change_after(t)
        if not b:
            return None
        e = self.at(b)
        return None if e is None else (e, b)

    def rate_at(self, t):
        e = self.at(t)
        return None if e is None else e[E_RATE]


class Blocks:
    # A block tariff: thresholds (Wh, ascending) and prices (mp/kWh, one more than thresholds),
    # over repeating block periods of period_s from start_utc.
    def __init__(self, thresholds_wh, prices_mp_kwh, start_utc, period_s):
        self.th = thresholds_wh
        self.prices = prices_mp_kwh
        self.start = start_utc
        self.period_s = period_s
        self.used_wh = 0  # in the block period holding `start`

    def valid(self):
        th, p = self.th, self.prices
        if not 1 <= len(p) <= MAX_BLOCKS or len(th) != len(p) - 1 or self.period_s <= 0:
            return False
        for i in range(len(th)):
            if th[i] <= 0 or (i and th[i] <= th[i - 1]):
                return False
        return all(0 <= x <= MAX_RATE_MP_KWH for x in p)

    def period_of(self, t):
        # -> start of the block period holding t, or None before the first one
        if t < self.start:
            return None
        return t - (t - self.start) % self.period_s

    def used_before(self, t):
        # consumption of t's block period before t, as far as the device counted it
        return self.used_wh if self.period_of(t) == self.start else 0

    def cost(self, used_wh, wh):
        # cost of wh consumed after used_wh in the period: each part at its block's price
        th, p = self.th, self.prices
        cost = 0
        lo = used_wh
        left = wh
        for b in range(len(p)):
            top = th[b] if b < len(th) else None
            if top is not None and lo >= top:
                continue
            part = left if top is None else min(left, top - lo)
            cost += units.cost_mp(part, p[b])
            lo += part
            left -= part
            if left <= 0:
                break
        return cost

    def take(self, t, wh):
        # A half-hour at t of wh was closed: count it in its period (a new period restarts).
        ps = self.period_of(t)
        if ps is None:
            return
        if ps != self.start:
            self.start = ps
            self.used_wh = 0
        self.used_wh += wh


def cost_hh(prices, blocks, t, wh):
    # Cost (mp) of wh consumed in the half-hour starting at t, at the prices in force during
    # it (split at a boundary inside it, energy by time); None if no price is known.
    if blocks is not None and blocks.period_of(t) is not None:
        return blocks.cost(blocks.used_before(t), wh)
    if prices.at(t) is None:
        return None
    end = t + _HH_S
    cost = 0
    done_wh = 0
    a = t
    while a < end:
        b = prices.change_after(a)
        if not b or b > end:
            b = end
        part = wh - done_wh if b == end else wh * (b - t) // _HH_S - done_wh
        cost += units.cost_mp(part, prices.rate_at(a))
        done_wh += part
        a = b
    return cost
