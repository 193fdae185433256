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
_LIM = const(0x3FFFFFFF)  # largest small int of a 32-bit port (2^30 - 1)
_RATE_MAX = const(1000000)
_UNIT_NAMES = {0x00: "kWh", 0x01: "m3", 0x02: "ft3", 0x03: "ccf", 0x07: "l", 0x0C: "MJ"}

stats = Counters("units", ("bad_divisor", "bad_unit", "big_ints"))


class Formatting:
    # Per-meter scaling, read once from the meter and cached (re-read after a tenancy change).
    __slots__ = (
        "unit",
        "multiplier",
        "divisor",
        "summation_fmt",
        "demand_fmt",
        "history_fmt",
        "_ratio",
    )

    def __init__(self, unit=UNIT_KWH, multiplier=1, divisor=1000, summ=0x2B, dem=0x2B, hist=0x2B):
        self.unit = unit
        self.multiplier = multiplier
        self.divisor = divisor
        self.summation_fmt = summ
        self.demand_fmt = dem
        self.history_fmt = hist
        self._ratio = None

    def ratio(self):
        # Ratio(multiplier * 1000, divisor), made once (and again if either is reassigned).
        r = self._ratio
        if r is None or r.key_a != self.multiplier or r.key_b != self.divisor:
            r = self._ratio = Ratio(self.multiplier * 1000, self.divisor, self.multiplier,
                                    self.divisor)  # fmt: skip
        return r

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
    # raw register (a Python int, signed or not) -> thousandths of the unit of measure, rounded
    # half away from zero. For a kWh meter that is Wh (energy) or W (demand). Invalid scaling ->
    # None. 0 B for |raw| < 2^30 within the bounds of Ratio (a bigger raw is already a big int
    # on a 32-bit port: splitting it allocates; milli_u48 takes the register as two halves).
    if not fmt.valid():
        return None
    neg = raw < 0
    if neg:
        raw = -raw
    if raw >> 48:
        q = _big_round(raw, fmt)
    else:
        q = _round(fmt.ratio(), raw >> 24, raw & 0xFFFFFF)
    return -q if neg else q


def milli_u48(hi, lo, fmt):
    # An unsigned 48-bit register given as two 24-bit halves (raw = hi * 2^24 + lo, the way a
    # receive path can hand over a uint48 in small ints) -> rounded thousandths of the unit, as
    # scaled_milli. 0 B on a 32-bit port while the result is < 2^30 (see Ratio).
    if not fmt.valid():
        return None
    return _round(fmt.ratio(), hi, lo)


def u24_le(buf, off):
    # A little-endian uint24 at buf[off:off + 3]. A ZCL uint48 at off (wire order) in small ints:
    # hi = u24_le(buf, off + 3), lo = u24_le(buf, off). Plain byte reads: no allocation.
    return buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16)


def _round(rt, hi, lo):
    q = rt.scale(hi, lo, 0)
    if rt.rem >= rt.den - rt.rem:  # 2 * rem >= den without forming 2 * rem
        q += 1
    return q


