# Meters service: reads the bound ESME and GPF, turns raw registers into Wh / W with each meter's
# formatting, accumulates half-hour intervals into the history store, keeps the tariff and the
# ambient level, and syncs the clock from the Time cluster. Data is accepted only from the bound
# meters (registry.source_of). Polling respects the SE minimum (>= 7.5 s); gas is polled at
# gas cadence since a GPF only learns new gas data every 30 minutes.
#
# Readings in small ints (a 32-bit port's small ints are < 2^30; anything larger is a heap
# object): a meter's total is kept as the register in thousandths of its unit (Wh for a kWh
# meter, litres for a m3 one), rounded from the exact raw x multiplier / divisor
# (units.Ratio, no big int for any uint48 register) - rounding the total, not each delta, so
# the sum of the deltas is the meter's own difference to the Wh. Gas litres become Wh with a
# carried remainder (units.gas_ratio). Bound: totals < 2^30 thousandths (1.07 GWh, 1.07e6 m3)
# and costs < 2^30 mp (GBP 10737) per half-hour / day; beyond it the same exact values are
# computed with big ints (allocating; counted in units.big_ints and logged once).
# Entry points: fold(fuel_id, milli, utc) takes a reading already in thousandths (plain small
# ints); summation_u48(fuel_id, hi, lo, utc) a raw uint48 register as two 24-bit halves; reports
# and polls arrive as foundation.Records (hi/lo halves) when the ZCL client has
# on_report_records/read_records, else as decoded ints (_on_report; a register >= 2^30 is then a
# big int on 32-bit). With a history.view.HistoryView as `history`, a reading inside the open
# half-hour allocates nothing (tests/firmware/test_reading_alloc.py, docs/meters.md); closing a
# half-hour (history append, flash) and the first reading of a UTC day may.
import asyncio

from micropython import const

from ihd.meters import units
from ihd.meters.registry import ELEC, GAS
from ihd.runtime import clock, log
from ihd.runtime.counters import Counters
from ihd.state.model import D_CLOCK
from ihd.zigbee.zcl import clusters as C
from ihd.zigbee.zcl import foundation as F

_TIME = C.TIME
_PRICE = C.PRICE
_METERING = C.METERING
_DM = C.DEVICE_MGMT
_HH_S = const(1800)
_DAY_S = const(86400)
_CLOCK_SYNC_S = const(3600)
_TARIFF_S = const(3600)
_TIME_STATUS_OK = const(0x03)  # Master | Synchronized
_MP_DIGITS = const(5)  # our money unit is 1e-5 GBP

# Attribute ids by their names in the cluster tables (zcl/clusters.py).
_TIME_IDS = C.attr_ids(_TIME, ("time", "time_status"))
_FORMAT_IDS = C.attr_ids(_METERING, (
    "unit_of_measure", "multiplier", "divisor",
    "summation_formatting", "demand_formatting", "historical_consumption_formatting",
))  # fmt: skip
_LIVE_IDS = C.attr_ids(_METERING, ("current_summ_delivered", "instantaneous_demand"))
_SUMMATION, _DEMAND = _LIVE_IDS
(_AMBIENT,) = C.attr_ids(_METERING, ("ambient_consumption_indicator",))
_GAS_PRICE_IDS = C.attr_ids(_PRICE, (
    "standing_charge", "conversion_factor", "conversion_factor_trailing_digit",
    "calorific_value", "calorific_value_trailing_digit",
))  # fmt: skip
_STANDING, _CF, _CF_TD, _CV, _CV_TD = _GAS_PRICE_IDS
_THRESHOLD_IDS = C.attr_ids(_DM, ("low_medium_threshold", "medium_high_threshold"))
(_SUPPLIER_NAME,) = C.attr_ids(_DM, ("provider_name",))
_TAG = "meters"


def _ok(v):
    return v is not None and not isinstance(v, F.AttrStatus)


def _text(v):
    # Octet string (UTF-8 per GBCS) -> str; None if not text.
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode()
        except Exception:
            return None
    return v


def _pow10(n):
    r = 1
    for _ in range(n):
        r *= 10
    return r


