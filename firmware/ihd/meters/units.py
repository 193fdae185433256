# Metering values -> physical units, exactly (integers only, no floats on the device).
# ZCL Metering: value in UnitOfMeasure = raw * Multiplier / Divisor (0x0301/0x0302). Formatting
# bitmaps (0x0303-0x0305): bits 0-2 digits right of the point, bits 3-6 left, bit 7 suppress
# leading zeros. kWh meters give energy as kWh and demand as kW.
from micropython import const

from ihd.runtime import log
from ihd.runtime.counters import Counters

UNIT_KWH = const(0x00)  # kWh / kW
UNIT_M3 = const(0x01)  # m3 / m3/h
UNIT_MJ = const(0x0C)
_BCD_FLAG = const(0x80)
_UNIT_NAMES = {0x00: "kWh", 0x01: "m3", 0x02: "ft3", 0x03: "ccf", 0x07: "l", 0x0C: "MJ"}

stats = Counters("units", ("bad_divisor", "bad_unit"))


class Formatting:
    # Per-meter scaling, read once from the meter and cached (re-read after a tenancy change).
    __slots__ = ("unit", "multiplier", "divisor", "summation_fmt", "demand_fmt", "history_fmt")

    def __init__(self, unit=UNIT_KWH, multiplier=1, divisor=1000, summ=0x2B, dem=0x2B, hist=0x2B):
        self.unit = unit
        self.multiplier = multiplier
        self.divisor = divisor
        self.summation_fmt = summ
        self.demand_fmt = dem
        self.history_fmt = hist

    def valid(self):
        if self.divisor == 0 or self.multiplier == 0:
            stats.inc("bad_divisor")
            log.warn("units", "multiplier/divisor zero: %d/%d", self.multiplier, self.divisor)
            return False
        if self.unit & _BCD_FLAG:
            stats.inc("bad_unit")
            log.warn("units", "BCD unit of measure 0x%02x not supported", self.unit)
            return False
        return True


def scaled_milli(raw, fmt):
    # raw register -> thousandths of the unit of measure, rounded half away from zero.
    # For a kWh meter that is Wh (energy) or W (demand). Invalid scaling -> None.
    if not fmt.valid():
        return None
    num = raw * fmt.multiplier * 1000
    div = fmt.divisor
    q = (abs(num) + div // 2) // div
    return -q if num < 0 else q


def energy_wh(raw, fmt):
    # Only kWh-unit registers convert to energy directly; gas in m3 needs the calorific value
    # (GB GPFs publish kWh in the alternative-unit attributes; see meters.service).
    if fmt.unit != UNIT_KWH:
        return None
    return scaled_milli(raw, fmt)


def demand_w(raw, fmt):
    if fmt.unit != UNIT_KWH:
        return None
    return scaled_milli(raw, fmt)


def gas_m3_to_wh(milli_m3, cv_milli_mj_per_m3, conversion_factor_milli=1022640):
    # Ofgem formula: kWh = m3 x CF x CV / 3.6, CF 1.02264 by default. Inputs in thousandths.
    # milli_m3 * CF/1e6 * CV/1e3 / 3.6 * 1000 (Wh per kWh) = product / 3.6e6
    return (
        milli_m3 * conversion_factor_milli // 1000 * cv_milli_mj_per_m3 + 1_800_000
    ) // 3_600_000


def format_value(milli, fmt_bits, unit_label=""):
    # Render thousandths with the number of decimals the meter's formatting bitmap asks for
    # (capped at 3, the resolution we keep). "1.234 kWh".
    decimals = fmt_bits & 0x07
    if decimals > 3:
        decimals = 3
    neg = milli < 0
    milli = -milli if neg else milli
    step = (1, 10, 100, 1000)[3 - decimals]
    v = (milli + step // 2) // step  # rounded to the shown resolution
    if decimals:
        ip, fp = divmod(v, 10**decimals)
        s = "%d.%0*d" % (ip, decimals, fp)
    else:
        s = "%d" % v
    if neg:
        s = "-" + s
    return s + (" " + unit_label if unit_label else "")


def unit_name(unit):
    return _UNIT_NAMES.get(unit & 0x7F, "?")
