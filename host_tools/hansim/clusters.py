"""Server clusters of the simulated GB HAN devices (ids/layouts: zigbee-se.md).

Each class declares its attribute table and registers command handlers in `setup()`. The meter
state they read (energy model, tariff, pending tenancy/supplier changes) lives in
`meters.MeterState`, passed as `self.meter`.
"""

from __future__ import annotations

import struct
import time
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from . import zcl
from .energy import SLOT_S, history
from .simclock import ZIGBEE_EPOCH_UNIX, to_zigbee, uk_dst_bounds, uk_offset_s
from .zcl import (
    NOT_FOUND,
    T_BOOL,
    T_ENUM8,
    T_I24,
    T_I32,
    T_MAP8,
    T_MAP16,
    T_MAP32,
    T_OCTSTR,
    T_STRING,
    T_U8,
    T_U16,
    T_U24,
    T_U32,
    T_U48,
    T_UTC,
    Cluster,
    Request,
    ZclError,
)

if TYPE_CHECKING:
    from .meters import MeterState

INVALID_UTC = 0xFFFFFFFF
PROFILE_MAX_PERIODS = 12  # intervals per GetProfileResponse (fewer than the IHD asks: it pages)
INVALID_U32 = 0xFFFFFFFF


def octstr(text: str, max_len: int) -> bytes:
    data = text.encode()[:max_len]
    return bytes((len(data),)) + data


# Device Management (0x0708) server->client commands for a change of tenancy / supplier event
# (scenario.change_fields): command id and payload, shared by the meter's answers and pushes
# and by spoofed frames (han.Han.spoof), so an attack frame is byte for byte a meter's.
PUBLISH_CHANGE_OF_TENANCY = 0x00
PUBLISH_CHANGE_OF_SUPPLIER = 0x01


def publish_change_command(ev: Dict[str, Any]) -> int:
    if ev["type"] == "change_of_tenancy":
        return PUBLISH_CHANGE_OF_TENANCY
    return PUBLISH_CHANGE_OF_SUPPLIER


def publish_change_payload(ev: Dict[str, Any]) -> bytes:
    impl = to_zigbee(ev["implementation_unix"])
    if ev["type"] == "change_of_tenancy":
        return struct.pack("<IIBII", ev["provider_id"], ev["issuer_event_id"],
                           ev["tariff_type"], impl, ev["change_control"])  # fmt: skip
    return (
        struct.pack(
            "<IIBIII",
            ev["provider_id"],
            ev["issuer_event_id"],
            ev["tariff_type"],
            ev["proposed_provider_id"],
            impl,
            ev["change_control"],
        )
        + octstr(ev["proposed_provider_name"], 16)
        + octstr(ev["proposed_provider_contact"], 19)
    )


class Basic(Cluster):
    cluster_id = 0x0000
    name = "basic"

    def __init__(
        self,
        device: Any,
        endpoint: int,
        manufacturer: str = "hansim",
        model: str = "sim",
        power_source: int = 0x01,
    ):
        self._mfr = manufacturer
        self._model = model
        self._power = power_source
        super().__init__(device, endpoint)

    def setup(self) -> None:
        self.attr(0x0000, T_U8, 0x03, name="ZCLVersion")
        self.attr(0x0001, T_U8, 0x01, name="ApplicationVersion")
        self.attr(0x0002, T_U8, 0x01, name="StackVersion")
        self.attr(0x0003, T_U8, 0x01, name="HWVersion")
        self.attr(0x0004, T_STRING, self._mfr, name="ManufacturerName")
        self.attr(0x0005, T_STRING, self._model, name="ModelIdentifier")
        self.attr(0x0006, T_STRING, "20260101", name="DateCode")
        self.attr(0x0007, T_ENUM8, self._power, name="PowerSource")
        self.attr(0x0012, T_BOOL, 1, name="DeviceEnabled")


