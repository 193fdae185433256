"""Deterministic consumption model: half-hour slots of seeded power, cumulative energy, and the
history periods (days / weeks / months, UK local time) the Metering cluster reports."""

from __future__ import annotations

import calendar
import math
from typing import Dict, List, Optional, Sequence, Tuple

from .simclock import local_midnight, uk_local, uk_offset_s

SLOT_S = 1800
HISTORY_DAYS = 430  # how far before the scenario start the model is defined


def _mix64(x: int) -> int:
    # splitmix64 finaliser: a fast, seedable, platform-independent hash
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


def unit_noise(seed: int, n: int) -> float:
    # deterministic value in [-1, 1)
    return _mix64((seed & 0xFFFFFFFF) << 32 ^ (n & 0xFFFFFFFF)) / 2.0**63 - 1.0


class SolarModel:
    """PV generation, constant within each 30-minute slot (sampled at its middle): peak_w x the
    season (the year's peak at the June solstice, `winter` of it at the December one) x the sun
    above the horizon (a half sine from sunrise to sunset around 12:00 UTC, the day 16.5 h long
    in June and 7.5 h in December, as in southern England) x (1 - cloud x u), u in [0, 1) per
    slot from `seed`: the same scenario gives the same generation at the same instant."""

    def __init__(self, peak_w: float, cloud: float, seed: int, winter: float = 0.25):
        self.peak_w = float(peak_w)
        self.cloud = float(cloud)
        self.seed = int(seed)
        self.winter = float(winter)

    def slot_power(self, slot: int) -> float:
        t = slot * SLOT_S + SLOT_S / 2
        doy = (t / 86400.0) % 365.2425  # days since 1970-01-01 in the year: ~Jan 1 = 0
        summer = 0.5 + 0.5 * math.cos(2 * math.pi * (doy - 171.0) / 365.2425)  # 1 Jun 21, 0 Dec
        length_h = 7.5 + 9.0 * summer
        hour = (t % 86400.0) / 3600.0
        x = (hour - (12.0 - length_h / 2)) / length_h
        if not 0.0 < x < 1.0:
            return 0.0
        season = self.winter + (1.0 - self.winter) * summer
        u = (unit_noise(self.seed, slot) + 1.0) / 2.0
        return self.peak_w * season * math.sin(math.pi * x) * (1.0 - self.cloud * u)


class EnergyModel:
    """Power is constant within each 30-minute slot: base_w * shape[local hour] * (1 + noise*u).
    With `solar`, the home's load is met first by its generation: flow "import" is the grid
    power max(0, load - pv) (CurrentSummationDelivered), flow "export" max(0, pv - load)
    (CurrentSummationReceived)."""

    def __init__(
        self,
        start_unix: float,
        base_load_w: float,
        daily_shape: Sequence[float],
        noise: float,
        seed: int,
        initial_wh: int,
        solar: Optional[SolarModel] = None,
        flow: str = "import",
    ):
        self.solar = solar
        self.export = flow == "export"
        if len(daily_shape) != 24:
            raise ValueError("daily_shape must have 24 hourly factors")
        self.base_load_w = float(base_load_w)
        self.shape = [float(x) for x in daily_shape]
        self.noise = float(noise)
        self.seed = int(seed)
        self.start_unix = float(start_unix)
        self.origin_slot = int(start_unix // SLOT_S) - HISTORY_DAYS * 48
        self._cum: List[float] = [0.0]  # energy (Wh) before slot origin+i
        self.initial_wh = int(initial_wh)
        self._start_e = self._energy(start_unix)

    def power_w(self, unix: float) -> float:
        return self._slot_power(int(unix // SLOT_S))

    def load_w(self, slot: int) -> float:
        hour = uk_local(slot * SLOT_S).tm_hour
        p = self.base_load_w * self.shape[hour] * (1.0 + self.noise * unit_noise(self.seed, slot))
        return max(p, 0.0)

    def _slot_power(self, slot: int) -> float:
        load = self.load_w(slot)
        if self.solar is None:
            return 0.0 if self.export else load
        pv = self.solar.slot_power(slot)
        return max(pv - load, 0.0) if self.export else max(load - pv, 0.0)

    def _energy(self, unix: float) -> float:
        slot = int(unix // SLOT_S)
        i = slot - self.origin_slot
        if i <= 0:
            return 0.0
        cum = self._cum
        while len(cum) <= i:
            s = self.origin_slot + len(cum) - 1
            cum.append(cum[-1] + self._slot_power(s) * SLOT_S / 3600.0)
        frac = (unix - slot * SLOT_S) / 3600.0
        return cum[i] + self._slot_power(slot) * frac

    def register_wh(self, unix: float) -> int:
        # meter register (Wh) at `unix`: initial reading at the scenario start
        return int(self.initial_wh + self._energy(unix) - self._start_e)

    def between_wh(self, a: float, b: float) -> int:
        if b <= a:
            return 0
        return int(self._energy(b)) - int(self._energy(a))


def day_bounds(now: float, back: int) -> Tuple[float, float]:
    # [start, end) of the local day `back` days before today (0 = today, end = now)
    start = local_midnight(now)
    end = now
    for _ in range(back):
        end = start
        start = local_midnight(start - 1)
    return start, end


def week_bounds(now: float, back: int) -> Tuple[float, float]:
    # weeks start Monday 00:00 local
    start = local_midnight(now)
    for _ in range(uk_local(now).tm_wday):
        start = local_midnight(start - 1)
    end = now
    for _ in range(back):
        end = start
        for _ in range(7):
            start = local_midnight(start - 1)
    return start, end


def _local_month_start(year: int, month: int) -> float:
    naive = calendar.timegm((year, month, 1, 0, 0, 0))
    return naive - uk_offset_s(naive - 3600)


def month_bounds(now: float, back: int) -> Tuple[float, float]:
    lt = uk_local(now)
    y, m = lt.tm_year, lt.tm_mon
    start = _local_month_start(y, m)
    end = now
    for _ in range(back):
        end = start
        m -= 1
        if m == 0:
            y, m = y - 1, 12
        start = _local_month_start(y, m)
    return start, end


def history(model: EnergyModel, now: float) -> Dict[str, List[int]]:
    # consumption in Wh: day[0..8] (today, yesterday, day2..8), week[0..5], month[0..13]
    out: Dict[str, List[int]] = {"day": [], "week": [], "month": []}
    for key, fn, n in (
        ("day", day_bounds, 9),
        ("week", week_bounds, 6),
        ("month", month_bounds, 14),
    ):
        for k in range(n):
            a, b = fn(now, k)
            out[key].append(model.between_wh(a, b))
    return out
