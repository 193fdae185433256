"""Scenario files (docs/scenario-format.md): load, validate with clear errors, normalise."""

from __future__ import annotations

import json
import os
import re
import struct
from typing import Any, Dict, List, Optional

from .simclock import parse_iso_utc

SCENARIO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scenarios")

FUELS = ("electricity", "gas")
PAYMENT_MODES = ("credit", "prepayment")
DM_MODES = ("commands", "attributes_only", "none")
EVENT_TYPES = (
    "change_of_tenancy",
    "change_of_supplier",
    "ncp_reset",
    "meter_offline",
    "link_corruption",
    "slow_responses",
    "hub_offline",
    "spoof",
    "hub_time",
    "message",
    "price_change",
)
SPOOF_FRAMES = ("change_of_tenancy", "change_of_supplier", "report_attributes", "zcl")
_CHANGE_FIELDS = (
    "implementation_time",
    "provider_id",
    "issuer_event_id",
    "change_control",
    "tariff_type",
)
_SUPPLIER_FIELDS = ("proposed_provider_id", "proposed_provider_name", "proposed_provider_contact")

FLAT_SHAPE = [1.0] * 24
ELEC_SHAPE = [
    0.6,
    0.5,
    0.5,
    0.5,
    0.5,
    0.6,
    0.9,
    1.4,
    1.3,
    1.0,
    0.9,
    0.9,
    1.0,
    0.9,
    0.9,
    1.0,
    1.3,
    2.0,
    2.4,
    2.1,
    1.7,
    1.4,
    1.0,
    0.8,
]
GAS_SHAPE = [
    0.1,
    0.1,
    0.1,
    0.1,
    0.2,
    0.6,
    2.6,
    2.8,
    1.6,
    0.6,
    0.4,
    0.4,
    0.4,
    0.4,
    0.4,
    0.6,
    1.4,
    2.4,
    2.6,
    2.2,
    1.8,
    1.2,
    0.4,
    0.1,
]


class ScenarioError(ValueError):
    pass


def parse_duration(value: Any, where: str) -> float:
    # 90, "90s", "30m", "3h", "2d", "1h30m"
    if isinstance(value, bool):
        raise ScenarioError("%s: expected a duration, got %r" % (where, value))
    if isinstance(value, (int, float)):
        if value < 0:
            raise ScenarioError("%s: negative duration %r" % (where, value))
        return float(value)
    if isinstance(value, str):
        parts = re.findall(r"(\d+(?:\.\d+)?)([smhd])", value.strip())
        if parts and "".join(n + u for n, u in parts) == value.strip():
            mult = {"s": 1, "m": 60, "h": 3600, "d": 86400}
            return sum(float(n) * mult[u] for n, u in parts)
    raise ScenarioError(
        '%s: bad duration %r (use seconds or e.g. "30m", "3h", "1h30m")' % (where, value)
    )


def parse_time(value: Any, start_unix: float, where: str) -> float:
    # ISO UTC ("2026-01-15T09:00:00Z") or relative to the start ("+3h", "+90m")
    if isinstance(value, str) and value.startswith("+"):
        return start_unix + parse_duration(value[1:], where)
    if isinstance(value, str):
        try:
            return parse_iso_utc(value)
        except ValueError as e:
            raise ScenarioError("%s: %s" % (where, e)) from None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return start_unix + float(value)
    raise ScenarioError(
        '%s: bad time %r (ISO UTC like "2026-01-15T09:00:00Z" or "+3h")' % (where, value)
    )


def parse_int(value: Any, where: str, lo: int = 0, hi: int = 0xFFFFFFFF) -> int:
    if isinstance(value, str):
        try:
            v = int(value, 0)
        except ValueError:
            raise ScenarioError("%s: not an integer: %r" % (where, value)) from None
    elif isinstance(value, int) and not isinstance(value, bool):
        v = value
    else:
        raise ScenarioError("%s: expected an integer, got %r" % (where, value))
    if not lo <= v <= hi:
        raise ScenarioError("%s: %d out of range [%d, %d]" % (where, v, lo, hi))
    return v


def parse_eui64(value: Any, where: str) -> bytes:
    # display order "00:0D:6F:00:0A:1B:2C:3D" -> wire order (little-endian)
    if not isinstance(value, str):
        raise ScenarioError('%s: EUI64 must be a string like "00:0D:6F:00:00:00:00:01"' % where)
    h = value.replace(":", "").replace("-", "")
    if len(h) != 16 or not re.fullmatch(r"[0-9a-fA-F]{16}", h):
        raise ScenarioError("%s: bad EUI64 %r" % (where, value))
    return bytes.fromhex(h)[::-1]


def eui64_str(wire: bytes) -> str:
    return ":".join("%02X" % b for b in wire[::-1])


