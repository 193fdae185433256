"""Meter state (energy model, tariff, pending Device Management changes) and the construction of
the simulated devices: ESME, GPF and the Comms Hub."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

from . import clusters as cl
from . import prepay
from .energy import SLOT_S, EnergyModel, SolarModel
from .scenario import MeterSpec, Scenario
from .simclock import to_zigbee
from .tariffs import TariffModel
from .zcl import Device

KWH_PER_M3_X1000 = 11_221  # 39.5 MJ/m3 * 1.02264 / 3.6 -> 11.221 kWh per m3


class MeterState:
    def __init__(self, spec: MeterSpec, start_unix: float):
        self.spec = spec
        self.name = spec.name
        self.fuel = spec.fuel
        self.tariff = spec.tariff
        self.payment_mode = spec.payment_mode
        self.start_unix = start_unix
        p = spec.profile
        sp = spec.solar
        solar = (
            None if sp is None else SolarModel(sp["peak_w"], sp["cloud"], sp["seed"], sp["winter"])
        )
        args = (start_unix, p["base_load_w"], p["daily_shape"], p["noise"], p["seed"])
        self.model = EnergyModel(*args, spec.initial_reading_wh, solar, "import")
        # the export register (CurrentSummationReceived): grows only with solar; None: the
        # meter has none (the attribute is unsupported)
        self.export_model = (
            EnergyModel(*args, spec.initial_export_wh, solar, "export")
            if spec.export_register
            else None
        )
        self.site_id = spec.site_id
        self.serial = spec.serial
        self.initial_credit = spec.initial_credit
        self.emergency_credit = spec.emergency_credit
        self.low_credit_warning = spec.low_credit_warning
        self.low_medium_w = spec.low_medium_w
        self.medium_high_w = spec.medium_high_w
        self.events: Dict[str, List[Dict[str, Any]]] = {
            "change_of_tenancy": [],
            "change_of_supplier": [],
        }
        self.profile_days = spec.profile_days  # GetProfile history kept; 0: no GetProfile
        self.dm_silent = list(spec.dm_silent)  # [(from, until, commands only)] unix times
        self.dm_dropped = 0
        self.prices = TariffModel(spec.tariff, start_unix)  # periods, blocks, hansim's costs
        self.tier_cache: Dict[str, Any] = {}

    # ---- tariff: hansim's own cost model (tests compare the device's store with it) ----
    def price_changes(self, events: List[Dict[str, Any]]) -> None:
        # the scenario's `price_change` events of this meter, all at once (a model for tests;
        # the simulation applies each when it fires)
        for ev in events:
            if ev["type"] == "price_change" and ev["meter"] == self.name:
                self.prices.change(ev["at_unix"], ev["unit_rate"], ev["schedule"])

    def hh_cost(self, slot_start: float) -> Any:
        # (energy Wh, cost in tariff money units) of the half-hour starting at slot_start
        return self.prices.hh_cost(self.model, slot_start)

    def tier_summation(self, now: float, tier: int) -> int:
        return self.prices.tier_wh(self.model, self.reading_time(now), tier, self.tier_cache)

    # ---- energy ----
    def reading_time(self, now: float) -> float:
        # a GPF only learns the gas register every 30 minutes
        if self.fuel == "gas":
            return (now // SLOT_S) * SLOT_S
        return now

    def wh_to_units(self, wh: int) -> int:
        # gas: Wh -> litres (= m3 with divisor 1000)
        return wh * 1000 // KWH_PER_M3_X1000

    def interval_wh(self, start: float) -> int:
        # consumption in the half-hour starting at `start` (its slots sum to the day totals)
        return self.model.between_wh(start, start + SLOT_S)

    def interval_units(self, start: float) -> int:
        # ... in the meter's unit (GetProfile intervals: Wh, or litres for gas)
        wh = self.interval_wh(start)
        return min(self.wh_to_units(wh) if self.fuel == "gas" else wh, 0xFFFFFF)

    def summation(self, now: float) -> int:
        wh = self.model.register_wh(self.reading_time(now))
        return self.wh_to_units(wh) if self.fuel == "gas" else wh

    def export_summation(self, now: float) -> int:
        # CurrentSummationReceived, Wh (the export register; 0 forever without solar)
        assert self.export_model is not None
        return self.export_model.register_wh(now)

    def demand_w(self, now: float) -> int:
        if self.fuel == "gas":
            t = self.reading_time(now) - 1  # last complete half hour
            return int(self.model.power_w(t))
        if self.export_model is not None:  # signed (SE): negative while exporting
            return int(self.model.power_w(now) - self.export_model.power_w(now))
        return int(self.model.power_w(now))

    def demand(self, now: float) -> int:
        w = self.demand_w(now)
        return self.wh_to_units(w) if self.fuel == "gas" else w  # gas: litres/h

    def ambient(self, now: float) -> int:
        w = self.demand_w(now)
        return 0 if w < self.low_medium_w else (1 if w < self.medium_high_w else 2)

    # ---- money (units of 10^-trailing_digit of the currency) ----
    def cost_of(self, wh: int) -> int:
        return wh * self.tariff.unit_rate // 1000

    def bill_to_date(self, now: float) -> int:
        days = max(0.0, (now - self.start_unix) / 86400.0)
        used = self.model.register_wh(self.reading_time(now)) - self.model.initial_wh
        return int(self.cost_of(max(used, 0)) + days * self.tariff.standing_charge)

    def credit_remaining(self, now: float) -> int:
        if self.payment_mode != "prepayment":
            return 0
        return self.initial_credit - self.bill_to_date(now)

    def credit_status(self, now: float) -> int:
        if self.payment_mode != "prepayment":
            return 0x00
        credit = self.credit_remaining(now)
        if credit <= 0:
            return 0x40
        return 0x01 | (0x02 if credit < self.low_credit_warning else 0)

    # ---- Device Management ----
    def add_event(self, ev: Dict[str, Any]) -> None:
        e = dict(ev)
        e["implementation_zb"] = to_zigbee(e["implementation_unix"])
        if e["type"] == "change_of_supplier":
            e["proposed_provider_name_b"] = e["proposed_provider_name"].encode()[:16]
            e["proposed_provider_contact_b"] = e["proposed_provider_contact"].encode()[:19]
        self.events[e["type"]].append(e)

    def dm_silent_now(self, now: float, cluster_command: bool) -> bool:
        # device_management_silent: is a request to the Device Management server ignored now?
        return any(
            t0 <= now < t1 and (cluster_command or not commands_only)
            for t0, t1, commands_only in self.dm_silent
        )

    def pending(self, kind: str, now: float) -> Optional[Dict[str, Any]]:
        # the latest change the meter has learnt of (at <= now) and not yet expired
        best = None
        for e in self.events[kind]:
            learnt = e["at_unix"] <= now
            expired = e.get("until_unix") is not None and now >= e["until_unix"]
            if learnt and not expired and (best is None or e["at_unix"] >= best["at_unix"]):
                best = e
        return best


def build_devices(scn: Scenario, now: Any) -> Dict[str, Any]:
    """Returns {"devices": [Device...], "meters": {name: (MeterState, Device)}}."""
    devices: List[Device] = []
    meters: Dict[str, Any] = {}
    ch = scn.comms_hub
    hub = Device("comms_hub", ch["node_id"], ch["eui64"], now)
    hub.start_unix = scn.start_unix
    ep = ch["endpoint"]
    hub.add_cluster(ep, cl.Basic, "hansim", "CommsHub", 0x01)
    hub.add_cluster(ep, cl.TimeServer, True)
    hub.add_cluster(ep, cl.OtaServer)
    hub.add_cluster(ep, cl.Messaging)  # the supplier's messages (`message` events)
    devices.append(hub)
    for spec in scn.meters:
        state = MeterState(spec, scn.start_unix)
        for ev in scn.events:
            if (
                ev["type"] in ("change_of_tenancy", "change_of_supplier")
                and ev["meter"] == spec.name
            ):
                state.add_event(ev)
        dev = Device(spec.name, spec.node_id, spec.eui64, now)
        dev.start_unix = scn.start_unix
        e = spec.endpoint
        gas = spec.fuel == "gas"
        dev.add_cluster(e, cl.Basic, "hansim", "GPF" if gas else "ESME", 0x01 if not gas else 0x03)
        dev.add_cluster(e, cl.Metering, state)
        dev.add_cluster(e, cl.Price, state)
        prepay.install(dev.add_cluster(e, cl.Prepayment, state), state)
        if spec.device_management != "none":
            dev.add_cluster(e, cl.DeviceManagement, state, spec.device_management)
        if not gas:
            dev.add_cluster(e, cl.TimeServer, False)
            dev.add_cluster(e, cl.Messaging)
        devices.append(dev)
        meters[spec.name] = (state, dev)
    return {"devices": devices, "meters": meters, "hub": hub}