def _big_round(raw, fmt):
    num = raw * fmt.multiplier * 1000
    div = fmt.divisor
    return (num + div // 2) // div


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


class Ratio:
    # x -> floor((x * num + carry) / den) exactly, for x = hi * 2^24 + lo (hi, lo < 2^24: any
    # uint48), without big ints on a 32-bit port (small ints there are < 2^30): 0 B while
    # (1) the reduced den satisfies (den - 1) * 3 < 2^30 (about 3.6e8) and num // den < 2^30,
    # and (2) the result is < 2^30. Otherwise the same value is computed with big ints
    # (exact; allocates) and counted in units.big_ints. The remainder is left in .rem
    # (0 <= rem < den): a caller keeps it as a sub-unit carry (gas) or rounds with it.
    # Method: long division of x * (num % den) by den in base 2^shift digits (shift 8, 4, 2 or
    # 1: the largest whose partial sums stay below 2^30), plus x * (num // den) alongside.
    __slots__ = ("num", "den", "nq", "nr", "shift", "rem", "key_a", "key_b")

    def __init__(self, num, den, key_a=None, key_b=None):
        # num >= 0, den >= 1 (any size: reduced here, once); key_a/key_b: what it was made from
        # (lets an owner see whether its inputs changed without recomputing num)
        g = _gcd(num, den) if num else den
        num //= g
        den //= g
        self.num = num
        self.den = den
        self.nq = num // den
        self.nr = num - self.nq * den
        self.rem = 0
        self.key_a = key_a
        self.key_b = key_b
        shift = 8
        while shift and (den - 1) * ((2 << shift) - 1) > _LIM:
            shift >>= 1
        if self.nq > _LIM:
            shift = 0
        self.shift = shift

    def scale(self, hi, lo, carry):
        # carry: 0 <= carry < den
        num = self.num
        den = self.den
        if not num:
            self.rem = carry
            return 0
        if hi < 64:  # x < 2^30: one multiplication when x * num fits
            x = (hi << 24) | lo
            if x <= (_LIM - carry) // num:
                t = x * num + carry
                q = t // den
                self.rem = t - q * den
                return q
        if self.shift:
            q = self._digits(hi, lo, carry)
            if q >= 0:
                return q
        return self._big(hi, lo, carry)

    def _digits(self, hi, lo, carry):
        s = self.shift
        mask = (1 << s) - 1
        nq = self.nq
        nr = self.nr
        den = self.den
        qmax = _LIM >> s
        q = r = 0
        k = 48 if hi else 24
        while k:
            k -= s
            g = ((hi >> (k - 24)) if k >= 24 else (lo >> k)) & mask
            if q > qmax:
                return -1
            q <<= s
            if g and nq:
                if nq > (_LIM - q) // g:
                    return -1
                q += g * nq
            t = (r << s) + g * nr  # < (den - 1) * (2^(s+1) - 1) < 2^30
            d = t // den
            if d > _LIM - q:
                return -1
            q += d
            r = t - d * den
        r += carry
        if r >= den:
            if q >= _LIM:
                return -1
            r -= den
            q += 1
        self.rem = r
        return q

    def _big(self, hi, lo, carry):
        stats.inc("big_ints")
        if stats.get("big_ints") == 1:
            log.warn("units", "value beyond 2^30 or scaling %d/%d too fine: big ints (exact)",
                     self.num, self.den)  # fmt: skip
        t = ((hi << 24) | lo) * self.num + carry
        q = t // self.den
        self.rem = t - q * self.den
        return q


def cost_mp(energy_wh, rate_mp_kwh):
    # floor(energy_wh * rate / 1000) exactly (the cost of some Wh at a rate per kWh), without a
    # big int while |rate| <= 1e6 mp/kWh (GBP 10/kWh) and the cost is < 2^30 mp (GBP 10737):
    # wh * rate // 1000 = (wh // 1000) * rate + (wh % 1000) * rate // 1000 for any signs.
    if -_RATE_MAX <= rate_mp_kwh <= _RATE_MAX:
        k = energy_wh // 1000
        return k * rate_mp_kwh + (energy_wh - k * 1000) * rate_mp_kwh // 1000
    return energy_wh * rate_mp_kwh // 1000


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


def gas_ratio(cv_milli_mj_per_m3, conversion_factor_milli=1022640):
    # Ratio of Wh per thousandth of a m3 (litre): Wh = litres x CF x CV / 3.6e9 with both inputs
    # in thousandths (CF x 1e6). Made once per change of CV/CF (big ints allowed here); the
    # meters service then converts each reading's litres with a carried remainder (exact: the
    # sum of the converted deltas never drifts from the converted total). Defaults reduce to
    # 336619/30000.
    return Ratio(
        conversion_factor_milli * cv_milli_mj_per_m3,
        3_600_000_000,
        cv_milli_mj_per_m3,
        conversion_factor_milli,
    )


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
