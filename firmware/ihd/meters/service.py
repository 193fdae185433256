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
# Export (CurrentSummationReceived, the ESME's export register, where it has one): read with the
# live registers until the ESME answers UNSUPPORTED_ATTRIBUTE (then not asked again until the
# next boot or change of tenancy), reports accepted too; folded by the same 0 B path into export
# half-hours (history slot EXPORT, no cost) by _xfold/_xspread, apart from the import path.
import asyncio
import struct
import sys

from micropython import const

from ihd.meters import tariff as TF
from ihd.meters import units
from ihd.meters.registry import ELEC, GAS
from ihd.runtime import clock, log
from ihd.runtime import timejudge as TJ
from ihd.runtime.counters import Counters
from ihd.state.fuels import ELEC as ELEC_FUEL
from ihd.state.fuels import EXPORT
from ihd.state.model import D_CLOCK
from ihd.tenancy.core import COS
from ihd.zigbee.zcl import clusters as C
from ihd.zigbee.zcl import foundation as F

_TIME = C.TIME
_PRICE = C.PRICE
_METERING = C.METERING
_DM = C.DEVICE_MGMT
_HH_S = const(1800)
_DAY_S = const(86400)
_CLOCK_SYNC_S = const(3600)
_CONFIRM_GAP_S = const(300)  # a hub time that jumps is re-read this soon (timejudge.py)
_GAP_HH = const(48)  # a gap in readings beyond this many half-hours is summarised (_spread)
_TARIFF_S = const(3600)
_TIME_STATUS_OK = const(0x03)  # Master | Synchronized
_MP_DIGITS = const(5)  # our money unit is 1e-5 GBP
_THR_RETRY_S = const(60)  # a failed threshold read is retried after this, doubling per failure
_THR_RETRY_MAX_S = const(3600)  # ... up to once an hour
_EST_DAYS = const(10)  # a past half-hour's price estimated from up to this many days later
_X_ASK = const(0)  # export register: not known yet (asked with the live registers)
_X_YES = const(1)  # the ESME has it
_X_NO = const(2)  # it answered UNSUPPORTED_ATTRIBUTE: not asked again (boot, tenancy)

# Attribute ids by their names in the cluster tables (zcl/clusters.py).
_TIME_IDS = C.attr_ids(_TIME, ("time", "time_status"))
_FORMAT_IDS = C.attr_ids(_METERING, (
    "unit_of_measure", "multiplier", "divisor",
    "summation_formatting", "demand_formatting", "historical_consumption_formatting",
))  # fmt: skip
_LIVE_IDS = C.attr_ids(_METERING, ("current_summ_delivered", "instantaneous_demand"))
_SUMMATION, _DEMAND = _LIVE_IDS
(_RECEIVED,) = C.attr_ids(_METERING, ("current_summ_received",))
_LIVE_X_IDS = _LIVE_IDS + (_RECEIVED,)  # the ESME's live registers with its export register
(_AMBIENT,) = C.attr_ids(_METERING, ("ambient_consumption_indicator",))
_GAS_PRICE_IDS = C.attr_ids(_PRICE, (
    "standing_charge", "conversion_factor", "conversion_factor_trailing_digit",
    "calorific_value", "calorific_value_trailing_digit",
))  # fmt: skip
_STANDING, _CF, _CF_TD, _CV, _CV_TD = _GAS_PRICE_IDS
(_TIER_LABEL_1,) = C.attr_ids(_PRICE, ("tier_price_label_0",))  # Tier1PriceLabel; + tier - 1
# Block tariff (docs/meters.md): Block1..3Threshold, the block period, then NoTierBlock1..4Price
# and the thresholds' multiplier / divisor, in two reads (one frame each).
_BLOCK_IDS = C.attr_ids(_PRICE, (
    "block_threshold_0", "block_threshold_1", "block_threshold_2",
    "start_of_block_period", "block_period_duration_min",
))  # fmt: skip
_BLOCK_PRICE_IDS = C.attr_ids(_PRICE, (
    "no_tier_block_price_0", "no_tier_block_price_1", "no_tier_block_price_2",
    "no_tier_block_price_3", "block_period_duration_type", "threshold_multiplier",
    "threshold_divisor",
))  # fmt: skip
_BP_START, _BP_DUR = _BLOCK_IDS[3], _BLOCK_IDS[4]
_BP_TYPE, _TH_MUL, _TH_DIV = _BLOCK_PRICE_IDS[4:]
_TIMEBASE_S = (60, 86400, 7 * 86400)  # BlockPeriodDurationType timebase: minutes, days, weeks
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