def to_mp(value, trailing_digit):
    # value x 10^-trailing_digit GBP -> 1e-5 GBP
    if trailing_digit <= _MP_DIGITS:
        return value * _pow10(_MP_DIGITS - trailing_digit)
    return value // _pow10(trailing_digit - _MP_DIGITS)


class MeterState:
    # What we know of one meter; RAM only, re-read after boot or a change of tenancy.
    def __init__(self, meter, fuel_id, hist_index):
        self.meter = meter
        self.fuel_id = fuel_id  # state.model FUEL_*
        self.hist = hist_index  # history store meter index
        self.fmt = None  # units.Formatting
        self.summ_milli = None  # last summation in thousandths of the unit (Wh for kWh)
        self.summ_utc = 0
        self.gas_rem = 0  # sub-Wh remainder of the litres -> Wh conversion (gas_ratio.den units)
        self.hh_start = None  # open half-hour interval
        self.hh_wh = 0
        self.unit_rate_mp_kwh = None
        self.standing_mp_day = None
        self.cv_milli = 39500  # calorific value, thousandths of MJ/m3 (GB typical default)
        self.cf_milli = 1022640  # conversion factor x 1e6
        self.gas_ratio = units.gas_ratio(self.cv_milli, self.cf_milli)
        self.thresholds = None  # (low/medium, medium/high) in W
        self.next_poll_utc = 0
        self.tariff_utc = 0
        self.last_reading_utc = None
        self.gen = 0  # bumped by refresh(): answers to requests sent before it are discarded


