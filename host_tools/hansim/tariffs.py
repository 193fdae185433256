"""Time-of-use and block tariffs of a simulated meter: the price periods a Price server publishes
(PublishPrice: the current one with its start and duration, the next ones for
GetScheduledPrices), price changes from scenario events, block thresholds and prices, the tier
summation registers, and hansim's own cost of each half-hour (what tests compare the device's
store with). Money in the tariff's units (10^-trailing_digit of the currency) per kWh.

Choices (docs/scenario-format.md "Tariff"): a `schedule` is a daily list of tiers by UK local
time (an Economy 7 night 00:30-07:30, a four-rate smart tariff); a period runs from its entry's
time to the next entry's (wrapping at midnight). A `price_change` event replaces the rates
from its time on (a new version of the tariff; its first period starts at the event). A flat
tariff is one period from the scenario start, "until changed" (DurationInMinutes 0xFFFF), as
before. Block tariffs: the price of each Wh is that of the block the consumption since the
block period start has reached; periods repeat back to back from `start`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .simclock import local_midnight

if TYPE_CHECKING:
    from .energy import EnergyModel
    from .scenario import Tariff

SLOT_S = 1800
OPEN_DURATION = 0xFFFF


class Period:
    def __init__(
        self, start: float, end: Optional[float], rate: int, tier: int, label: str, eid: int
    ):
        self.start = start
        self.end = end  # None: until changed
        self.rate = rate
        self.tier = tier
        self.label = label
        self.eid = eid

    def duration_min(self) -> int:
        if self.end is None:
            return OPEN_DURATION
        return min(OPEN_DURATION - 1, int(self.end - self.start) // 60)

    def __repr__(self) -> str:
        return "Period(%r, %r, %d, tier %d %s)" % (
            self.start,
            self.end,
            self.rate,
            self.tier,
            self.label,
        )


class _Version:
    def __init__(
        self, at: float, unit_rate: int, schedule: Optional[List[Dict[str, Any]]], n: int
    ):
        self.at = at
        self.unit_rate = unit_rate
        self.schedule = schedule  # [{"from_s", "unit_rate", "label", "tier"}] by from_s, or None
        self.n = n  # version number (issuer event ids)


class TariffModel:
    def __init__(self, tariff: Tariff, start_unix: float):
        self.t = tariff
        self.start_unix = start_unix
        self.versions = [_Version(start_unix, tariff.unit_rate, tariff.schedule, 0)]
        self.blocks = tariff.blocks

    # ---- price changes ----
    def change(
        self, at: float, unit_rate: Optional[int], schedule: Optional[List[Dict[str, Any]]]
    ) -> None:
        # a `price_change` event: new rates from `at` on
        last = self.versions[-1]
        rate = last.unit_rate if unit_rate is None else unit_rate
        sched = (
            schedule
            if schedule is not None
            else (None if unit_rate is not None else last.schedule)
        )
        self.versions.append(_Version(at, rate, sched, len(self.versions)))
        self.versions.sort(key=lambda v: v.at)

    def _version(self, t: float) -> Tuple[_Version, Optional[float]]:
        cur, nxt = self.versions[0], None
        for v in self.versions:
            if v.at <= t:
                cur = v
            elif nxt is None:
                nxt = v.at
        return cur, nxt

    # ---- periods ----
    def period_at(self, t: float) -> Period:
        v, vend = self._version(t)
        if v.schedule is None:
            eid = self.t.issuer_event_id + v.n * 1000000
            return Period(v.at, vend, v.unit_rate, 1, self.t.rate_label, eid)
        s, e, entry = self._slot(v, t)
        if v.n:  # a price change starts its first period (the first tariff was there before)
            s = max(s, v.at)
        if vend is not None and vend < e:
            e = vend
        eid = self.t.issuer_event_id + v.n * 1000000 + int(s - self.start_unix) // 60 % 1000000
        return Period(s, e, entry["unit_rate"], entry["tier"], entry["label"], eid)

    @staticmethod
    def _slot(v: _Version, t: float) -> Tuple[float, float, Dict[str, Any]]:
        sched = v.schedule
        assert sched
        mid = local_midnight(t)
        cands = []
        for day in (local_midnight(mid - 1), mid, local_midnight(mid + 86400 + 3600)):
            for entry in sched:
                cands.append((day + entry["from_s"], entry))
        cands.sort(key=lambda c: c[0])
        for i in range(len(cands) - 1):
            if cands[i][0] <= t < cands[i + 1][0]:
                return cands[i][0], cands[i + 1][0], cands[i][1]
        raise AssertionError("no period for %r" % t)

    def periods_after(self, t: float, n: int) -> List[Period]:
        # the next n periods starting after t (as the meter knows them now)
        out: List[Period] = []
        p = self.period_at(t)
        while len(out) < n and p.end is not None:
            p = self.period_at(p.end)
            out.append(p)
        return out

    def tiers(self) -> int:
        v = self.versions[-1]
        return max((e["tier"] for e in v.schedule), default=1) if v.schedule else 1

    # ---- blocks ----
    def block_period(self, t: float) -> Optional[Tuple[float, float]]:
        b = self.blocks
        if b is None or t < b["start_unix"]:
            return None
        k = int((t - b["start_unix"]) // b["period_s"])
        s = b["start_unix"] + k * b["period_s"]
        return s, s + b["period_s"]

    def block_cost(self, used_wh: int, wh: int) -> int:
        b = self.blocks
        assert b is not None
        th, prices = b["thresholds_wh"], b["prices"]
        cost, lo, left = 0, used_wh, wh
        for i, p in enumerate(prices):
            top = th[i] if i < len(th) else None
            if top is not None and lo >= top:
                continue
            part = left if top is None else min(left, top - lo)
            cost += part * p // 1000
            lo += part
            left -= part
            if left <= 0:
                break
        return cost

    def block_index(self, used_wh: int) -> int:
        b = self.blocks
        assert b is not None
        return sum(1 for x in b["thresholds_wh"] if used_wh >= x)

    # ---- hansim's own costs ----
    def rate_at(self, t: float) -> int:
        return self.period_at(t).rate

    def hh_cost(self, model: EnergyModel, slot_start: float) -> Tuple[int, int]:
        # (energy Wh, cost) of the half-hour starting at slot_start, from the energy model:
        # at the price in force at its start (GB periods start on half-hours), or by blocks
        wh = model.between_wh(slot_start, slot_start + SLOT_S)
        bp = self.block_period(slot_start)
        if bp is not None:
            used = model.between_wh(bp[0], slot_start)
            return wh, self.block_cost(used, wh)
        return wh, wh * self.rate_at(slot_start) // 1000

    def current_price(self, model: EnergyModel, now: float) -> int:
        # the PublishPrice price now: a block tariff's block price, else the period's rate
        bp = self.block_period(now)
        if bp is not None and self.blocks is not None:
            return self.blocks["prices"][self.block_index(model.between_wh(bp[0], now))]
        return self.rate_at(now)

    # ---- tier registers (Metering CurrentTierNSummationDelivered) ----
    def tier_wh(self, model: EnergyModel, now: float, tier: int, cache: Dict[str, Any]) -> int:
        # energy since the scenario start in periods of `tier`; tier 1 holds the rest of the
        # register (its initial reading too), so the registers add up to it exactly
        if tier == 1:
            others = sum(self.tier_wh(model, now, x, cache) for x in range(2, self.tiers() + 1))
            return model.register_wh(now) - others
        start = self.start_unix
        done = cache.setdefault("slots", {})
        t = start
        total = 0
        while t < now:
            end = min(now, (t // SLOT_S + 1) * SLOT_S)
            key = (t, end)
            if key not in done:
                done[key] = (self.period_at(t).tier, model.between_wh(t, end))
            tr, wh = done[key]
            if tr == tier:
                total += wh
            t = end
        return total


def parse_schedule(value: Any, where: str, error: Any) -> List[Dict[str, Any]]:
    # [{"from": "00:30", "unit_rate": 9000, "label": "Night", "tier": 1}, ...] (tier optional:
    # the order of first appearance of each label)
    if not isinstance(value, list) or not value:
        raise error("%s: a non-empty list of {from, unit_rate, label}" % where)
    out: List[Dict[str, Any]] = []
    labels: List[str] = []
    for i, e in enumerate(value):
        w = "%s[%d]" % (where, i)
        if not isinstance(e, dict) or set(e) - {"from", "unit_rate", "label", "tier"}:
            raise error("%s: keys from, unit_rate, label, tier" % w)
        try:
            hh, mm = str(e["from"]).split(":")
            from_s = int(hh) * 3600 + int(mm) * 60
            rate = int(e["unit_rate"])
        except (KeyError, ValueError):
            raise error('%s: from "HH:MM" and an integer unit_rate' % w) from None
        if not 0 <= from_s < 86400 or from_s % SLOT_S or not 0 <= rate <= 0xFFFFFFFF:
            raise error("%s: from on a half-hour of the day, unit_rate a uint32" % w)
        label = str(e.get("label", "Tier"))
        if len(label.encode()) > 12:
            raise error("%s.label: at most 12 bytes" % w)
        if label not in labels:
            labels.append(label)
        tier = int(e.get("tier", labels.index(label) + 1))
        if not 1 <= tier <= 14:
            raise error("%s.tier: 1..14" % w)
        out.append({"from_s": from_s, "unit_rate": rate, "label": label, "tier": tier})
    out.sort(key=lambda x: x["from_s"])
    if len({x["from_s"] for x in out}) != len(out):
        raise error("%s: two entries at the same time" % where)
    return out


def parse_blocks(
    value: Any, where: str, start_unix: float, error: Any, parse_time: Any, parse_duration: Any
) -> Dict[str, Any]:
    # {"thresholds_wh": [1000, 2000], "prices": [a, b, c], "period": "1d", "start": "+0h"}
    if not isinstance(value, dict) or set(value) - {"thresholds_wh", "prices", "period", "start"}:
        raise error("%s: keys thresholds_wh, prices, period, start" % where)
    th = value.get("thresholds_wh")
    prices = value.get("prices")
    if (
        not isinstance(th, list)
        or not isinstance(prices, list)
        or not 1 <= len(th) <= 3
        or len(prices) != len(th) + 1
        or any(not isinstance(x, int) or x <= 0 for x in th)
        or th != sorted(set(th))
        or any(not isinstance(x, int) or x < 0 for x in prices)
    ):
        raise error("%s: 1-3 ascending thresholds_wh and one price more" % where)
    period_s = parse_duration(value.get("period", "1d"), where + ".period")
    if period_s <= 0 or period_s % 60:
        raise error("%s.period: whole minutes" % where)
    start = parse_time(value.get("start", "+0h"), start_unix, where + ".start")
    return {
        "thresholds_wh": list(th),
        "prices": list(prices),
        "period_s": int(period_s),
        "start_unix": start,
    }