class TimeServer(Cluster):
    # The device's own clock is the network's (simulated UTC) unless a `hub_time` fault
    # (docs/scenario-format.md) moves it: `offset_s` added to it, or `fixed` (a raw uint32)
    # answered whatever the time. Only this device's Time cluster is affected.
    cluster_id = 0x000A
    name = "time"

    def __init__(self, device: Any, endpoint: int, master: bool = True):
        self._master = master
        self.offset_s = 0.0
        self.fixed: Optional[int] = None
        super().__init__(device, endpoint)

    def clock_unix(self) -> float:
        return self.device.now() + self.offset_s

    def _utc(self, local: bool = False) -> int:
        if self.fixed is not None:
            return self.fixed
        t = self.clock_unix()
        v = to_zigbee(t) + (uk_offset_s(t) if local else 0)
        return min(max(v, 0), 0xFFFFFFFF)

    def fault(
        self,
        jump_s: Optional[float] = None,
        set_unix: Optional[float] = None,
        value: Optional[int] = None,
        reset: bool = False,
    ) -> None:
        # hub_time event: reset to the network clock, then a jump (cumulative), a new running
        # time, or a fixed raw value.
        if reset:
            self.offset_s, self.fixed = 0.0, None
        if jump_s is not None:
            self.offset_s += jump_s
            self.fixed = None
        if set_unix is not None:
            self.offset_s = set_unix - self.device.now()
            self.fixed = None
        if value is not None:
            self.fixed = value

    def setup(self) -> None:
        status = 0x07 if self._master else 0x02  # Master|Synchronized|MasterZoneDst

        def dst(i: int) -> int:
            return to_zigbee(uk_dst_bounds(time.gmtime(self.clock_unix()).tm_year)[i])

        self.attr(0x0000, T_UTC, getter=self._utc, name="Time")
        self.attr(0x0001, T_MAP8, status, name="TimeStatus")
        self.attr(0x0002, T_I32, 0, name="TimeZone")
        self.attr(0x0003, T_U32, getter=lambda: dst(0), name="DstStart")
        self.attr(0x0004, T_U32, getter=lambda: dst(1), name="DstEnd")
        self.attr(0x0005, T_I32, 3600, name="DstShift")
        self.attr(0x0006, T_U32, getter=self._utc, name="StandardTime")
        self.attr(0x0007, T_U32, getter=lambda: self._utc(local=True), name="LocalTime")
        self.attr(0x0008, T_UTC, to_zigbee(self.device.start_unix), name="LastSetTime")
        self.attr(0x0009, T_UTC, INVALID_UTC, name="ValidUntilTime")


class OtaServer(Cluster):
    # Comms Hub OTA Upgrade server. Only "no image" today; an image server can replace the
    # handlers (0x01 QueryNextImage, 0x03 ImageBlock, 0x06 UpgradeEnd) via `on()`.
    cluster_id = 0x0019
    name = "ota"

    def setup(self) -> None:
        self.on(0x01, self._query_next_image)

    def _query_next_image(self, req: Request) -> None:
        req.reply(0x02, bytes((0x98,)))  # QueryNextImageResponse NO_IMAGE_AVAILABLE