class MeterService:
    def __init__(self, zcl, registry, history, model, config, hub=(0x0000, 1)):
        self.zcl = zcl
        self.registry = registry
        self.history = history
        self.model = model
        self.poll_s = max(8, config.get("meter_poll_s"))
        self.gas_poll_s = max(self.poll_s, config.get("gas_poll_s"))
        self.hub = hub
        self.states = {}
        self._by_fuel = [None, None]  # type: list  # MeterState per state.model FUEL_* (fold)
        # today's stored half-hours from a history.view.HistoryView (0 B); a bare HistoryStore
        # is queried instead (allocates)
        self._today_totals = getattr(history, "today_totals", None)
        self.c = Counters(
            _TAG,
            ("reads", "read_failures", "reports", "bad_values", "negative_deltas", "clock_syncs")
            + ("discarded",),
        )
        self._wake = asyncio.Event()
        self._clock_utc = -_CLOCK_SYNC_S
        # Reports and polls as foundation.Records (uint48 in two small-int halves, decoded without
        # allocating) where the ZCL client offers them; decoded values (dicts, ints) otherwise.
        if hasattr(zcl, "on_report_records"):
            zcl.on_report_records(_METERING, self._on_records)
        else:
            zcl.on_report(_METERING, self._on_report)
        self._read_records = getattr(zcl, "read_records", None)

    def bind(self, meter, fuel_id, hist_index):
        st = MeterState(meter, fuel_id, hist_index)
        self.states[meter.name] = st
        self._by_fuel[fuel_id] = st

    def kick(self):
        self._wake.set()

    # ---------------- main loop ----------------

    async def run(self):
        while True:
            await self.sync_clock()
            now = clock.now()
            if now:
                for st in self.states.values():
                    if now >= st.next_poll_utc:
                        ok = await self.poll(st)
                        # a failed read is retried at the live cadence, not a gas period later
                        period = self.gas_poll_s if ok and st.meter.name == GAS else self.poll_s
                        st.next_poll_utc = clock.now() + period
            wait_s = self.poll_s
            if now:
                wait_s = max(1, min(st.next_poll_utc for st in self.states.values()) - now)
            try:
                await asyncio.wait_for(self._wake.wait(), wait_s / clock.scale())
            except asyncio.TimeoutError:
                pass
            self._wake.clear()

    async def sync_clock(self, force=False):
        if not force and clock.synced() and clock.now() - self._clock_utc < _CLOCK_SYNC_S:
            return
        node, ep = self.hub
        got = await self.zcl.read_attributes(node, ep, _TIME, _TIME_IDS)
        time_id, status_id = _TIME_IDS
        if not got or not _ok(got.get(time_id)):
            if not clock.synced():
                log.warn(_TAG, "no time from the hub yet")
            return
        status = got.get(status_id)
        if _ok(status) and not status & _TIME_STATUS_OK:
            log.warn(_TAG, "hub time not synchronised (status 0x%02x); ignored", status)
            return
        if clock.set_utc(got[time_id]):
            self._clock_utc = clock.now()
            self.c.inc("clock_syncs")
            self.model.changed(D_CLOCK)

    def forget(self, name):
        # After a change of tenancy: forget cached readings, discard those in flight (gen), and
        # re-read everything of the meter at once.
        st = self.states.get(name)
        if st is None:
            return
        st.gen += 1
        st.fmt = None
        st.summ_milli = None
        st.gas_rem = 0
        st.hh_start = None
        st.hh_wh = 0
        st.tariff_utc = 0
        st.thresholds = None
        st.next_poll_utc = 0
        self.kick()

    async def poll(self, st):
        # -> True if the live registers were read.
        m = st.meter
        if st.fmt is None and not await self._read_formatting(st):
            return False
        gen = st.gen
        rr = self._read_records
        if rr is not None:
            got = await rr(m.node, m.ep, _METERING, _LIVE_IDS)  # valid until our next await
        else:
            got = await self.zcl.read_attributes(m.node, m.ep, _METERING, _LIVE_IDS)
        if got is None:
            self.c.inc("read_failures")
            return False
        if gen != st.gen:  # a change of tenancy was applied meanwhile: this reading predates it
            self.c.inc("discarded")
            return False
        self.c.inc("reads")
        t = clock.now()
        if rr is not None:
            self._records(st, got, t)
        else:
            if _ok(got.get(_DEMAND)):
                self._demand(st, got[_DEMAND], t)
            if _ok(got.get(_SUMMATION)):
                self._summation(st, got[_SUMMATION], t)
        # Secondary reads wait until every meter has shown a first reading: on a slow or noisy
        # link the household sees both fuels' numbers before the ambient level and tariff.
        if any(o.summ_milli is None for o in self.states.values()):
            return True
        if m.name == ELEC:
            await self._ambient(st)
        if clock.now() - st.tariff_utc >= _TARIFF_S:  # the tariff changes rarely
            await self._read_tariff(st)
        return True

    # ---------------- attribute reads ----------------

    async def _read_formatting(self, st):
        m = st.meter
        got = await self.zcl.read_attributes(m.node, m.ep, _METERING, _FORMAT_IDS)
        unit, mul, div, sfmt, dfmt, hfmt = _FORMAT_IDS
        if not got or not all(_ok(got.get(a)) for a in (unit, mul, div)):
            self.c.inc("read_failures")
            log.warn(_TAG, "%s: formatting unreadable", m.name)
            return False
        fmt = units.Formatting(got[unit], got[mul], got[div])
        for a, slot in ((sfmt, "summation_fmt"), (dfmt, "demand_fmt"), (hfmt, "history_fmt")):
            if _ok(got.get(a)):
                setattr(fmt, slot, got[a])
        if not fmt.valid():
            self.c.inc("bad_values")
            return False
        st.fmt = fmt
        log.info(_TAG, "%s: unit %s x%d/%d", m.name, units.unit_name(fmt.unit), fmt.multiplier,
                 fmt.divisor)  # fmt: skip
        return True

    async def _read_tariff(self, st):
        m = st.meter
        opts = {"command_options": 0}
        rsp = await self.zcl.command(m.node, m.ep, _PRICE, C.PRICE_GET_CURRENT_PRICE, opts,
                                     rsp_cmd=C.PRICE_PUBLISH_PRICE)  # fmt: skip
        a = rsp.args if rsp is not None else None
        ids = _GAS_PRICE_IDS if m.name == GAS else (_STANDING,)
        got = await self.zcl.read_attributes(m.node, m.ep, _PRICE, ids) or {}
        if a is None or self.registry.source_of(rsp) is None:
            log.warn(_TAG, "%s: no current price", m.name)
            return
        td = a["trailing_digit_and_tier"] >> 4
        st.unit_rate_mp_kwh = to_mp(a["price"], td)
        if _ok(got.get(_STANDING)):
            st.standing_mp_day = to_mp(got[_STANDING], td)
        if m.name == GAS:
            self._gas_factors(st, got)
        st.tariff_utc = clock.now()
        supplier = None
        if m.name == ELEC:  # the supplier's name as the ESME's Device Management server holds it
            dm = await self.zcl.read_attributes(m.node, m.ep, _DM, (_SUPPLIER_NAME,))
            if dm and _ok(dm.get(_SUPPLIER_NAME)):
                supplier = _text(dm[_SUPPLIER_NAME])
        self.model.set_tariff(st.fuel_id, st.unit_rate_mp_kwh, st.standing_mp_day,
                              a["trailing_digit_and_tier"] & 0x0F, _text(a["rate_label"]),
                              supplier)  # fmt: skip

    def _gas_factors(self, st, got):
        # calorific value and conversion factor (each with its trailing digit in the high
        # nibble) for m3 -> kWh
        if _ok(got.get(_CV)):
            td = (got.get(_CV_TD) or 0) >> 4 if _ok(got.get(_CV_TD)) else 0
            st.cv_milli = got[_CV] * 1000 // _pow10(td)
        if _ok(got.get(_CF)):
            td = (got.get(_CF_TD) or 0) >> 4 if _ok(got.get(_CF_TD)) else 0
            st.cf_milli = got[_CF] * 1000000 // _pow10(td)
        r = st.gas_ratio
        if r.key_a != st.cv_milli or r.key_b != st.cf_milli:
            st.gas_ratio = units.gas_ratio(st.cv_milli, st.cf_milli)
            st.gas_rem = 0  # a remainder in the old ratio's units means nothing in the new

    async def _ambient(self, st):
        m = st.meter
        fmt = st.fmt  # local: a tenancy refresh may clear st.fmt while we await
        if st.thresholds is None:
            got = await self.zcl.read_attributes(m.node, m.ep, _DM, _THRESHOLD_IDS)
            lo_id, hi_id = _THRESHOLD_IDS
            if got and _ok(got.get(lo_id)) and _ok(got.get(hi_id)):
                st.thresholds = (units.demand_w(got[lo_id], fmt), units.demand_w(got[hi_id], fmt))
            else:
                st.thresholds = ()  # not supported: use the meter's own indicator
        demand = self.model.fuels[st.fuel_id].demand_w
        if st.thresholds and demand is not None:
            lo, hi = st.thresholds
            self.model.set_ambient(0 if demand < lo else (1 if demand < hi else 2))
            return
        got = await self.zcl.read_attributes(m.node, m.ep, _METERING, (_AMBIENT,))
        if got and _ok(got.get(_AMBIENT)) and got[_AMBIENT] <= 2:
            self.model.set_ambient(got[_AMBIENT])

    # ---------------- values ----------------

    def _reporter(self, f):
        # The state of the bound meter that sent frame f (registry: node, endpoint, APS
        # security), once its formatting is known; else None.
        src = self.registry.source_of(f)
        st = self.states.get(src.name) if src is not None else None
        if st is None or st.fmt is None:
            return None
        self.c.inc("reports")
        return st

    def _on_records(self, f, rec):
        # A Report Attributes as foundation.Records (valid during the call): 0 B in the open
        # half-hour, whatever the size of the register.
        st = self._reporter(f)
        if st is not None:
            self._records(st, rec, clock.now())

    def _records(self, st, rec, t):
        # InstantaneousDemand (int24: a small int) then CurrentSummationDelivered (uint48 as
        # rec.hi * 2^24 + rec.lo), as the dict path does.
        i = rec.find(_DEMAND)
        if i >= 0 and rec.ok(i):
            self._demand(st, rec.value(i), t)
        i = rec.find(_SUMMATION)
        if i >= 0 and rec.ok(i):
            milli = units.milli_u48(rec.hi[i], rec.lo[i], st.fmt)
            if milli is not None:
                self._fold(st, milli, t)

    def _on_report(self, f, attr_id, value):
        st = self._reporter(f)
        if st is None:
            return
        t = clock.now()
        if attr_id == _DEMAND:
            self._demand(st, value, t)
        elif attr_id == _SUMMATION:
            self._summation(st, value, t)

    def _demand(self, st, raw, t):
        w = units.demand_w(raw, st.fmt)
        if w is None:
            return
        self.model.set_demand(st.fuel_id, w, t)

    def _summation(self, st, raw, t):
        # The decoded attribute value (an int; on a 32-bit port a register >= 2^30 arrives as a
        # big int, and splitting it allocates: summation_u48 is the 0 B way in).
        milli = units.scaled_milli(raw, st.fmt)
        if milli is not None:
            self._fold(st, milli, t)

    def summation_u48(self, fuel_id, hi, lo, utc):
        # CurrentSummationDelivered as two 24-bit halves (raw = hi * 2^24 + lo; from wire bytes:
        # hi = units.u24_le(buf, off + 3), lo = units.u24_le(buf, off)). 0 B in the open
        # half-hour. -> False if the meter is unknown or its formatting not read yet.
        st = self._by_fuel[fuel_id]
        if st is None or st.fmt is None:
            return False
        milli = units.milli_u48(hi, lo, st.fmt)
        if milli is None:
            return False
        self._fold(st, milli, utc)
        return True

    def fold(self, fuel_id, milli, utc):
        # Fold a reading into today's total and the half-hour history: milli = the meter's
        # summation in thousandths of its unit of measure (Wh for kWh, litres for m3), a small
        # int; utc = its time. 0 B while it stays in the open half-hour (with a HistoryView).
        st = self._by_fuel[fuel_id]
        if st is None or st.fmt is None:
            return False
        self._fold(st, milli, utc)
        return True

    def _fold(self, st, milli, t):
        if t == 0:
            return
        if st.summ_milli is None:
            st.summ_milli, st.summ_utc = milli, t
            st.gas_rem = 0
            st.hh_start = t - t % _HH_S
            self._publish_today(st, t)
            return
        delta = milli - st.summ_milli
        if delta < 0:
            # meter exchanged or register reset: start a new baseline, never negative energy
            self.c.inc("negative_deltas")
            log.warn(_TAG, "%s: summation went backwards by %d", st.meter.name, -delta)
            st.summ_milli, st.summ_utc = milli, t
            st.gas_rem = 0
            return
        if st.fmt.unit == units.UNIT_M3:
            r = st.gas_ratio
            wh = r.scale(delta >> 24, delta & 0xFFFFFF, st.gas_rem)
            st.gas_rem = r.rem
        else:
            wh = delta
        self._spread(st, st.summ_utc, t, wh)
        st.summ_milli, st.summ_utc = milli, t
        st.last_reading_utc = t
        self._publish_today(st, t)

    def _spread(self, st, t0, t1, wh):
        # Energy consumed between two readings goes to the half-hours it spans, pro rata by
        # time; each half-hour is appended to history when the next one starts.
        span = max(1, t1 - t0)
        left = wh
        t = t0
        while True:
            hh_end = st.hh_start + _HH_S
            if t1 < hh_end:
                st.hh_wh += left
                return
            part = wh * (hh_end - t) // span
            st.hh_wh += part
            left -= part
            self._close_interval(st)
            st.hh_start = hh_end
            st.hh_wh = 0
            t = hh_end

    def _close_interval(self, st):
        cost = 0
        if st.unit_rate_mp_kwh is not None:
            cost = units.cost_mp(st.hh_wh, st.unit_rate_mp_kwh)
        self.history.append(st.hist, st.hh_start, st.hh_wh, cost, st.standing_mp_day)

    def _publish_today(self, st, t):
        # Today = what the store holds for today (post visible_from only) + the open half-hour
        # if it started at or after visible_from.
        vf = self.history.visible_from(st.hist)
        if self._today_totals is not None:
            tot = self._today_totals(st.hist, t)  # [energy_wh, cost_mp], kept by the view
            energy = tot[0]
            cost = tot[1]
        else:
            energy = cost = 0
            for _s, _e, wh, c, n in self.history.today(st.hist, t):
                if n:
                    energy += wh
                    cost += c
        day_start = t - t % _DAY_S
        if st.hh_start is not None and st.hh_start >= vf and st.hh_start >= day_start:
            energy += st.hh_wh
            if st.unit_rate_mp_kwh is not None:
                cost += units.cost_mp(st.hh_wh, st.unit_rate_mp_kwh)
        if st.standing_mp_day is not None:
            cost += st.standing_mp_day
        self.model.set_today(st.fuel_id, energy, cost, max(day_start, vf), t)