def _get(d: Dict[str, Any], key: str, where: str, default: Any = ...) -> Any:
    if key in d:
        return d[key]
    if default is ...:
        raise ScenarioError("%s: missing required field %r" % (where, key))
    return default


def _check_keys(d: Any, allowed: tuple, where: str) -> None:
    if not isinstance(d, dict):
        raise ScenarioError("%s: expected an object" % where)
    unknown = sorted(set(d) - set(allowed))
    if unknown:
        raise ScenarioError(
            "%s: unknown field(s) %s (allowed: %s)"
            % (where, ", ".join(unknown), ", ".join(allowed))
        )


def _choice(value: Any, choices: tuple, where: str) -> str:
    if value not in choices:
        raise ScenarioError("%s: %r is not one of %s" % (where, value, ", ".join(choices)))
    return value


def change_field_names(kind: str) -> tuple:
    return _CHANGE_FIELDS + (_SUPPLIER_FIELDS if kind == "change_of_supplier" else ())


def change_fields(e: Dict[str, Any], kind: str, start: float, where: str) -> Dict[str, Any]:
    # The content of a PublishChangeOfTenancy / PublishChangeOfSupplier, as the
    # change_of_tenancy / change_of_supplier events and the spoof frames give it
    # (clusters.publish_change_payload encodes it).
    out: Dict[str, Any] = {"type": kind}
    out["implementation_unix"] = parse_time(
        _get(e, "implementation_time", where), start, where + ".implementation_time"
    )
    out["provider_id"] = parse_int(_get(e, "provider_id", where), where + ".provider_id")
    out["issuer_event_id"] = parse_int(
        _get(e, "issuer_event_id", where), where + ".issuer_event_id"
    )
    out["change_control"] = parse_int(e.get("change_control", 0x200), where + ".change_control")
    out["tariff_type"] = parse_int(e.get("tariff_type", 0), where + ".tariff_type", 0, 255)
    if kind == "change_of_supplier":
        out["proposed_provider_id"] = parse_int(
            _get(e, "proposed_provider_id", where), where + ".proposed_provider_id"
        )
        out["proposed_provider_name"] = str(_get(e, "proposed_provider_name", where))
        out["proposed_provider_contact"] = str(e.get("proposed_provider_contact", ""))
    return out


def _report_records(attrs: Any, where: str) -> bytes:
    # Report Attributes records [{"id", "type", "value"}] -> the ZCL payload
    from .zcl import encode_value

    if not isinstance(attrs, list) or not attrs:
        raise ScenarioError("%s: a non-empty list of {id, type, value}" % where)
    out = b""
    for i, a in enumerate(attrs):
        w = "%s[%d]" % (where, i)
        _check_keys(a, ("id", "type", "value"), w)
        attr_id = parse_int(_get(a, "id", w), w + ".id", 0, 0xFFFF)
        type_id = parse_int(_get(a, "type", w), w + ".type", 0, 0xFF)
        try:
            value = encode_value(type_id, _get(a, "value", w))
        except (KeyError, ValueError, TypeError, OverflowError) as err:
            raise ScenarioError("%s.value: cannot encode as ZCL type 0x%02X: %s"
                                % (w, type_id, err)) from None  # fmt: skip
        out += struct.pack("<HB", attr_id, type_id) + value
    return out


class Tariff:
    def __init__(self, d: Dict[str, Any], where: str, fuel: str, start_zb: int):
        _check_keys(
            d,
            (
                "unit_rate",
                "standing_charge",
                "currency",
                "trailing_digit",
                "supplier_name",
                "supplier_contact",
                "provider_id",
                "tariff_label",
                "rate_label",
                "issuer_event_id",
                "issuer_tariff_id",
                "calorific_value",
                "conversion_factor",
                "schedule",
                "blocks",
            ),
            where,
        )
        self.unit_rate = parse_int(_get(d, "unit_rate", where), where + ".unit_rate")
        self.standing_charge = parse_int(
            _get(d, "standing_charge", where), where + ".standing_charge"
        )
        self.currency = parse_int(d.get("currency", 826), where + ".currency", 0, 999)
        self.trailing_digit = parse_int(
            d.get("trailing_digit", 5), where + ".trailing_digit", 0, 15
        )
        self.supplier_name = str(_get(d, "supplier_name", where))
        if len(self.supplier_name.encode()) > 16:
            raise ScenarioError("%s.supplier_name: at most 16 bytes" % where)
        self.supplier_contact = str(d.get("supplier_contact", "0800 000 0000"))
        self.provider_id = parse_int(d.get("provider_id", 1), where + ".provider_id")
        self.tariff_label = str(d.get("tariff_label", "Standard variable"))
        self.rate_label = str(d.get("rate_label", "Standard"))
        self.issuer_event_id = parse_int(
            d.get("issuer_event_id", start_zb), where + ".issuer_event_id"
        )
        self.issuer_tariff_id = parse_int(
            d.get("issuer_tariff_id", 1), where + ".issuer_tariff_id"
        )
        # gas: CV in MJ/m3 x10 (trailing digit 1), conversion factor x10^6
        self.calorific_value = parse_int(d.get("calorific_value", 395), where + ".calorific_value")
        self.conversion_factor = parse_int(
            d.get("conversion_factor", 1022640), where + ".conversion_factor"
        )
        # time-of-use and block tariffs (hansim/tariffs.py, docs/scenario-format.md "Tariff")
        from .simclock import ZIGBEE_EPOCH_UNIX
        from .tariffs import parse_blocks, parse_schedule

        self.schedule = (
            parse_schedule(d["schedule"], where + ".schedule", ScenarioError)
            if "schedule" in d
            else None
        )
        self.blocks = (
            parse_blocks(
                d["blocks"],
                where + ".blocks",
                start_zb + ZIGBEE_EPOCH_UNIX,
                ScenarioError,
                parse_time,
                parse_duration,
            )  # fmt: skip
            if "blocks" in d
            else None
        )
        if self.blocks is not None and fuel != "electricity":
            raise ScenarioError("%s.blocks: electricity meters only" % where)