class Metering(Cluster):
    cluster_id = 0x0702
    name = "metering"

    def __init__(self, device: Any, endpoint: int, meter: MeterState):
        self.meter = meter
        super().__init__(device, endpoint)

    def setup(self) -> None:
        m = self.meter
        gas = m.fuel == "gas"
        now = self.device.now

        def hist(key: str, i: int, alt: bool = False) -> Any:
            def get() -> int:
                wh = history(m.model, m.reading_time(now()))[key][i]
                return m.wh_to_units(wh) if (gas and not alt) else wh

            return get

        self.attr(
            0x0000, T_U48, getter=lambda: m.summation(now()), name="CurrentSummationDelivered"
        )
        if m.export_model is not None:
            self.attr(
                0x0001,
                T_U48,
                getter=lambda: m.export_summation(now()),
                name="CurrentSummationReceived",
            )
        self.attr(0x0014, T_ENUM8, 0x02, name="SupplyStatus")
        sched = m.tariff.schedule
        if sched and not gas:  # CurrentTierNSummationDelivered (Wh, as the register)
            for tier in sorted({e["tier"] for e in sched}):
                self.attr(0x0100 + 2 * (tier - 1), T_U48,
                          getter=lambda tier=tier: m.tier_summation(now(), tier),
                          name="CurrentTier%dSummationDelivered" % tier)  # fmt: skip
        self.attr(0x0200, T_MAP8, 0x00, name="Status")
        self.attr(0x0300, T_ENUM8, 0x01 if gas else 0x00, name="UnitOfMeasure")
        self.attr(0x0301, T_U24, 1, name="Multiplier")
        self.attr(0x0302, T_U24, 1000, name="Divisor")
        self.attr(0x0303, T_MAP8, 0xFB, name="SummationFormatting")
        self.attr(0x0304, T_MAP8, 0xFB, name="DemandFormatting")
        self.attr(0x0305, T_MAP8, 0xFB, name="HistoricalConsumptionFormatting")
        self.attr(0x0306, T_MAP8, 0x01 if gas else 0x00, name="MeteringDeviceType")
        self.attr(0x0307, T_OCTSTR, m.site_id.encode(), name="SiteID")
        self.attr(0x0308, T_OCTSTR, m.serial.encode(), name="MeterSerialNumber")
        self.attr(0x0400, T_I24, getter=lambda: m.demand(now()), name="InstantaneousDemand")
        day_ids = [0x0401, 0x0403, 0x0420, 0x0422, 0x0424, 0x0426, 0x0428, 0x042A, 0x042C]
        week_ids = [0x0430, 0x0432, 0x0434, 0x0436, 0x0438, 0x043A]
        month_ids = [0x0440 + 2 * i for i in range(14)]
        for base in ((0x0000, False), (0x0800, True)) if gas else ((0x0000, False),):
            off, alt = base
            for i, a in enumerate(day_ids):
                self.attr(a + off, T_U24, getter=hist("day", i, alt))
            for i, a in enumerate(week_ids):
                self.attr(a + off, T_U24, getter=hist("week", i, alt))
            for i, a in enumerate(month_ids):
                self.attr(a + off, T_U32, getter=hist("month", i, alt))
        self.attr(0x045C, T_U16, 0x0000, name="HistoricalFreezeTime")
        if gas:
            self.attr(0x0312, T_ENUM8, 0x00, name="AlternativeUnitOfMeasure")
            self.attr(0x0313, T_MAP8, 0xFB, name="AlternativeDemandFormatting")
            self.attr(0x0314, T_MAP8, 0xFB, name="AlternativeConsumptionFormatting")
            self.attr(
                0x0C00,
                T_I24,
                getter=lambda: m.demand_w(now()),
                name="AlternativeInstantaneousDemand",
            )
        else:
            self.attr(
                0x0207,
                T_ENUM8,
                getter=lambda: m.ambient(now()),
                name="AmbientConsumptionIndicator",
            )
        self.attr(0x0A00, T_U32, getter=lambda: m.bill_to_date(now()), name="BillToDateDelivered")
        self.attr(0x0A01, T_UTC, getter=lambda: to_zigbee(now()), name="BillToDateTimeStamp")
        self.attr(0x0A04, T_MAP8, m.tariff.trailing_digit << 4, name="BillDeliveredTrailingDigit")
        if m.profile_days:
            self.on(0x00, self._get_profile)  # else: UNSUP_CLUSTER_COMMAND (zcl.py)

    def _get_profile(self, req: Request) -> None:
        # GetProfile (C->S 0x00: IntervalChannel enum8, EndTime UTC, NumberOfPeriods u8) ->
        # GetProfileResponse (S->C 0x00): EndTime, Status, ProfileIntervalPeriod (2 = 30 min),
        # NumberOfPeriodsDelivered, uint24 intervals newest first, in the historical
        # consumption formatting (Wh for the ESME, litres for the GPF, as the day attributes).
        # The block returned is the most recent one ending at/before EndTime (0: the latest);
        # only complete half-hours, at most PROFILE_MAX_PERIODS of them (a real ESME's limit),
        # none older than the meter's profile_days.
        if len(req.payload) < 6:
            raise ZclError(zcl.MALFORMED_COMMAND)
        channel, end_zb, n = struct.unpack_from("<BIB", req.payload, 0)
        m = self.meter
        now = req.now
        latest = int(m.reading_time(now) // SLOT_S * SLOT_S)
        end = (
            latest if end_zb == 0 else min(latest, (end_zb + ZIGBEE_EPOCH_UNIX) // SLOT_S * SLOT_S)
        )
        oldest = latest - m.profile_days * 86400
        status = 0x00
        if channel > 1:
            status = 0x01  # undefined channel
        elif channel == 1:
            status = 0x02  # consumption received: no export on these meters
        k = min(n, PROFILE_MAX_PERIODS, max(0, (end - oldest) // SLOT_S))
        if status == 0x00 and k == 0:
            status = 0x05  # no intervals available
        if status != 0x00:
            k = 0
        out = [m.interval_units(end - (i + 1) * SLOT_S) for i in range(k)]
        req.reply(
            0x00,
            struct.pack("<IBBB", to_zigbee(end), status, 0x02, k)
            + b"".join(struct.pack("<I", v)[:3] for v in out),
        )


class Price(Cluster):
    # Flat, time-of-use (a daily schedule of tiers) and block tariffs (hansim/tariffs.py):
    # GetCurrentPrice answers the period in force (tier, start, duration), GetScheduledPrices
    # the next ones; tick_pushes() gives the PublishPrice (and PublishBlockPeriod) a meter
    # pushes to the IHD at each change, as a hub does.
    cluster_id = 0x0700
    name = "price"

    def __init__(self, device: Any, endpoint: int, meter: MeterState):
        self.meter = meter
        self._pushed: Optional[tuple] = None  # (period start, rate, block period) last published
        super().__init__(device, endpoint)

    def setup(self) -> None:
        t = self.meter.tariff
        tm = self.meter.prices
        gas = self.meter.fuel == "gas"
        sched = t.schedule
        labels = {1: t.rate_label.encode()}
        if sched:
            labels = {e["tier"]: e["label"].encode() for e in sched}
        for tier, label in sorted(labels.items()):
            self.attr(0x0000 + tier - 1, T_OCTSTR, label, name="Tier%dPriceLabel" % tier)
        self.attr(0x0300, T_ENUM8, 0x02 if gas else 0x01, name="CommodityType")
        self.attr(0x0301, T_U32, t.standing_charge, name="StandingCharge")
        if gas:
            self.attr(0x0302, T_U32, t.conversion_factor, name="ConversionFactor")
            self.attr(0x0303, T_MAP8, 0x60, name="ConversionFactorTrailingDigit")
            self.attr(0x0304, T_U32, t.calorific_value, name="CalorificValue")
            self.attr(0x0305, T_ENUM8, 0x01, name="CalorificValueUnit")
            self.attr(0x0306, T_MAP8, 0x10, name="CalorificValueTrailingDigit")
        b = t.blocks
        if b is None:
            self.attr(0x0400, T_U32, t.unit_rate, name="NoTierBlock1Price")
        else:
            for i, x in enumerate(b["thresholds_wh"]):  # Wh = the Metering raw units here
                self.attr(0x0100 + i, T_U48, x, name="Block%dThreshold" % (i + 1))
            self.attr(0x010F, T_U8, len(b["thresholds_wh"]), name="BlockThresholdCount")
            days = b["period_s"] % 86400 == 0
            self.attr(0x0200, T_UTC, getter=lambda: to_zigbee(self._block_start()),
                      name="StartOfBlockPeriod")  # fmt: skip
            self.attr(0x0201, T_U24, b["period_s"] // (86400 if days else 60),
                      name="BlockPeriodDuration")  # fmt: skip
            self.attr(0x0202, T_U24, 1, name="ThresholdMultiplier")
            self.attr(0x0203, T_U24, 1, name="ThresholdDivisor")
            self.attr(0x0204, T_MAP8, 0x01 if days else 0x00, name="BlockPeriodDurationType")
            for i, x in enumerate(b["prices"]):
                self.attr(0x0400 + i, T_U32, x, name="NoTierBlock%dPrice" % (i + 1))
        if sched:  # GBCS: TierNBlock1Price carries the TOU prices
            for e in sched:
                self.attr(0x0410 + 0x10 * (e["tier"] - 1), T_U32, e["unit_rate"],
                          name="Tier%dBlock1Price" % e["tier"])  # fmt: skip
        self.attr(0x0610, T_OCTSTR, t.tariff_label.encode(), name="TariffLabel")
        self.attr(0x0611, T_U8, tm.tiers(), name="NumberOfPriceTiersInUse")
        self.attr(0x0612, T_U8, len(b["thresholds_wh"]) if b else 0,
                  name="NumberOfBlockThresholdsInUse")  # fmt: skip
        self.attr(0x0615, T_ENUM8, 0x00, name="UnitOfMeasure")
        self.attr(0x0616, T_U16, t.currency, name="Currency")
        self.attr(0x0617, T_MAP8, t.trailing_digit, name="PriceTrailingDigit")
        self.on(0x00, self._get_current_price)
        self.on(0x01, self._get_scheduled_prices)
        self.on(0x02, lambda req: None)  # PriceAcknowledgement -> Default Response SUCCESS
        self.on(0x06, self._get_tariff_information)

    def _block_start(self) -> float:
        bp = self.meter.prices.block_period(self.device.now())
        b = self.meter.tariff.blocks
        return bp[0] if bp else (b["start_unix"] if b else 0)

    def publish_price_payload(self, now: float, period: Any = None) -> bytes:
        t = self.meter.tariff
        tm = self.meter.prices
        cur = period is None
        p = tm.period_at(now) if cur else period
        price = tm.current_price(self.meter.model, now) if cur else p.rate
        n_tiers = tm.tiers()
        b = t.blocks
        return (
            struct.pack("<I", t.provider_id)
            + octstr(p.label, 12)
            + struct.pack(
                "<IIBHBBIHI",
                p.eid,
                to_zigbee(now),
                0x00,
                t.currency,
                (t.trailing_digit << 4) | p.tier,
                (n_tiers << 4) | p.tier,
                to_zigbee(p.start),
                p.duration_min(),
                price,
            )
            # optional SE 1.2+ fields, "not used" but the number of block thresholds
            + struct.pack(
                "<BIBIBBBBBBBBB",
                0xFF,
                INVALID_U32,
                0xFF,
                INVALID_U32,
                0xFF,
                0xFF,
                len(b["thresholds_wh"]) if b else 0x00,
                0x00,
                0x00,
                0x00,
                0x00,
                0x00,
                0x00,
            )
        )

    def block_period_payload(self, now: float) -> Optional[bytes]:
        t = self.meter.tariff
        b = t.blocks
        bp = self.meter.prices.block_period(now)
        if b is None or bp is None:
            return None
        days = b["period_s"] % 86400 == 0
        dur = b["period_s"] // (86400 if days else 60)
        eid = t.issuer_event_id + int(bp[0] - self.meter.start_unix) // 60 % 1000000
        return (
            struct.pack("<III", t.provider_id, eid, to_zigbee(bp[0]))
            + dur.to_bytes(3, "little")
            # control, duration type (timebase: 0 minutes, 1 days), tariff type, resolution
            + bytes((0x00, 0x01 if days else 0x00, 0x00, 0x00))
        )

    def tick_pushes(self, now: float) -> List[tuple]:
        # (command id, payload) for the IHD: PublishPrice when the price published changes
        # (a new period, a price change, a new block), PublishBlockPeriod at a new block period
        tm = self.meter.prices
        p = tm.period_at(now)
        bp = tm.block_period(now)
        key = (p.start, p.eid, tm.current_price(self.meter.model, now), bp)
        old, self._pushed = self._pushed, key
        if old is None or old == key:
            return []
        out: List[tuple] = []
        if bp != old[3] and bp is not None:
            bpp = self.block_period_payload(now)
            if bpp is not None:
                out.append((0x01, bpp))
        out.append((0x00, self.publish_price_payload(now)))
        return out

    def _get_current_price(self, req: Request) -> None:
        req.reply(0x00, self.publish_price_payload(req.now))

    def _get_scheduled_prices(self, req: Request) -> None:
        # StartTime (0: now), NumberOfEvents (0: all it has; here up to 4): the periods
        # starting at or after it, each as a PublishPrice; none known: NOT_FOUND
        if len(req.payload) < 5:
            raise ZclError(0x80)  # MALFORMED_COMMAND
        start_zb, n = struct.unpack_from("<IB", req.payload)
        now = req.now
        t = max(now, float(start_zb + 946684800) - 1) if start_zb else now
        periods = self.meter.prices.periods_after(t, min(n or 4, 4))
        if not periods:
            req.default_response(NOT_FOUND)
            return
        for p in periods:
            req.reply(0x00, self.publish_price_payload(now, p))

    def _get_tariff_information(self, req: Request) -> None:
        t = self.meter.tariff
        b = t.blocks
        scheme = 0x10 if b else 0x00  # Block / TOU
        payload = (
            struct.pack(
                "<IIII",
                t.provider_id,
                t.issuer_event_id,
                t.issuer_tariff_id,
                to_zigbee(self.meter.start_unix),
            )
            + bytes((scheme,))
            + octstr(t.tariff_label, 24)
            + struct.pack(
                "<BBBHBIB",
                self.meter.prices.tiers(),
                len(b["thresholds_wh"]) if b else 0,
                0x00,
                t.currency,
                t.trailing_digit << 4,
                t.standing_charge,
                0xFF,
            )
            + (1).to_bytes(3, "little")
            + (1).to_bytes(3, "little")
        )
        req.reply(0x04, payload)


class Prepayment(Cluster):
    # Attributes only for now. ConsumerTopUp (0x04), SelectAvailableEmergencyCredit (0x00) etc.
    # are meant to be registered later: `cluster.on(0x04, handler)`.
    cluster_id = 0x0705
    name = "prepayment"

    def __init__(self, device: Any, endpoint: int, meter: MeterState):
        self.meter = meter
        super().__init__(device, endpoint)

    def setup(self) -> None:
        m = self.meter
        now = self.device.now
        prepay = m.payment_mode == "prepayment"
        self.attr(
            0x0000, T_MAP16, 0x0497 if prepay else 0x0C94, name="PaymentControlConfiguration"
        )
        self.attr(0x0001, T_I32, getter=lambda: m.credit_remaining(now()), name="CreditRemaining")
        self.attr(
            0x0002, T_I32, m.emergency_credit if prepay else 0, name="EmergencyCreditRemaining"
        )
        self.attr(0x0003, T_MAP8, getter=lambda: m.credit_status(now()), name="CreditStatus")
        self.attr(0x0004, T_UTC, getter=lambda: to_zigbee(now()), name="CreditRemainingTimestamp")
        self.attr(0x0005, T_I32, 0, name="AccumulatedDebt")
        self.attr(0x0010, T_U32, m.emergency_credit, name="EmergencyCreditLimitAllowance")
        self.attr(0x0011, T_U32, m.emergency_credit // 2, name="EmergencyCreditThreshold")
        self.attr(0x0020, T_U48, m.initial_credit if prepay else 0, name="TotalCreditAdded")
        self.attr(0x0031, T_U32, m.low_credit_warning, name="LowCreditWarningLevel")
        self.attr(0x0500, T_MAP8, 0xFB, name="HistoricalCostConsumptionFormatting")
        self.attr(0x0502, T_ENUM8, 0x00, name="CurrencyScalingFactor")
        self.attr(0x0503, T_U16, m.tariff.currency, name="Currency")
        day_ids = [0x051C, 0x051E] + [0x0520 + 2 * i for i in range(7)]
        week_ids = [0x0530, 0x0532, 0x0534, 0x0536, 0x0538, 0x053A]
        month_ids = [0x0540 + 2 * i for i in range(14)]

        def cost(key: str, i: int) -> Any:
            return lambda: m.cost_of(history(m.model, m.reading_time(now()))[key][i])

        for ids, key in ((day_ids, "day"), (week_ids, "week"), (month_ids, "month")):
            for i, a in enumerate(ids):
                self.attr(a, T_U48, getter=cost(key, i))


# Messaging (0x0703) commands (zigbee-se.md section 8), checked against zigpy in
# tests/host/test_hansim_messaging.py.
MSG_DISPLAY = 0x00
MSG_CANCEL = 0x01
MSG_DISPLAY_PROTECTED = 0x02
MSG_CANCEL_ALL = 0x03
MSG_UNTIL_CANCELLED = 0xFFFF


def display_message_payload(m: Dict[str, Any]) -> bytes:
    # DisplayMessage / DisplayProtectedMessage: id, control, start (0: now), minutes, text
    start = 0 if m.get("start_unix") is None else to_zigbee(m["start_unix"])
    return struct.pack("<IBIH", m["id"], m["control"], start, m["duration_min"]) + octstr(
        m["text"], 200
    )


class Messaging(Cluster):
    """The Messaging server: the hub's pushes what `message` events say; GetLastMessage answers
    the last message still on (else NOT_FOUND); MessageConfirmations are recorded
    (`confirmations`, in the control channel's `status` as `messaging`)."""

    cluster_id = 0x0703
    name = "messaging"

    def __init__(self, device: Any, endpoint: int):
        self.messages: List[Dict[str, Any]] = []  # displayed, newest last, until cancelled
        self.confirmations: List[Dict[str, Any]] = []
        super().__init__(device, endpoint)

    def setup(self) -> None:
        self.on(0x00, self._get_last_message)
        self.on(0x01, self._message_confirmation)
        self.on(0x02, lambda req: req.default_response(NOT_FOUND))  # GetMessageCancellation

    def _on(self, m: Dict[str, Any], now: float) -> bool:
        start = m["sent_unix"] if m.get("start_unix") is None else m["start_unix"]
        if m["duration_min"] == MSG_UNTIL_CANCELLED:
            return True
        return now < start + m["duration_min"] * 60

    def last(self, now: float) -> Optional[Dict[str, Any]]:
        on = [m for m in self.messages if self._on(m, now)]
        return on[-1] if on else None

    def event(self, ev: Dict[str, Any], now: float) -> tuple[int, bytes]:
        """A `message` event -> (command, payload) to push; the server's state follows."""
        if ev.get("cancel_all"):
            self.messages = []
            t = ev.get("start_unix")
            return MSG_CANCEL_ALL, struct.pack("<I", 0 if t is None else to_zigbee(t))
        if ev.get("cancel"):
            self.messages = [m for m in self.messages if m["id"] != ev["id"]]
            return MSG_CANCEL, struct.pack("<IB", ev["id"], ev["control"])
        m = dict(ev, sent_unix=now)
        self.messages = [x for x in self.messages if x["id"] != ev["id"]] + [m]
        cmd = MSG_DISPLAY_PROTECTED if ev.get("protected") else MSG_DISPLAY
        return cmd, display_message_payload(m)

    def _get_last_message(self, req: Request) -> None:
        m = self.last(req.now)
        if m is None:
            req.default_response(NOT_FOUND)
            return
        cmd = MSG_DISPLAY_PROTECTED if m.get("protected") else MSG_DISPLAY
        req.reply(cmd, display_message_payload(m))

    def _message_confirmation(self, req: Request) -> None:
        p = req.payload
        mid, t = struct.unpack_from("<II", p, 0)
        rec: Dict[str, Any] = {"id": mid, "time": t, "control": None, "response": None,
                               "from": "0x%04X" % req.src}  # fmt: skip
        if len(p) > 8:
            rec["control"] = p[8]
        if len(p) > 9:
            n = p[9]
            if n != 0xFF:
                if 10 + n > len(p):
                    raise ValueError("response past the end")
                rec["response"] = p[10 : 10 + n].decode("utf-8", "replace")
        self.confirmations.append(rec)

    def status(self) -> Dict[str, Any]:
        now = self.device.now()
        last = self.last(now)
        return {
            "messages": [m["id"] for m in self.messages if self._on(m, now)],
            "last": None if last is None else last["id"],
            "confirmations": list(self.confirmations),
        }


class DeviceManagement(Cluster):
    """mode "commands": Get* answered; "attributes_only": commands -> UNSUP_CLUSTER_COMMAND."""

    cluster_id = 0x0708
    name = "device_management"

    def __init__(self, device: Any, endpoint: int, meter: MeterState, mode: str):
        self.meter = meter
        self.mode = mode
        super().__init__(device, endpoint)

    def setup(self) -> None:
        m = self.meter
        now = self.device.now
        t = m.tariff

        def cot(field: str, default: Any) -> Any:
            def get() -> Any:
                ev = m.pending("change_of_tenancy", now())
                return default if ev is None else ev[field]

            return get

        def cos(field: str, default: Any) -> Any:
            def get() -> Any:
                ev = m.pending("change_of_supplier", now())
                return default if ev is None else ev[field]

            return get

        self.attr(0x0100, T_U32, t.provider_id, name="ProviderID")
        self.attr(0x0101, T_OCTSTR, t.supplier_name.encode()[:16], name="ProviderName")
        self.attr(
            0x0102, T_OCTSTR, t.supplier_contact.encode()[:19], name="ProviderContactDetails"
        )
        self.attr(
            0x0110,
            T_U32,
            getter=cos("proposed_provider_id", INVALID_U32),
            name="ProposedProviderID",
        )
        self.attr(
            0x0111,
            T_OCTSTR,
            getter=cos("proposed_provider_name_b", b""),
            name="ProposedProviderName",
        )
        self.attr(
            0x0112,
            T_UTC,
            getter=cos("implementation_zb", INVALID_UTC),
            name="ProposedProviderChangeDateTime",
        )
        self.attr(
            0x0113, T_MAP32, getter=cos("change_control", 0), name="ProposedProviderChangeControl"
        )
        self.attr(
            0x0114,
            T_OCTSTR,
            getter=cos("proposed_provider_contact_b", b""),
            name="ProposedProviderContactDetails",
        )
        self.attr(
            0x0200,
            T_UTC,
            getter=cot("implementation_zb", INVALID_UTC),
            name="ChangeOfTenancyUpdateDateTime",
        )
        self.attr(
            0x0201, T_MAP32, getter=cot("change_control", 0), name="ProposedTenancyChangeControl"
        )
        self.attr(0x0300, T_ENUM8, 0x01, name="WANStatus")
        self.attr(0x0400, T_U32, m.low_medium_w, name="LowMediumThreshold")
        self.attr(0x0401, T_U32, m.medium_high_w, name="MediumHighThreshold")
        if self.mode == "commands":
            self.on(0x00, self._get_change_of_tenancy)
            self.on(0x01, self._get_change_of_supplier)
            self.on(0x03, lambda req: req.default_response(NOT_FOUND))  # GetSiteID
            self.on(0x05, lambda req: req.default_response(NOT_FOUND))  # GetCIN

    def handle(self, req: Request) -> None:
        # device_management_silent: requests in a window get no answer (the IHD times out)
        if self.meter.dm_silent_now(req.now, bool(req.fc & zcl.FC_CLUSTER)):
            self.meter.dm_dropped += 1
            return
        super().handle(req)

    def tenancy_payload(self, now: float) -> Optional[bytes]:
        ev = self.meter.pending("change_of_tenancy", now)
        return None if ev is None else publish_change_payload(ev)

    def supplier_payload(self, now: float) -> Optional[bytes]:
        ev = self.meter.pending("change_of_supplier", now)
        return None if ev is None else publish_change_payload(ev)

    def _get_change_of_tenancy(self, req: Request) -> None:
        payload = self.tenancy_payload(req.now)
        if payload is None:
            raise ZclError(NOT_FOUND)
        req.reply(0x00, payload)

    def _get_change_of_supplier(self, req: Request) -> None:
        payload = self.supplier_payload(req.now)
        if payload is None:
            raise ZclError(NOT_FOUND)
        req.reply(0x01, payload)


__all__ = [
    "Basic",
    "TimeServer",
    "OtaServer",
    "Metering",
    "Price",
    "Prepayment",
    "Messaging",
    "DeviceManagement",
    "zcl",
]