def _milli(st, hi, lo):
    # A uint48 register (two 24-bit halves) in thousandths of the meter's unit, or None (no
    # meter, its formatting not read yet, or out of range). 0 B.
    if st is None or st.fmt is None:
        return None
    return units.milli_u48(hi, lo, st.fmt)


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
        self.unit_rate_mp_kwh = None  # the rate in force now (shown); costs use `prices`
        self.standing_mp_day = None
        self.prices = TF.Prices()  # the PublishPrice events known (meters/tariff.py)
        self.blocks = None  # TF.Blocks of a block tariff; None: none
        self.price_change_utc = 0  # when the rate in force changes next (0: not known)
        self.cv_milli = 39500  # calorific value, thousandths of MJ/m3 (GB typical default)
        self.cf_milli = 1022640  # conversion factor x 1e6
        self.gas_ratio = units.gas_ratio(self.cv_milli, self.cf_milli)
        self.thresholds = None  # (low/medium, medium/high) in W; None: not read (yet)
        self.thr_next_utc = 0  # after a failed threshold read: not before this time
        self.thr_backoff_s = 0
        self.price_id = None  # (provider id, issuer event id) of the price in use
        self.refused_price = None  # after a change of supplier: the previous supplier's price
        self.refuse_provider = False  # ... and every price of its provider id (another proposed)
        self.refused_supplier = None  # ... and its name, as the ESME may still hold them
        self.next_poll_utc = 0  # UTC of the next poll (shown); 0: poll now (boot, forget())
        self.poll_at = 0  # ... its deadline in monotonic ticks (clock.deadline): what counts
        self.summ_off = 0  # clock.offset() when summ_utc was taken (steps re-date it)
        self.tariff_utc = 0
        self.last_reading_utc = None
        self.gen = 0  # bumped by refresh(): answers to requests sent before it are discarded

    def set_rate(self, rate_mp_kwh):
        # One flat price for all time (tests, a scripted meter): what a single open-ended
        # PublishPrice from the epoch gives.
        self.prices.clear()
        self.prices.add(TF.event(1, 0xFFFF, rate_mp_kwh, 1, None, 0, 0, 1))
        self.unit_rate_mp_kwh = rate_mp_kwh

    # The export register's state (ESME only): class defaults, so a meter that never reads
    # one (a GPF, an ESME without it) holds no instance entries for them.
    x_state = _X_ASK  # _X_ASK, _X_YES, _X_NO
    x_milli = None  # last CurrentSummationReceived, thousandths of the unit (Wh)
    x_utc = 0
    x_off = 0  # clock.offset() when x_utc was taken
    x_hh_start = None  # open export half-hour
    x_hh_wh = 0


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
        self._export_totals = getattr(history, "export_totals", None)  # (None: not shown)
        self.c = Counters(
            _TAG,
            ("reads", "read_failures", "reports", "bad_values", "negative_deltas", "clock_syncs")
            + ("discarded", "gaps", "time_backwards")
            + ("tariffs_cleared", "old_prices", "threshold_failures")
            + ("prices", "foreign_prices", "bad_prices")
            + ("backfill_gaps", "backfill_refusals", "backfill_hh", "backfill_days"),
        )
        # Gaps in the half-hour history are filled from the meter (meters/backfill.py): one
        # request per meter per pass of run(). The Backfill is made when a gap opens and
        # dropped, its module too, once none is open (~2 KB the rest of the time); never with
        # a history that cannot take half-hours (a bench's stand-in).
        self.backfill = None
        self._bf_able = hasattr(history, "backfill_hh")
        self._bf_gate = None
        self._wake = asyncio.Event()
        self._clock_at = clock.deadline(0)  # next hub time read (monotonic ticks)
        # Reports and polls as foundation.Records (uint48 in two small-int halves, decoded without
        # allocating) where the ZCL client offers them; decoded values (dicts, ints) otherwise.
        if hasattr(zcl, "on_report_records"):
            zcl.on_report_records(_METERING, self._on_records)
        else:
            zcl.on_report(_METERING, self._on_report)
        self._read_records = getattr(zcl, "read_records", None)
        # PublishPrice pushed by a meter (at each tier change) or answering GetScheduledPrices
        zcl.on_command(_PRICE, C.PRICE_PUBLISH_PRICE, C.S2C, self._on_publish_price)
        zcl.on_command(_PRICE, C.PRICE_PUBLISH_BLOCK_PERIOD, C.S2C, self._on_block_period)

    def backfill_wait_for(self, fn):
        # No backfill request until fn() is True (meters/backfill.py Backfill.wait_for).
        self._bf_gate = fn
        if self.backfill is not None:
            self.backfill.wait_for(fn)

    async def backfill_step(self, dl):
        # One step of the open gaps (-> dl or the sooner deadline); the Backfill and its
        # module go once no gap is open.
        bf = self.backfill
        if bf is None:
            return dl
        dl = await bf.step(dl)
        if not bf.busy():
            self.backfill = None
            sys.modules.pop("ihd.meters.backfill", None)
        return dl

    def _backfill(self):
        # The Backfill, made on first need (None: this history cannot take half-hours).
        bf = self.backfill
        if bf is None and self._bf_able:
            from ihd.meters.backfill import Backfill

            bf = self.backfill = Backfill(self)
            bf.wait_for(self._bf_gate)
        return bf

    def bind(self, meter, fuel_id, hist_index):
        st = MeterState(meter, fuel_id, hist_index)
        self.states[meter.name] = st
        self._by_fuel[fuel_id] = st

    def kick(self):
        self._wake.set()

    def heard(self, msg):
        # ncp.messages listener (app.py): the link quality of each bound meter's last frame
        # (zigbee.ezsp.IncomingMessage.lqi) for the Status screen, under the registry's rule
        # (its node and endpoint, APS-encrypted when that is required). Header fields only,
        # 0 B; never claims the message.
        for st in self._by_fuel:
            if st is None:
                continue
            m = st.meter
            if m.node == msg.sender and m.ep == msg.src_ep:
                if self.registry.encrypted_enough(msg.secured):
                    self.model.set_lqi(st.fuel_id, msg.lqi)
                return

    # ---------------- main loop ----------------

    async def run(self):
        # Every deadline here is monotonic (clock.deadline: ticks), never UTC: a step of the
        # clock, forward or back, never puts the polls or the clock sync to sleep.
        while True:
            await self.sync_clock()
            dl = self._clock_at
            if clock.now():
                for st in self.states.values():
                    if st.next_poll_utc == 0 or clock.due(st.poll_at):
                        ok = await self.poll(st)
                        # a failed read is retried at the live cadence, not a gas period later
                        period = self.gas_poll_s if ok and st.meter.name == GAS else self.poll_s
                        st.poll_at = clock.deadline(period)
                        st.next_poll_utc = max(1, clock.now() + period)
                    dl = clock.sooner(dl, st.poll_at)
            else:
                dl = clock.sooner(dl, clock.deadline(self.poll_s))
            if self.backfill is not None:
                dl = await self.backfill_step(dl)
            await clock.wait(self._wake, dl)
            self._wake.clear()

    async def sync_clock(self, force=False):
        # The hub's Time, judged by the clock (runtime/timejudge.py): a time far from ours is
        # checked against the ESME's own clock and re-read every _CONFIRM_GAP_S until
        # confirmed or refused; an accepted one is re-read hourly.
        if not force and clock.synced() and not clock.due(self._clock_at):
            return
        self._clock_at = clock.deadline(_CLOCK_SYNC_S if clock.synced() else self.poll_s)
        node, ep = self.hub
        got = await self.zcl.read_attributes(node, ep, _TIME, _TIME_IDS)
        time_id, status_id = _TIME_IDS
        if not got or not _ok(got.get(time_id)):
            if not clock.synced():
                log.warn(_TAG, "no time from the hub yet")
            else:  # unanswered: asked again soon, not an hour later
                self._clock_at = clock.deadline(_CONFIRM_GAP_S)
            return
        status = got.get(status_id)
        if _ok(status) and not status & _TIME_STATUS_OK:
            log.warn(_TAG, "hub time not synchronised (status 0x%02x); ignored", status)
            return
        utc = got[time_id]
        meter_utc = await self._meter_time() if clock.disputed(utc) else None
        v = clock.offer(utc, meter_utc)
        if v in TJ.TAKEN:
            self._clock_at = clock.deadline(_CLOCK_SYNC_S)
            self.c.inc("clock_syncs")
            self.model.changed(D_CLOCK)
        elif v == TJ.SUSPECT:
            self._clock_at = clock.deadline(_CONFIRM_GAP_S)

    async def _meter_time(self):
        # The ESME's own Time (its Time cluster, synchronised from the hub): the second
        # opinion on a hub time that jumps. None if there is no ESME or no usable answer.
        st = self.states.get(ELEC)
        if st is None:
            return None
        m = st.meter
        got = await self.zcl.read_attributes(m.node, m.ep, _TIME, _TIME_IDS)
        time_id, status_id = _TIME_IDS
        if not got or not _ok(got.get(time_id)):
            log.info(_TAG, "%s: no time to check the hub's against", m.name)
            return None
        status = got.get(status_id)
        if _ok(status) and not status & _TIME_STATUS_OK:
            return None
        return got[time_id]

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
        st.thr_next_utc = 0
        st.thr_backoff_s = 0
        st.next_poll_utc = 0
        st.x_state = _X_ASK  # the new tenancy's ESME may answer differently: asked again
        st.x_milli = st.x_hh_start = None
        st.x_hh_wh = 0
        self.kick()

    def tenancy_clearer(self, ev):
        # The tenancy watcher's `clearing` listener (app.py): a change of tenancy / supplier
        # (tenancy.core.Event) is being applied to one meter; forget() follows. Supplier data
        # goes on a change of supplier whatever its bits, and on Clear IHD Data - Supplier
        # (0x400) (docs/tenancy.md "Control bits"; messages: ihd/messages/service.py).
        st = self.states.get(ev.meter)
        if st is None:
            return
        if ev.kind == COS or ev.control & C.DM_CLEAR_SUPPLIER:
            self._clear_tariff(st, ev)

    def _clear_tariff(self, st, ev):
        # The cached tariff (unit rate, standing charge, tier, label; the supplier's name on the
        # ESME) is dropped at T: half-hours closing until a tariff is read again are not costed
        # (stored at cost 0, today's cost shown as unknown: model.clear_tariff). It is re-read
        # at once. On a change of supplier the price the meter published before (provider id
        # and issuer event id) is the old supplier's: refused if the meter still publishes it,
        # until another arrives; the name shown is the proposed supplier's from the event.
        cos = ev.kind == COS
        if cos:
            if st.price_id is not None:
                st.refused_price = st.price_id
                # time-of-use: each period has its own issuer event id; the old supplier's
                # next periods carry its provider id (refused when another one is proposed)
                pp = ev.proposed_provider_id
                st.refuse_provider = pp is not None and pp != st.price_id[0]
            if st.meter.name == ELEC and self.model.supplier:
                st.refused_supplier = self.model.supplier
        st.unit_rate_mp_kwh = None
        st.standing_mp_day = None
        st.price_id = None
        st.tariff_utc = 0
        st.prices.clear()
        st.blocks = None
        st.price_change_utc = 0
        elec = st.meter.name == ELEC
        self.model.clear_tariff(st.fuel_id, elec, ev.proposed_name if cos and elec else None)
        self.c.inc("tariffs_cleared")
        log.info(_TAG, "%s: tariff cleared (%s); re-read", st.meter.name, ev.kind)

    async def poll(self, st):
        # -> True if the live registers were read.
        m = st.meter
        if st.fmt is None and not await self._read_formatting(st):
            return False
        gen = st.gen
        rr = self._read_records
        ids = _LIVE_X_IDS if st.fuel_id == ELEC_FUEL and st.x_state != _X_NO else _LIVE_IDS
        if rr is not None:
            got = await rr(m.node, m.ep, _METERING, ids)  # valid until our next await
        else:
            got = await self.zcl.read_attributes(m.node, m.ep, _METERING, ids)
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
            x = got.get(_RECEIVED)
            if _ok(x):
                self._xsummation(st, x, t)
            elif x is not None and x.status == F.UNSUPPORTED_ATTRIBUTE:
                self._x_unsupported(st)
        # Secondary reads wait until every meter has shown a first reading: on a slow or noisy
        # link the household sees both fuels' numbers before the ambient level and tariff.
        if any(o.summ_milli is None for o in self.states.values()):
            return True
        if m.name == ELEC:
            await self._ambient(st)
        now = clock.now()
        age = now - st.tariff_utc  # < 0: the clock was stepped back since
        chg = st.price_change_utc
        if chg and now >= chg:  # a price change: the next price known goes in force
            self._publish_tariff(st)
        if age >= _TARIFF_S or age < 0 or (chg and now >= chg):  # hourly, and at each change
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
        # GetCurrentPrice (the price in force, its tier, start and duration), the standing
        # charge, the tier's label, gas factors, a block tariff's thresholds and prices; then
        # GetScheduledPrices for the next ones (answered as PublishPrice: _on_publish_price).
        m = st.meter
        gen = st.gen
        opts = {"command_options": 0}
        rsp = await self.zcl.command(m.node, m.ep, _PRICE, C.PRICE_GET_CURRENT_PRICE, opts,
                                     rsp_cmd=C.PRICE_PUBLISH_PRICE)  # fmt: skip
        a = rsp.args if rsp is not None else None
        ids = _GAS_PRICE_IDS if m.name == GAS else (_STANDING,)
        tier = a["trailing_digit_and_tier"] & 0x0F if a is not None else 0
        if 1 <= tier <= 15:
            ids += (_TIER_LABEL_1 + tier - 1,)
        got = await self.zcl.read_attributes(m.node, m.ep, _PRICE, ids) or {}
        if gen != st.gen:  # a change of tenancy was applied meanwhile: read again after it
            self.c.inc("discarded")
            return
        if a is None or self.registry.source_of(rsp) is None:
            log.warn(_TAG, "%s: no current price", m.name)
            return
        if m.name == GAS:
            self._gas_factors(st, got)
        label = got.get(_TIER_LABEL_1 + tier - 1) if 1 <= tier <= 15 else None
        if not self._take_price(st, a, _text(label) if _ok(label) else None):
            return
        td = a["trailing_digit_and_tier"] >> 4
        if _ok(got.get(_STANDING)):
            st.standing_mp_day = to_mp(got[_STANDING], td)
        st.tariff_utc = clock.now()
        if st.fmt is not None and st.fmt.unit == units.UNIT_KWH:
            await self._read_blocks(st, td)
        supplier = None
        if m.name == ELEC:  # the supplier's name as the ESME's Device Management server holds it
            dm = await self.zcl.read_attributes(m.node, m.ep, _DM, (_SUPPLIER_NAME,))
            if dm and _ok(dm.get(_SUPPLIER_NAME)):
                supplier = _text(dm[_SUPPLIER_NAME])
            if supplier is not None and supplier == st.refused_supplier:
                supplier = None  # the ESME still names the previous supplier: keep the shown one
            elif supplier is not None:
                st.refused_supplier = None
        if gen != st.gen:
            self.c.inc("discarded")
            return
        self._publish_tariff(st, supplier)
        # the next periods: answered as PublishPrice commands (at most MAX_EVENTS - 1 kept)
        await self.zcl.send(m.node, m.ep, _PRICE, C.PRICE_GET_SCHEDULED_PRICES,
                            struct.pack("<IB", clock.now(), TF.MAX_EVENTS - 1))  # fmt: skip

    def _take_price(self, st, a, label=None):
        # One PublishPrice (answer, push or scheduled) into the meter's prices. -> True if
        # usable. The previous supplier's price is refused after a change of supplier.
        pid = (a["provider_id"], a["issuer_event_id"])
        if self._old_price(st, pid):
            return False
        b = a["trailing_digit_and_tier"]
        tier = b & 0x0F
        if tier == 0x0F:  # PriceTier 15: see ExtendedPriceTier (+ 15)
            x = a.get("extended_price_tier")
            tier = x + 15 if isinstance(x, int) and x < 0xF0 else None
        now = clock.now()
        e = TF.event(a["start_time"], a["duration_min"], to_mp(a["price"], b >> 4), tier,
                     label or _text(a["rate_label"]), pid[0], pid[1], now)  # fmt: skip
        if e is None:
            self.c.inc("bad_prices")
            log.warn(_TAG, "%s: price %d/%d unusable (%r from %r, %r min)", st.meter.name,
                     pid[0], pid[1], a["price"], a["start_time"], a["duration_min"])  # fmt: skip
            return False
        self.c.inc("prices")
        ps = st.prices
        ps.add(e)
        ps.prune(st.hh_start if st.hh_start is not None and st.hh_start < now else now)
        if ps.at(now) is e:
            st.price_id = pid
        return True

    def _on_publish_price(self, f, a):
        # A PublishPrice from a meter, unasked (a tier change) or answering GetScheduledPrices.
        src = self.registry.source_of(f)
        st = self.states.get(src.name) if src is not None else None
        if st is None:
            self.c.inc("foreign_prices")
            log.warn(_TAG, "PublishPrice from 0x%04x ep %d refused", f.node, f.src_ep)
            return F.NOT_AUTHORIZED
        if not clock.synced():
            return F.FAILURE  # asked again (GetCurrentPrice) after the clock sync
        if self._take_price(st, a):
            st.tariff_utc = st.tariff_utc or clock.now()
            self._publish_tariff(st)
        return None

    def _on_block_period(self, f, a):
        # PublishBlockPeriod: a new block period (start 0 = now); the block prices are re-read.
        src = self.registry.source_of(f)
        st = self.states.get(src.name) if src is not None else None
        if st is None:
            self.c.inc("foreign_prices")
            return F.NOT_AUTHORIZED
        b = st.blocks
        start = a["block_period_start_time"] or clock.now()
        base = a["block_period_duration_type"] & 0x0F
        if b is not None and base < len(_TIMEBASE_S):
            dur = a["block_period_duration"] * _TIMEBASE_S[base]
            if 0 < dur < TF.OPEN_END and start != b.start:
                b.start, b.period_s, b.used_wh = start, dur, 0
        st.tariff_utc = 0  # the prices of the new period: at the next poll
        self.kick()
        return None

    async def _read_blocks(self, st, td):
        # A block tariff (kWh meters): Block1..3Threshold (the meter's summation units, x
        # ThresholdMultiplier / ThresholdDivisor), the block period, NoTierBlock1..4Price.
        # Consumption since the period start is what this device counts from its start.
        m = st.meter
        fmt = st.fmt
        got = await self.zcl.read_attributes(m.node, m.ep, _PRICE, _BLOCK_IDS)
        if got is None:  # no answer (a noisy link): the block tariff held stays; read again
            self.c.inc("read_failures")
            return
        th = []
        for a in _BLOCK_IDS[:3]:
            v = got.get(a) if got else None
            if _ok(v) and v:
                th.append(v)
        if not th:
            st.blocks = None
            return
        got2 = await self.zcl.read_attributes(m.node, m.ep, _PRICE, _BLOCK_PRICE_IDS) or {}
        prices = []
        for a in _BLOCK_PRICE_IDS[: len(th) + 1]:
            v = got2.get(a)
            if not _ok(v):
                break
            prices.append(to_mp(v, td))
        mul = got2.get(_TH_MUL) if _ok(got2.get(_TH_MUL)) and got2[_TH_MUL] else 1
        div = got2.get(_TH_DIV) if _ok(got2.get(_TH_DIV)) and got2[_TH_DIV] else 1
        base = got2.get(_BP_TYPE, 0) & 0x0F if _ok(got2.get(_BP_TYPE)) else 0
        start, dur = got.get(_BP_START), got.get(_BP_DUR)
        b = None
        if _ok(start) and _ok(dur) and base < len(_TIMEBASE_S) and fmt is not None:
            whs = [units.scaled_milli(x * mul // div, fmt) for x in th]
            if None not in whs:
                b = TF.Blocks(tuple(whs), tuple(prices), start, dur * _TIMEBASE_S[base])
        if b is None or not b.valid():
            self.c.inc("bad_prices")
            log.warn(_TAG, "%s: block tariff unusable (%r, %r)", m.name, th, prices)
            st.blocks = None
            return
        o = st.blocks
        if o is not None and o.period_of(clock.now()) == b.period_of(clock.now()):
            b.start, b.used_wh = o.start, o.used_wh  # the same period: keep its count
        elif b.period_of(clock.now()) is not None:
            b.start = b.period_of(clock.now())
        st.blocks = b

    def _publish_tariff(self, st, supplier=None):
        # The price in force now (a block tariff's block price), its tier and label, and the
        # next one with when it starts, to the Model; when the next change is due.
        now = clock.now()
        ps = st.prices
        e = ps.at(now)
        rate = e[TF.E_RATE] if e is not None else None
        b = st.blocks
        if b is not None and b.period_of(now) is not None:
            used = b.used_before(now)  # the closed half-hours of the period
            rate = b.prices[sum(1 for x in b.th if used >= x)]
        st.unit_rate_mp_kwh = rate
        nx = ps.next_after(now)
        end = e[TF.E_END] if e is not None else 0
        st.price_change_utc = nx[1] if nx else (end if now < end < TF.OPEN_END else 0)
        tier = e[TF.E_TIER] if e is not None else None
        label = e[TF.E_LABEL] if e is not None else None
        self.model.set_tariff(st.fuel_id, rate, st.standing_mp_day, tier, label, supplier)
        self.model.set_next_rate(st.fuel_id, nx[0][TF.E_RATE] if nx else None,
                                 nx[1] if nx else None)  # fmt: skip

    def _old_price(self, st, pid):
        # -> True if the price identified by pid (PublishPrice provider id, issuer event id) is
        # the one the previous supplier published, in use before a change of supplier: not used;
        # asked again at the tariff cadence. Another price ends the refusal.
        old = st.refused_price
        if old is None:
            return False
        if pid[0] == old[0] and (pid[1] == old[1] or st.refuse_provider):
            st.tariff_utc = clock.now()
            self.c.inc("old_prices")
            log.info(_TAG, "%s: price %d/%d is the previous supplier's: not used", st.meter.name,
                     pid[0], pid[1])  # fmt: skip
            return True
        st.refused_price = None
        log.info(_TAG, "%s: new price %d/%d after the change of supplier", st.meter.name,
                 pid[0], pid[1])  # fmt: skip
        return False

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
        if st.thresholds is None and self._thresholds_due(st):
            await self._read_thresholds(st)
        demand = self.model.fuels[st.fuel_id].demand_w
        if st.thresholds and demand is not None:
            lo, hi = st.thresholds
            self.model.set_ambient(0 if demand < lo else (1 if demand < hi else 2))
            return
        got = await self.zcl.read_attributes(m.node, m.ep, _METERING, (_AMBIENT,))
        if got and _ok(got.get(_AMBIENT)) and got[_AMBIENT] <= 2:
            self.model.set_ambient(got[_AMBIENT])

    def _thresholds_due(self, st):
        # A failed read is retried once its backoff has passed (or the clock went back by more
        # than the longest backoff: a deadline a jump put far ahead is not waited for).
        now = clock.now()
        return now >= st.thr_next_utc or st.thr_next_utc - now > _THR_RETRY_MAX_S

    async def _read_thresholds(self, st):
        # LowMediumThreshold / MediumHighThreshold (the ESME's Device Management server, in the
        # demand formatting) for the ambient level. Until they are read the meter's own
        # indicator is used; a failed or unusable read is retried after 60 s, doubling up to
        # once an hour (a meter asleep, a bad link, or thresholds set by the supplier later).
        m = st.meter
        fmt = st.fmt  # local: a tenancy refresh may clear st.fmt while we await
        gen = st.gen
        got = await self.zcl.read_attributes(m.node, m.ep, _DM, _THRESHOLD_IDS)
        if gen != st.gen:  # a change of tenancy meanwhile: forget() asks again
            return
        lo_id, hi_id = _THRESHOLD_IDS
        thr = why = None
        if got is None:
            why = "no answer"
        elif not (_ok(got.get(lo_id)) and _ok(got.get(hi_id))):
            why = "not supported"
        elif fmt is not None:
            lo, hi = units.demand_w(got[lo_id], fmt), units.demand_w(got[hi_id], fmt)
            if lo is None or hi is None or not 0 < lo <= hi:
                self.c.inc("bad_values")
                why = "unusable (%r, %r)" % (got[lo_id], got[hi_id])
            else:
                thr = (lo, hi)
        else:
            why = "formatting unknown"
        if thr is not None:
            st.thresholds = thr
            st.thr_backoff_s = 0
            return
        self.c.inc("threshold_failures")
        b = min(_THR_RETRY_MAX_S, st.thr_backoff_s * 2 if st.thr_backoff_s else _THR_RETRY_S)
        st.thr_backoff_s = b
        st.thr_next_utc = clock.now() + b
        log.info(_TAG, "%s: ambient thresholds %s; meter's indicator, retry in %d s", m.name,
                 why, b)  # fmt: skip

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
        i = rec.find(_RECEIVED)
        if i >= 0:
            if rec.ok(i):
                milli = units.milli_u48(rec.hi[i], rec.lo[i], st.fmt)
                if milli is not None:
                    self._xfold(st, milli, t)
            elif rec.status[i] == F.UNSUPPORTED_ATTRIBUTE:
                self._x_unsupported(st)

    def _on_report(self, f, attr_id, value):
        st = self._reporter(f)
        if st is None:
            return
        t = clock.now()
        if attr_id == _DEMAND:
            self._demand(st, value, t)
        elif attr_id == _SUMMATION:
            self._summation(st, value, t)
        elif attr_id == _RECEIVED:
            self._xsummation(st, value, t)

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
        milli = _milli(st, hi, lo)
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
        off = clock.offset()  # a module int: 0 B
        if st.summ_milli is None:
            st.summ_milli, st.summ_utc, st.summ_off = milli, t, off
            st.gas_rem = 0
            st.hh_start = t - t % _HH_S
            bf = self._backfill()
            if bf is not None:  # after boot or a change of tenancy
                bf.after_boot(st, st.hh_start)
            self._publish_today(st, t)
            return
        if off != st.summ_off:  # the clock was corrected since the last reading
            self._redate(st, off)
        if t < st.summ_utc - _HH_S:
            # before the last reading by more than any correction explains (a caller's own
            # times): the open half-hour cannot be dated; a new baseline
            self.c.inc("time_backwards")
            log.warn(_TAG, "%s: reading at %s before the last one (%s): new baseline, %d Wh of"
                     " the open half-hour dropped", st.meter.name, clock.iso(t),
                     clock.iso(st.summ_utc), st.hh_wh)  # fmt: skip
            st.summ_milli, st.summ_utc = milli, t
            st.gas_rem = 0
            st.hh_start = t - t % _HH_S
            st.hh_wh = 0
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

    def _redate(self, st, off):
        # The clock was corrected by `shift` since the last reading: that reading's time moves
        # with it, so the span to the next one is the real one (a step of a year is not a gap
        # of a year). After a step (beyond clock.threshold_s()) the open half-hour moves too;
        # a small correction leaves it (its half-hour may already be stored).
        shift = off - st.summ_off
        st.summ_off = off
        st.summ_utc += shift
        th = clock.threshold_s()
        if shift > th or shift < -th:
            t = st.summ_utc
            st.hh_start = t - t % _HH_S
            log.info(_TAG, "%s: clock stepped %d s: the last reading re-dated to %s",
                     st.meter.name, shift, clock.iso(t))  # fmt: skip

    def _spread(self, st, t0, t1, wh):
        # Energy consumed between two readings goes to the half-hours it spans, pro rata by
        # time; each half-hour is appended to history when the next one starts. At most
        # _GAP_HH + 1 half-hours close here: a longer gap is summarised (_gap).
        if t1 - st.hh_start >= (_GAP_HH + 1) * _HH_S:
            self._gap(st, t1, wh)
            return
        self._pro_rata(st, t0, t1, wh, False)

    def _gap(self, st, t1, wh):
        # No reading for more than _GAP_HH half-hours (the meter unheard; a clock step is
        # re-dated instead, _redate). Pro rata it would be invented values in every half-hour
        # of the gap, in one step (a year: 17,520 appends, thousands of files). Instead the
        # open half-hour closes with what it had and the gap goes to the backfill (the meter's
        # own half-hours, meters/backfill.py), which writes what the meter did not account for
        # of the gap's energy as one record at the end; without a backfill that record is the
        # whole energy, at the gap's last half-hour: the totals stay right, two appends.
        first = st.hh_start
        self._close_interval(st)
        last = t1 - t1 % _HH_S - _HH_S
        self.c.inc("gaps")
        log.warn(_TAG, "%s: no reading for %d half-hours from %s: %d Wh", st.meter.name,
                 (last - first) // _HH_S, clock.iso(first), wh)  # fmt: skip
        st.hh_start = last + _HH_S
        st.hh_wh = 0
        bf = self._backfill()
        if bf is not None:
            bf.open(st, first + _HH_S, last + _HH_S, wh)
            return
        self.history.append(st.hist, last, wh, self.cost_hh(st, last, wh),
                            st.standing_mp_day)  # fmt: skip

    def cost_hh(self, st, hh_start, wh):
        # THE costing rule, for every half-hour costed (closed, open, backfilled from the meter:
        # meters/backfill.py): wh consumed in the half-hour starting at hh_start at the prices
        # in force during it (meters/tariff.py: split at a price boundary inside it; a block
        # tariff by the consumption of the block period before it). 0 when no price is known
        # (stored uncosted, as before a tariff is read or after a tariff clear). Energy only:
        # the standing charge is the day's (docs/meters.md "Standing charge").
        c = TF.cost_hh(st.prices, st.blocks, hh_start, wh)
        if c is None and st.unit_rate_mp_kwh is not None:
            # Before every price the device holds (a backfill of a past day): the HAN tells
            # nothing of past prices. The estimate: a known price at the same time of day on a
            # later day (exact for a flat tariff, and for a daily time-of-use schedule that has
            # not changed since), else the rate in force now (docs/meters.md "Gaps").
            c = units.cost_mp(wh, st.unit_rate_mp_kwh)
            for k in range(1, _EST_DAYS + 1):
                t = hh_start + k * _DAY_S
                if st.prices.covers(t):
                    c = TF.cost_hh(st.prices, None, t, wh)
                    break
        return 0 if c is None else c

    def _close_interval(self, st):
        t, wh = st.hh_start, st.hh_wh
        cost = self.cost_hh(st, t, wh)
        self.history.append(st.hist, t, wh, cost, st.standing_mp_day)
        st.prices.prune(t + _HH_S)  # what can still cost the open half-hour and later
        if st.blocks is not None:  # counted in its period; the block in force may change
            st.blocks.take(t, wh)
            self._publish_tariff(st)

    # ---------------- export (CurrentSummationReceived) ----------------

    def _x_unsupported(self, st):
        if st.x_state != _X_NO:
            st.x_state = _X_NO
            log.info(_TAG, "%s: no export register (CurrentSummationReceived unsupported)",
                     st.meter.name)  # fmt: skip

    def _xsummation(self, st, raw, t):
        milli = units.scaled_milli(raw, st.fmt)  # (a decoded int: see _summation)
        if milli is not None:
            self._xfold(st, milli, t)

    def export_u48(self, hi, lo, utc):
        # CurrentSummationReceived as two 24-bit halves (see summation_u48): 0 B in the open
        # half-hour. -> False if there is no ESME or its formatting is not read yet.
        st = self._by_fuel[ELEC_FUEL]
        milli = _milli(st, hi, lo)
        if milli is None:
            return False
        self._xfold(st, milli, utc)
        return True

    def _xfold(self, st, milli, t):
        # The export register folded into export half-hours as _fold does the import one
        # (thousandths of a kWh meter's unit are Wh). Kept apart from _fold: import carries
        # gas conversion, cost and the tariff. Only the ESME's (a GPF has no export).
        if t == 0 or st.fuel_id != ELEC_FUEL:
            return
        st.x_state = _X_YES
        off = clock.offset()
        if st.x_milli is not None and off != st.x_off:  # the clock was corrected: as _redate
            shift = off - st.x_off
            st.x_utc += shift
            th = clock.threshold_s()
            if shift > th or shift < -th:
                st.x_hh_start = st.x_utc - st.x_utc % _HH_S
        st.x_off = off
        if st.x_milli is None or t < st.x_utc - _HH_S:
            # the first reading (boot, tenancy), or one before the last beyond any correction:
            # a new baseline (the open half-hour's export of the latter dropped, as for import)
            if st.x_milli is not None:
                self.c.inc("time_backwards")
            st.x_milli, st.x_utc = milli, t
            st.x_hh_start = t - t % _HH_S
            st.x_hh_wh = 0
            self._publish_export(st, t)
            return
        delta = milli - st.x_milli
        if delta < 0:  # meter exchanged or register reset: never negative export
            self.c.inc("negative_deltas")
            log.warn(_TAG, "%s: export register went backwards by %d", st.meter.name, -delta)
            st.x_milli, st.x_utc = milli, t
            return
        self._xspread(st, st.x_utc, t, delta)
        st.x_milli, st.x_utc = milli, t
        self._publish_export(st, t)

    def _xspread(self, st, t0, t1, wh):
        # As _spread: pro rata by time into the half-hours between two readings; a gap beyond
        # _GAP_HH half-hours is one record at its last half-hour (as _gap).
        if t1 - st.x_hh_start >= (_GAP_HH + 1) * _HH_S:
            self._xclose(st)
            last = t1 - t1 % _HH_S - _HH_S
            st.x_hh_start, st.x_hh_wh = last, wh
            self._xclose(st)
            st.x_hh_start, st.x_hh_wh = last + _HH_S, 0
            self.c.inc("gaps")
            return
        self._pro_rata(st, t0, t1, wh, True)

    def _pro_rata(self, st, t0, t1, wh, export):
        # The energy between two readings (t0, t1) into the half-hours it spans, pro rata by
        # time, of the import flow or the export one; each half-hour is stored when the next
        # one starts (_close_interval / _xclose).
        span = max(1, t1 - t0)
        left = wh
        t = t0
        while True:
            hh_end = (st.x_hh_start if export else st.hh_start) + _HH_S
            part = left if t1 < hh_end else (wh * (hh_end - t) // span if hh_end > t else 0)
            if export:
                st.x_hh_wh += part
            else:
                st.hh_wh += part
            if t1 < hh_end:
                return
            left -= part
            if export:
                self._xclose(st)
                st.x_hh_start, st.x_hh_wh = hh_end, 0
            else:
                self._close_interval(st)
                st.hh_start, st.hh_wh = hh_end, 0
            if hh_end > t:
                t = hh_end

    def _xclose(self, st):
        # A half-hour without export is not stored (most homes, and every night: no files, no
        # RAM; an absent export row reads as none).
        if st.x_hh_wh > 0:
            self.history.append(EXPORT, st.x_hh_start, st.x_hh_wh, 0)

    def _publish_export(self, st, t):
        # Exported today = the store's half-hours of today + the open one (post visible_from);
        # shown only once the home has exported (today or in the last 13 months): None else.
        tot = self._export_totals(t) if self._export_totals is not None else None
        wh = tot[0] if tot is not None else 0
        day_start = t - t % _DAY_S
        vf = self.history.visible_from(EXPORT)
        if st.x_hh_start >= vf and st.x_hh_start >= day_start:
            wh += st.x_hh_wh
        exports = wh > 0 or (tot is not None and tot[3] > 0)
        self.model.set_export(wh if exports else None, max(day_start, vf))

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
            cost += self.cost_hh(st, st.hh_start, st.hh_wh)
        # the day's standing charge, once (docs/meters.md "Standing charge")
        if st.standing_mp_day is not None:
            cost += st.standing_mp_day
        self.model.set_today(st.fuel_id, energy, cost, max(day_start, vf), t)