def _prepayment(pp: Any, where: str) -> Dict[str, Any]:
    # meters[].prepayment (docs/scenario-format.md "Prepayment"); money in tariff money units
    from .prepay import utrn_error

    _check_keys(
        pp,
        (
            "initial_credit",
            "emergency_credit",
            "emergency_credit_threshold",
            "emergency_credit_enabled",
            "low_credit_warning",
            "ihd_low_credit_warning",
            "max_credit",
            "max_credit_per_top_up",
            "debts",
            "utrns",
            "accept_any_valid",
            "keypad_locked",
        ),
        where,
    )
    out: Dict[str, Any] = {}
    for key, default in (
        ("initial_credit", 2000000),
        ("emergency_credit", 500000),
        ("low_credit_warning", 300000),
        ("ihd_low_credit_warning", 0),
        ("max_credit", 0),
        ("max_credit_per_top_up", 0),
    ):
        out[key] = parse_int(pp.get(key, default), "%s.%s" % (where, key), 0, 0x7FFFFFFF)
    out["emergency_credit_threshold"] = parse_int(
        pp.get("emergency_credit_threshold", out["emergency_credit"] // 2),
        where + ".emergency_credit_threshold",
        0,
        0x7FFFFFFF,
    )
    for key, default in (
        ("emergency_credit_enabled", True),
        ("accept_any_valid", True),
        ("keypad_locked", False),
    ):
        v = pp.get(key, default)
        if not isinstance(v, bool):
            raise ScenarioError("%s.%s: true or false" % (where, key))
        out[key] = v
    debts = pp.get("debts", [])
    if not isinstance(debts, list) or len(debts) > 3:
        raise ScenarioError("%s.debts: a list of at most 3 debts" % where)
    out["debts"] = []
    for i, dd in enumerate(debts):
        w = "%s.debts[%d]" % (where, i)
        _check_keys(dd, ("label", "amount", "recovery", "per_day", "percent"), w)
        rec = _choice(dd.get("recovery", "time"), ("time", "payment"), w + ".recovery")
        debt: Dict[str, Any] = {
            "label": str(dd.get("label", "Debt %d" % (i + 1))),
            "amount": parse_int(_get(dd, "amount", w), w + ".amount", 0, 0x7FFFFFFF),
            "recovery": rec,
        }
        if len(debt["label"].encode()) > 12:
            raise ScenarioError("%s.label: at most 12 bytes" % w)
        if rec == "time":
            debt["per_day"] = parse_int(_get(dd, "per_day", w), w + ".per_day", 0, 0x7FFFFFFF)
        else:
            pct = _get(dd, "percent", w)
            if not isinstance(pct, (int, float)) or isinstance(pct, bool) or not 0 <= pct <= 100:
                raise ScenarioError("%s.percent: number in [0, 100]" % w)
            debt["percent_x100"] = int(round(pct * 100))
        out["debts"].append(debt)
    utrns = pp.get("utrns", [])
    if not isinstance(utrns, list):
        raise ScenarioError("%s.utrns: a list of codes or {code, amount}" % where)
    out["utrns"] = []
    for i, u in enumerate(utrns):
        w = "%s.utrns[%d]" % (where, i)
        amount = None
        if isinstance(u, dict):
            _check_keys(u, ("code", "amount"), w)
            code = _get(u, "code", w)
            if "amount" in u:
                amount = parse_int(u["amount"], w + ".amount", 0, 0x7FFFFFFF)
        else:
            code = u
        code = code.replace(" ", "") if isinstance(code, str) else code
        err = utrn_error(code)
        if err:
            raise ScenarioError("%s: %r: %s" % (w, code, err))
        out["utrns"].append((code, amount))
    return out


def _trust_center(tc: Any, where: str) -> Optional[Dict[str, Any]]:
    # trust_center (docs/scenario-format.md): whitelist of joiners + key establishment faults
    if tc is None:
        return None
    from .trust import parse_install_code

    _check_keys(tc, ("devices", "key_establishment"), where)
    devs = tc.get("devices", [])
    if not isinstance(devs, list):
        raise ScenarioError("%s.devices: a list of {eui64, install_code}" % where)
    out: Dict[str, Any] = {"devices": []}
    for i, dv in enumerate(devs):
        w = "%s.devices[%d]" % (where, i)
        _check_keys(dv, ("eui64", "install_code"), w)
        eui = parse_eui64(_get(dv, "eui64", w), w + ".eui64")
        code = _get(dv, "install_code", w)
        try:
            full = parse_install_code(str(code))
        except ValueError as e:
            raise ScenarioError("%s.install_code: %s" % (w, e)) from None
        out["devices"].append((eui, full))
    ke = tc.get("key_establishment", {})
    _check_keys(
        ke,
        (
            "drop_first",
            "terminate_first",
            "wait_s",
            "ephemeral_data_generate_s",
            "confirm_key_generate_s",
        ),
        where + ".key_establishment",
    )
    out["key_establishment"] = {
        k: parse_int(v, "%s.key_establishment.%s" % (where, k), 0, 254) for k, v in ke.items()
    }
    return out


class MeterSpec:
    def __init__(self, d: Dict[str, Any], where: str, start_zb: int):
        _check_keys(
            d,
            (
                "name",
                "fuel",
                "node_id",
                "endpoint",
                "eui64",
                "profile",
                "tariff",
                "payment_mode",
                "device_management",
                "initial_reading_kwh",
                "site_id",
                "serial",
                "prepayment",
                "ambient_thresholds_w",
                "device_management_silent",
                "solar",
                "export_register",
                "initial_export_kwh",
                "profile_days",
            ),
            where,
        )
        self.fuel = _choice(_get(d, "fuel", where), FUELS, where + ".fuel")
        self.name = str(d.get("name", "esme" if self.fuel == "electricity" else "gpf"))
        self.node_id = parse_int(_get(d, "node_id", where), where + ".node_id", 0x0001, 0xFFF7)
        self.endpoint = parse_int(d.get("endpoint", 1), where + ".endpoint", 1, 240)
        self.eui64 = parse_eui64(_get(d, "eui64", where), where + ".eui64")
        prof = _get(d, "profile", where)
        _check_keys(prof, ("base_load_w", "daily_shape", "noise", "seed"), where + ".profile")
        shape = prof.get("daily_shape", "default")
        if shape == "default":
            shape = ELEC_SHAPE if self.fuel == "electricity" else GAS_SHAPE
        elif shape == "flat":
            shape = FLAT_SHAPE
        if (
            not isinstance(shape, list)
            or len(shape) != 24
            or not all(isinstance(x, (int, float)) and x >= 0 for x in shape)
        ):
            raise ScenarioError(
                "%s.profile.daily_shape: 24 non-negative hourly factors, "
                '"default" or "flat"' % where
            )
        base = _get(prof, "base_load_w", where + ".profile")
        if not isinstance(base, (int, float)) or base < 0:
            raise ScenarioError("%s.profile.base_load_w: non-negative number" % where)
        noise = prof.get("noise", 0.0)
        if not isinstance(noise, (int, float)) or not 0 <= noise <= 1:
            raise ScenarioError("%s.profile.noise: number in [0, 1]" % where)
        self.profile = {
            "base_load_w": float(base),
            "daily_shape": shape,
            "noise": float(noise),
            "seed": parse_int(prof.get("seed", 1), where + ".profile.seed"),
        }
        self.tariff = Tariff(_get(d, "tariff", where), where + ".tariff", self.fuel, start_zb)
        self.payment_mode = _choice(
            d.get("payment_mode", "credit"), PAYMENT_MODES, where + ".payment_mode"
        )
        self.device_management = _choice(
            d.get("device_management", "commands"), DM_MODES, where + ".device_management"
        )
        kwh = d.get("initial_reading_kwh", 10000)
        if not isinstance(kwh, (int, float)) or kwh < 0:
            raise ScenarioError("%s.initial_reading_kwh: non-negative number" % where)
        self.initial_reading_wh = int(round(kwh * 1000))
        self.site_id = str(d.get("site_id", "1234567890123"))
        self.serial = str(d.get("serial", "HS" + self.name.upper()))
        self.prepayment = _prepayment(d.get("prepayment", {}), where + ".prepayment")
        self.initial_credit = self.prepayment["initial_credit"]
        self.emergency_credit = self.prepayment["emergency_credit"]
        self.low_credit_warning = self.prepayment["low_credit_warning"]
        thr = d.get("ambient_thresholds_w", [500, 2000])
        if not (isinstance(thr, list) and len(thr) == 2):
            raise ScenarioError("%s.ambient_thresholds_w: [low_medium, medium_high]" % where)
        self.low_medium_w = parse_int(thr[0], where + ".ambient_thresholds_w[0]")
        self.medium_high_w = parse_int(thr[1], where + ".ambient_thresholds_w[1]")
        self.dm_silent = _dm_silent(d.get("device_management_silent", []), start_zb, where)
        self.solar = _solar(d.get("solar"), self.fuel, where + ".solar")
        xr = d.get("export_register", self.fuel == "electricity")
        if not isinstance(xr, bool) or (xr and self.fuel != "electricity"):
            raise ScenarioError("%s.export_register: true or false (electricity only)" % where)
        if self.solar is not None and not xr:
            raise ScenarioError("%s.solar: needs export_register" % where)
        self.export_register = xr
        kwh = d.get("initial_export_kwh", 0)
        if not isinstance(kwh, (int, float)) or kwh < 0:
            raise ScenarioError("%s.initial_export_kwh: non-negative number" % where)
        self.initial_export_wh = int(round(kwh * 1000))

        # days of half-hour profile the meter answers GetProfile from (0: no GetProfile)
        self.profile_days = parse_int(d.get("profile_days", 395), where + ".profile_days", 0, 400)


def _solar(d: Any, fuel: str, where: str) -> Optional[Dict[str, Any]]:
    # solar: {"peak_w", "cloud" (0..1, 0.3), "winter" (0..1, 0.25), "seed" (1)} or absent / null
    if d is None:
        return None
    if fuel != "electricity":
        raise ScenarioError("%s: electricity only" % where)
    _check_keys(d, ("peak_w", "cloud", "winter", "seed"), where)
    peak = _get(d, "peak_w", where)
    if not isinstance(peak, (int, float)) or not 0 <= peak <= 100000:
        raise ScenarioError("%s.peak_w: number in [0, 100000]" % where)
    out: Dict[str, Any] = {"peak_w": float(peak)}
    for k, dflt in (("cloud", 0.3), ("winter", 0.25)):
        v = d.get(k, dflt)
        if not isinstance(v, (int, float)) or not 0 <= v <= 1:
            raise ScenarioError("%s.%s: number in [0, 1]" % (where, k))
        out[k] = float(v)
    out["seed"] = parse_int(d.get("seed", 1), where + ".seed")
    return out


def _dm_silent(windows: Any, start_zb: int, where: str) -> List[Any]:
    # device_management_silent: [{"at", "duration", "what": "all" | "commands"}] -> [(from,
    # until, commands_only)] in unix time: the meter's Device Management server ignores
    # requests in the window (all of them, or only the cluster commands: reads answered).
    w = where + ".device_management_silent"
    if not isinstance(windows, list):
        raise ScenarioError("%s: a list of {at, duration, what}" % w)
    start = start_zb + 946684800
    out = []
    for i, x in enumerate(windows):
        wi = "%s[%d]" % (w, i)
        _check_keys(x, ("at", "duration", "what"), wi)
        t0 = parse_time(_get(x, "at", wi), start, wi + ".at")
        t1 = t0 + parse_duration(_get(x, "duration", wi), wi + ".duration")
        what = _choice(x.get("what", "all"), ("all", "commands"), wi + ".what")
        out.append((t0, t1, what == "commands"))
    return out


class Scenario:
    def __init__(self, d: Dict[str, Any], source: str = "<scenario>"):
        where = source
        _check_keys(
            d,
            (
                "name",
                "description",
                "start",
                "speed",
                "seed",
                "network",
                "ncp",
                "comms_hub",
                "meters",
                "events",
                "ota",
                "trust_center",
            ),
            where,
        )
        self.name = str(d.get("name", os.path.splitext(os.path.basename(source))[0]))
        self.description = str(d.get("description", ""))
        self.start_unix = parse_time(_get(d, "start", where), 0, where + ".start")
        start_zb = int(self.start_unix) - 946684800
        speed = d.get("speed", 1)
        if not isinstance(speed, (int, float)) or speed <= 0:
            raise ScenarioError("%s.speed: positive number" % where)
        self.speed = float(speed)
        self.seed = parse_int(d.get("seed", 1), where + ".seed")
        net = d.get("network", {})
        _check_keys(net, ("pan_id", "extended_pan_id", "channel"), where + ".network")
        self.pan_id = parse_int(net.get("pan_id", "0x1A62"), where + ".network.pan_id", 0, 0xFFFE)
        self.extended_pan_id = parse_eui64(
            net.get("extended_pan_id", "00:0D:6F:FF:FE:1A:62:00"),
            where + ".network.extended_pan_id",
        )
        self.channel = parse_int(net.get("channel", 15), where + ".network.channel", 11, 26)
        ncp = d.get("ncp", {})
        _check_keys(
            ncp,
            ("ezsp_version", "eui64", "node_id", "node_type", "commissioned", "stack_version"),
            where + ".ncp",
        )
        self.ezsp_version = parse_int(
            ncp.get("ezsp_version", 13), where + ".ncp.ezsp_version", 13, 14
        )
        self.ncp_eui64 = parse_eui64(
            ncp.get("eui64", "00:0D:6F:00:00:AA:BB:01"), where + ".ncp.eui64"
        )
        self.ncp_node_id = parse_int(
            ncp.get("node_id", "0x7A3C"), where + ".ncp.node_id", 0x0001, 0xFFF7
        )
        node_types = {"router": 2, "end_device": 3, "sleepy_end_device": 4}
        self.ncp_node_type = node_types[
            _choice(ncp.get("node_type", "router"), tuple(node_types), where + ".ncp.node_type")
        ]
        self.ncp_commissioned = bool(ncp.get("commissioned", True))
        sv = ncp.get("stack_version", "7.4.4.0")
        try:
            parts = tuple(int(x) for x in str(sv).split("."))
            if len(parts) != 4:
                raise ValueError
        except ValueError:
            raise ScenarioError('%s.ncp.stack_version: like "7.4.4.0"' % where) from None
        self.stack_version = parts
        ch = d.get("comms_hub", {})
        _check_keys(ch, ("eui64", "endpoint"), where + ".comms_hub")
        self.comms_hub = {
            "node_id": 0x0000,
            "eui64": parse_eui64(
                ch.get("eui64", "00:0D:6F:00:00:C0:FF:EE"), where + ".comms_hub.eui64"
            ),
            "endpoint": parse_int(ch.get("endpoint", 1), where + ".comms_hub.endpoint", 1, 240),
        }
        self.trust_center = _trust_center(d.get("trust_center"), where + ".trust_center")
        meters = _get(d, "meters", where)
        if not isinstance(meters, list) or not meters:
            raise ScenarioError("%s.meters: a non-empty list" % where)
        self.meters = [
            MeterSpec(m, "%s.meters[%d]" % (where, i), start_zb) for i, m in enumerate(meters)
        ]
        names = [m.name for m in self.meters]
        if len(set(names)) != len(names):
            raise ScenarioError("%s.meters: duplicate meter names %s" % (where, names))
        nodes = [m.node_id for m in self.meters] + [0x0000, self.ncp_node_id]
        if len(set(nodes)) != len(nodes):
            raise ScenarioError(
                "%s: node ids must be unique (meters, comms hub 0x0000, ncp)" % where
            )
        self.events = [
            self._event(e, "%s.events[%d]" % (where, i), names)
            for i, e in enumerate(d.get("events", []))
        ]
        self.events.sort(key=lambda e: e["at_unix"])
        from .ota import parse_spec  # OTA server section (host_tools/hansim/ota.py)

        self.ota = parse_spec(d.get("ota"), self.start_unix, where + ".ota")

    def meter(self, name: str) -> MeterSpec:
        for m in self.meters:
            if m.name == name:
                return m
        raise KeyError(name)

    def _event(self, e: Any, where: str, names: List[str]) -> Dict[str, Any]:
        if not isinstance(e, dict):
            raise ScenarioError("%s: expected an object" % where)
        kind = _choice(_get(e, "type", where), EVENT_TYPES, where + ".type")
        start = self.start_unix
        out: Dict[str, Any] = {
            "type": kind,
            "at_unix": parse_time(_get(e, "at", where), start, where + ".at"),
        }
        common = ("type", "at")
        if kind in ("change_of_tenancy", "change_of_supplier"):
            _check_keys(
                e,
                common + ("meter", "push", "until") + change_field_names(kind),
                where,
            )
            out["meter"] = _choice(_get(e, "meter", where), tuple(names), where + ".meter")
            out.update(change_fields(e, kind, start, where))
            out["push"] = bool(e.get("push", False))
            out["until_unix"] = (
                parse_time(e["until"], start, where + ".until") if "until" in e else None
            )
        elif kind == "spoof":
            out.update(self._spoof(e, where, names))
        elif kind == "ncp_reset":
            _check_keys(e, common, where)
        elif kind == "price_change":
            from .tariffs import parse_schedule

            _check_keys(e, common + ("meter", "unit_rate", "schedule"), where)
            out["meter"] = _choice(_get(e, "meter", where), tuple(names), where + ".meter")
            if ("unit_rate" in e) == ("schedule" in e):
                raise ScenarioError("%s: one of unit_rate, schedule" % where)
            out["unit_rate"] = (
                parse_int(e["unit_rate"], where + ".unit_rate") if "unit_rate" in e else None
            )
            out["schedule"] = (
                parse_schedule(e["schedule"], where + ".schedule", ScenarioError)
                if "schedule" in e
                else None
            )
        elif kind == "meter_offline":
            _check_keys(e, common + ("meter", "duration"), where)
            out["meter"] = _choice(_get(e, "meter", where), tuple(names), where + ".meter")
            out["duration_s"] = parse_duration(_get(e, "duration", where), where + ".duration")
        elif kind == "link_corruption":
            _check_keys(e, common + ("rate", "duration"), where)
            rate = _get(e, "rate", where)
            if not isinstance(rate, (int, float)) or not 0 <= rate < 1:
                raise ScenarioError("%s.rate: number in [0, 1)" % where)
            out["rate"] = float(rate)
            out["duration_s"] = (
                parse_duration(e["duration"], where + ".duration") if "duration" in e else None
            )
        elif kind == "hub_offline":
            _check_keys(e, common + ("duration",), where)
            out["duration_s"] = parse_duration(_get(e, "duration", where), where + ".duration")
        elif kind == "hub_time":
            out.update(self._hub_time(e, where, names))
        elif kind == "message":
            out.update(self._message(e, where))
        elif kind == "slow_responses":
            _check_keys(e, common + ("delay", "duration", "target"), where)
            out["delay_s"] = parse_duration(_get(e, "delay", where), where + ".delay")
            out["duration_s"] = (
                parse_duration(e["duration"], where + ".duration") if "duration" in e else None
            )
            out["target"] = _choice(
                e.get("target", "meters"), ("meters", "ncp"), where + ".target"
            )
        return out

    def _message(self, e: Dict[str, Any], where: str) -> Dict[str, Any]:
        # {"type": "message", "id", "text", "control", "start", "duration", "protected"} |
        # {"type": "message", "id", "cancel": true} | {"type": "message", "cancel_all": true,
        #  "start"}: the hub's Messaging server (docs/scenario-format.md "message")
        _check_keys(e, ("type", "at", "id", "text", "control", "start", "duration", "cancel",
                        "cancel_all", "protected"), where)  # fmt: skip
        out: Dict[str, Any] = {"control": parse_int(e.get("control", 0), where + ".control", 0,
                                                    0xFF)}  # fmt: skip
        out["start_unix"] = (
            parse_time(e["start"], self.start_unix, where + ".start") if "start" in e else None
        )
        if e.get("cancel_all"):
            out["cancel_all"] = True
            return out
        out["id"] = parse_int(_get(e, "id", where), where + ".id")
        if e.get("cancel"):
            out["cancel"] = True
            return out
        text = _get(e, "text", where)
        if not isinstance(text, str):
            raise ScenarioError("%s.text: a string" % where)
        out["text"] = text
        out["protected"] = bool(e.get("protected", False))
        if "duration" in e:
            minutes = int(parse_duration(e["duration"], where + ".duration") // 60)
            if not 0 <= minutes < 0xFFFF:
                raise ScenarioError("%s.duration: 0 to 0xFFFE minutes" % where)
        else:
            minutes = 0xFFFF  # until cancelled
        out["duration_min"] = minutes
        return out

    def _hub_time(self, e: Dict[str, Any], where: str, names: List[str]) -> Dict[str, Any]:
        # {"type": "hub_time", "jump": "-365d" | "set": time | "value": "0xFFFFFFFE" |
        #  "reset": true, "duration", "device"}: one device's Time cluster (the Comms Hub's by
        # default) moved off the network's clock (docs/scenario-format.md "hub_time")
        _check_keys(e, ("type", "at", "jump", "set", "value", "reset", "duration", "device"),
                    where)  # fmt: skip
        out: Dict[str, Any] = {"jump_s": None, "set_unix": None, "value": None}
        given = [k for k in ("jump", "set", "value", "reset") if k in e]
        if len(given) != 1:
            raise ScenarioError("%s: exactly one of jump, set, value, reset" % where)
        if "jump" in e:
            j = e["jump"]
            sign = 1.0
            if isinstance(j, str) and j[:1] in "+-":
                sign, j = (-1.0 if j[0] == "-" else 1.0), j[1:]
            elif isinstance(j, (int, float)) and not isinstance(j, bool) and j < 0:
                sign, j = -1.0, -j
            out["jump_s"] = sign * parse_duration(j, where + ".jump")
        elif "set" in e:
            out["set_unix"] = parse_time(e["set"], self.start_unix, where + ".set")
        elif "value" in e:
            out["value"] = parse_int(e["value"], where + ".value")
        elif e["reset"] is not True:
            raise ScenarioError("%s.reset: true" % where)
        out["duration_s"] = (
            parse_duration(e["duration"], where + ".duration") if "duration" in e else None
        )
        dev = e.get("device", "comms_hub")
        if dev != "comms_hub":
            _choice(dev, tuple(names), where + ".device")
            if self.meter(dev).fuel != "electricity":
                raise ScenarioError(
                    "%s.device: %r has no Time cluster (only the Comms Hub and ESMEs)"
                    % (where, dev)
                )
        out["device"] = dev
        out["reset"] = "reset" in e
        return out

    def _spoof(self, e: Dict[str, Any], where: str, names: List[str]) -> Dict[str, Any]:
        # {"type": "spoof", "from": meter name | node id, "endpoint", "eui64", "aps_encrypted",
        #  "frame": {...}}: one frame to the IHD from any short address (docs/scenario-format.md)
        _check_keys(e, ("type", "at", "from", "endpoint", "eui64", "aps_encrypted", "frame"),
                    where)  # fmt: skip
        src = _get(e, "from", where)
        out: Dict[str, Any] = {}
        if isinstance(src, str) and src in names:
            m = self.meter(src)
            out.update(node=m.node_id, endpoint=m.endpoint, eui64=m.eui64)
        else:
            try:
                out["node"] = parse_int(src, where + ".from", 0, 0xFFFF)
            except ScenarioError:
                raise ScenarioError(
                    "%s.from: %r is neither a meter (%s) nor a node id"
                    % (where, src, ", ".join(names))
                ) from None
            out.update(endpoint=1, eui64=None)
        if "endpoint" in e:
            out["endpoint"] = parse_int(e["endpoint"], where + ".endpoint", 0, 255)
        if "eui64" in e:
            out["eui64"] = parse_eui64(e["eui64"], where + ".eui64")
        enc = e.get("aps_encrypted", False)
        if not isinstance(enc, bool):
            raise ScenarioError("%s.aps_encrypted: true or false" % where)
        out["aps_encrypted"] = enc
        fw = where + ".frame"
        fr = _get(e, "frame", where)
        if not isinstance(fr, dict):
            raise ScenarioError("%s: expected an object" % fw)
        kind = _choice(_get(fr, "type", fw), SPOOF_FRAMES, fw + ".type")
        if kind in ("change_of_tenancy", "change_of_supplier"):
            _check_keys(fr, ("type",) + change_field_names(kind), fw)
            frame: Dict[str, Any] = change_fields(fr, kind, self.start_unix, fw)
        elif kind == "report_attributes":
            _check_keys(fr, ("type", "cluster", "attributes"), fw)
            frame = {
                "type": kind,
                "cluster": parse_int(_get(fr, "cluster", fw), fw + ".cluster", 0, 0xFFFF),
                "records": _report_records(_get(fr, "attributes", fw), fw + ".attributes"),
            }
        else:
            _check_keys(fr, ("type", "cluster", "hex"), fw)
            text = str(_get(fr, "hex", fw)).replace(" ", "")
            try:
                raw = bytes.fromhex(text)
            except ValueError:
                raise ScenarioError("%s.hex: not hex: %r" % (fw, text)) from None
            if len(raw) < 3:
                raise ScenarioError("%s.hex: a ZCL frame has at least 3 bytes" % fw)
            frame = {
                "type": kind,
                "cluster": parse_int(_get(fr, "cluster", fw), fw + ".cluster", 0, 0xFFFF),
                "zcl": raw,
            }
        out["frame"] = frame
        return out


def load(name_or_path: str) -> Scenario:
    path = name_or_path
    if not os.path.exists(path):
        cand = os.path.join(
            SCENARIO_DIR, name_or_path + ("" if name_or_path.endswith(".json") else ".json")
        )
        if not os.path.exists(cand):
            avail = sorted(os.path.splitext(n)[0] for n in os.listdir(SCENARIO_DIR))
            raise ScenarioError(
                "scenario %r not found (built-in: %s)" % (name_or_path, ", ".join(avail))
            )
        path = cand
    with open(path) as fh:
        try:
            data = json.load(fh)
        except json.JSONDecodeError as e:
            raise ScenarioError("%s: invalid JSON: %s" % (path, e)) from None
    return Scenario(data, os.path.basename(path))


def from_dict(d: Dict[str, Any], source: Optional[str] = None) -> Scenario:
    return Scenario(d, source or "<scenario>")
