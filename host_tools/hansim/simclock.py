"""Simulated UTC clock (hansim owns the HAN's time) and UK local-time helpers."""

from __future__ import annotations

import calendar
import datetime
import time
from typing import Callable, Tuple

ZIGBEE_EPOCH_UNIX = 946684800  # 2000-01-01T00:00:00Z


def parse_iso_utc(text: str) -> float:
    # "2026-01-15T06:00:00Z" (or +00:00) -> unix seconds
    t = text.strip()
    if t.endswith("Z"):
        t = t[:-1] + "+00:00"
    dt = datetime.datetime.fromisoformat(t)
    if dt.tzinfo is None:
        raise ValueError("time %r has no timezone; use UTC with a trailing Z" % text)
    return dt.timestamp()


def iso_utc(unix: float) -> str:
    dt = datetime.datetime.fromtimestamp(int(unix), tz=datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_zigbee(unix: float) -> int:
    return int(unix) - ZIGBEE_EPOCH_UNIX


def _last_sunday(year: int, month: int) -> int:
    last = calendar.monthrange(year, month)[1]
    wd = calendar.weekday(year, month, last)  # Monday = 0
    return last - (wd + 1) % 7


def uk_dst_bounds(year: int) -> Tuple[int, int]:
    # BST: last Sunday of March 01:00 UTC to last Sunday of October 01:00 UTC (unix seconds)
    start = calendar.timegm((year, 3, _last_sunday(year, 3), 1, 0, 0))
    end = calendar.timegm((year, 10, _last_sunday(year, 10), 1, 0, 0))
    return start, end


def uk_offset_s(unix: float) -> int:
    y = time.gmtime(unix).tm_year
    start, end = uk_dst_bounds(y)
    return 3600 if start <= unix < end else 0


def uk_local(unix: float) -> time.struct_time:
    return time.gmtime(unix + uk_offset_s(unix))


def local_midnight(unix: float) -> int:
    # unix time of the UK local midnight that starts the local day containing `unix`
    lt = uk_local(unix)
    naive = calendar.timegm((lt.tm_year, lt.tm_mon, lt.tm_mday, 0, 0, 0))
    # the offset at midnight may differ from the offset now (DST change days)
    guess = naive - uk_offset_s(naive - 3600)
    return guess


class SimClock:
    """Simulated time = start + (real elapsed) * speed + manual advances."""

    def __init__(
        self,
        start_unix: float,
        speed: float = 1.0,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self._mono = monotonic
        self._base_sim = float(start_unix)
        self._base_real = monotonic()
        self.speed = float(speed)
        self.start_unix = float(start_unix)

    def now(self) -> float:
        return self._base_sim + (self._mono() - self._base_real) * self.speed

    def zigbee_now(self) -> int:
        return to_zigbee(self.now())

    def set_speed(self, speed: float) -> None:
        self._base_sim = self.now()
        self._base_real = self._mono()
        self.speed = float(speed)

    def advance(self, seconds: float) -> None:
        self._base_sim += float(seconds)

    def set(self, unix: float) -> None:
        self._base_sim = float(unix)
        self._base_real = self._mono()

    def sim_to_real_s(self, sim_seconds: float) -> float:
        return sim_seconds / self.speed if self.speed > 0 else float("inf")
