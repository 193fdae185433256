"""Prepayment (0x0705) server behaviour of the simulated ESME / GPF (docs/prepay.md).

`install(cluster, state)` turns the attribute-only `clusters.Prepayment` into a working meter
account: ConsumerTopUp (0x04) with UTRN check-digit validation, duplicate rejection, value from
the PTUT (or the scenario's code -> amount map), ConsumerTopUpResponse with the GBCS error form
(0xFFFFFFFF values); SelectAvailableEmergencyCredit (0x00); credit that falls with consumption
and time-based debt recovery; CreditStatus / PrepaymentAlarmStatus bits.

UTRN helpers (`check_digit`, `make_utrn`, `ptut_value_pence`) implement GBCS §14 here, on the
host side, independently of the firmware's ihd.state.utrn (the two check each other in tests).
Run `python -m host_tools.hansim.prepay 1250` to print a valid UTRN for £12.50.
"""

from __future__ import annotations

import struct
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from .simclock import to_zigbee
from .zcl import (
    T_ENUM8,
    T_I32,
    T_MAP8,
    T_MAP16,
    T_OCTSTR,
    T_U16,
    T_U32,
    T_U48,
    T_UTC,
    Cluster,
    Request,
    ZclError,
)

if TYPE_CHECKING:
    from .meters import MeterState

# ---------------------------------------------------------------- UTRN (GBCS §14)

PPTD_OFFSET = 7_394_156_990_786_306_048  # K-class-5 offset
_P = (  # GBCS table 14.8a (permutation), rows used from K=4, left to right
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
_INV = (1, 2, 6, 7, 5, 8, 3, 0, 9, 4)  # GBCS table 14.8c (non-standard inverse)


def _d5(a: int, b: int) -> int:
    # Multiplication in the dihedral group D5 (GBCS table 14.8b), computed instead of tabled.
    if a < 5 and b < 5:
        return (a + b) % 5
    if a < 5:
        return 5 + (a + b) % 5
    if b < 5:
        return 5 + (a - b) % 5
    return (a - b) % 5


def check_digit(pptd: str) -> int:
    if not pptd.isdigit() or not pptd.isascii():
        raise ValueError("digits only: %r" % pptd)
    c, k = 0, 4
    for ch in pptd:
        c = _d5(c, _P[k][int(ch)])
        k = (k + 1) % 8
    return _INV[c]


def utrn_error(code: Any) -> Optional[str]:
    """None if `code` is a well-formed UTRN (20 digits, check digit right), else why not."""
    if not isinstance(code, str) or not code.isascii() or not code.isdigit():
        return "a UTRN is a string of 20 digits"
    if len(code) != 20:
        return "a UTRN has 20 digits, not %d" % len(code)
    if check_digit(code[:19]) != int(code[19]):
        return "check digit wrong (expected %d)" % check_digit(code[:19])
    return None


def make_utrn(
    value: int, value_class: str = "pennies", counter: int = 1, mac: int = 0x5EC0DE
) -> str:
    """A UTRN with a valid check digit carrying `value` pence (or pounds). The MAC (low dword)
    is arbitrary: the simulator cannot verify the supplier's GMAC, so it is not checked."""
    if not 0 <= value <= 8191:
        raise ValueError("PTUT value is 13 bits (0..8191)")
    cls = {"pennies": 0, "pounds": 1}[value_class]
    hi = ((counter & 0x3FF) << 15) | (cls << 13) | value
    pptd = str(PPTD_OFFSET + (hi << 32) + (mac & 0xFFFFFFFF))
    return pptd + str(check_digit(pptd))


def ptut_value_pence(code: str) -> Optional[int]:
    v = int(code[:19]) - PPTD_OFFSET
    if v < 0 or v >> 64:
        return None
    hi = v >> 32
    if hi >> 25:
        return None
    cls, value = (hi >> 13) & 3, hi & 0x1FFF
    return value if cls == 0 else (value * 100 if cls == 1 else None)


# ---------------------------------------------------------------- account model

# CreditStatus bits
CREDIT_OK, LOW_CREDIT, EC_ENABLED, EC_AVAILABLE = 0x01, 0x02, 0x04, 0x08
EC_SELECTED, EC_IN_USE, CREDIT_EXHAUSTED = 0x10, 0x20, 0x40
# ConsumerTopUpResponse ResultType
ACCEPTED, REJ_INVALID, REJ_DUPLICATE, REJ_ERROR = 0x00, 0x01, 0x02, 0x03
REJ_MAX_CREDIT, REJ_KEYPAD_LOCK, REJ_TOO_LARGE = 0x04, 0x05, 0x06
ACTION_DENIED = 0x93
NONE_U32 = 0xFFFFFFFF
PCC_PREPAYMENT, PCC_CREDIT = 0x0497, 0x0C94  # GB values (zigbee-se.md §6)
FREQ_DAILY = 0x01  # DebtRecoveryFrequency enum (hourly 0, daily 1, weekly 2, monthly 3, ...)


class Debt:
    def __init__(self, d: Dict[str, Any], start: float):
        self.label: str = d["label"]
        self.initial: int = d["amount"]
        self.recovery: str = d["recovery"]  # "time" | "payment"
        self.per_day: int = d.get("per_day", 0)
        self.percent_x100: int = d.get("percent_x100", 0)
        self.start = start
        self.paid_from_top_ups = 0

    def collected(self, now: float) -> int:
        by_time = 0
        if self.recovery == "time":
            by_time = int(self.per_day * max(0.0, now - self.start) / 86400)
        return min(self.initial, by_time + self.paid_from_top_ups)

    def outstanding(self, now: float) -> int:
        return self.initial - self.collected(now)


class PrepayAccount:
    """Money in the meter's units (10^-trailing_digit of the currency)."""

    def __init__(self, state: MeterState):
        pp = state.spec.prepayment
        self.state = state
        self.prepay = state.payment_mode == "prepayment"
        self.initial = pp["initial_credit"] if self.prepay else 0
        self.added = 0  # credit added by top-ups (net of payment-based debt recovery)
        self.total_added = self.initial
        self.ec_limit = pp["emergency_credit"]
        self.ec_threshold = pp["emergency_credit_threshold"]
        self.ec_enabled = pp["emergency_credit_enabled"]
        self.low_level = pp["low_credit_warning"]
        self.ihd_low_level = pp["ihd_low_credit_warning"]
        self.max_credit = pp["max_credit"]
        self.max_per_top_up = pp["max_credit_per_top_up"]
        self.accept_any_valid = pp["accept_any_valid"]
        self.keypad_locked = pp["keypad_locked"]
        self.codes: Dict[str, Optional[int]] = dict(pp["utrns"])  # code -> amount (None: PTUT)
        self.used: set = set()
        self.ec_selected_at: Optional[float] = None
        self.debts = [Debt(d, state.start_unix) for d in pp["debts"]]
        self.top_up_log: List[Tuple[int, int, int, bytes]] = []  # (utc zb, amount, orig, code)
        self.alarm_bits = 0
        self.scaling = max(0, min(7, 5 - state.tariff.trailing_digit))

    # ---- balances ----
    def debt_collected(self, now: float) -> int:
        return sum(d.collected(now) - d.paid_from_top_ups for d in self.debts)

    def balance(self, now: float) -> int:
        if not self.prepay:
            return 0
        used = self.state.bill_to_date(now)
        return self.initial + self.added - used - self.debt_collected(now)

    def _ec_state(self, now: float) -> Tuple[int, int]:
        # -> (credit status bits, EC remaining)
        if not self.prepay:
            return 0, 0
        b = self.balance(now)
        if self.ec_selected_at is not None and b >= 0 and b >= self.ec_threshold:
            self.ec_selected_at = None  # repaid by a top-up: EC ends, can be offered again
        st = 0
        ec_left = 0
        if self.ec_enabled:
            st |= EC_ENABLED
            if self.ec_selected_at is not None:
                st |= EC_SELECTED
                ec_left = max(0, self.ec_limit + min(0, b))
                if b < 0:
                    st |= EC_IN_USE
            elif b < self.ec_threshold:
                st |= EC_AVAILABLE
                ec_left = self.ec_limit
        if b > 0:
            st |= CREDIT_OK
        if b < self.low_level:
            st |= LOW_CREDIT
        if (b <= 0 and self.ec_selected_at is None) or (
            self.ec_selected_at is not None and self.ec_limit + b <= 0
        ):
            st |= CREDIT_EXHAUSTED
        return st, ec_left

    def debt_outstanding(self, now: float) -> int:
        return sum(d.outstanding(now) for d in self.debts)

    def credit_status(self, now: float) -> int:
        return self._ec_state(now)[0]

    def ec_remaining(self, now: float) -> int:
        return self._ec_state(now)[1]

    def alarm_status(self, now: float) -> int:
        st = self.credit_status(now)
        bits = self.alarm_bits
        bits |= 0x0001 if st & LOW_CREDIT else 0
        bits |= 0x0040 if st & EC_AVAILABLE else 0
        return bits

    # ---- commands ----
    def top_up(self, code: str, origin: int, now: float) -> Tuple[int, int]:
        """-> (ResultType, value credited); the caller builds the response."""
        self.alarm_bits &= ~0x000E
        if not self.prepay:
            return REJ_ERROR, 0
        if self.keypad_locked:
            return REJ_KEYPAD_LOCK, 0
        if utrn_error(code) is not None:
            self.alarm_bits |= 0x0008 | 0x0002
            return REJ_INVALID, 0
        if code in self.used:
            self.alarm_bits |= 0x0004 | 0x0002
            return REJ_DUPLICATE, 0
        if code in self.codes and self.codes[code] is not None:
            value = self.codes[code]
        elif code in self.codes or self.accept_any_valid:
            pence = ptut_value_pence(code)
            value = (
                None
                if pence is None
                else pence * 10 ** max(0, self.state.tariff.trailing_digit - 2)
            )
        else:
            value = None  # not one the supplier issued: the MAC check would fail
        if value is None:
            self.alarm_bits |= 0x0008 | 0x0002
            return REJ_INVALID, 0
        if self.max_per_top_up and value > self.max_per_top_up:
            return REJ_TOO_LARGE, 0
        if self.max_credit and self.balance(now) + value > self.max_credit:
            return REJ_MAX_CREDIT, 0
        self.used.add(code)
        net = value
        for d in self.debts:
            if d.recovery == "payment" and d.outstanding(now) > 0:
                take = min(d.outstanding(now), value * d.percent_x100 // 10000)
                d.paid_from_top_ups += take
                net -= take
        self.added += net
        self.total_added += value
        self.top_up_log.insert(0, (to_zigbee(now), value, origin, code.encode()))
        del self.top_up_log[5:]
        return ACCEPTED, value

    def select_ec(self, now: float) -> bool:
        if not self.credit_status(now) & EC_AVAILABLE:
            return False
        self.ec_selected_at = now
        return True


# ---------------------------------------------------------------- cluster wiring


def top_up_response(
    result: int, value: Optional[int], origin: int, credit: Optional[int]
) -> bytes:
    # ConsumerTopUpResponse: ResultType, TopUpValue u32, SourceOfTopUp, CreditRemaining u32.
    # Rejections carry 0xFFFFFFFF in both value fields (GBCS error form).
    v = NONE_U32 if value is None else value & 0xFFFFFFFF
    c = NONE_U32 if credit is None else credit & 0xFFFFFFFF
    return struct.pack("<BIBI", result, v, origin, c)


def install(cluster: Cluster, state: MeterState) -> PrepayAccount:
    """Replaces the Prepayment cluster's money attributes with account-driven ones and
    registers the command handlers. Returns the account (also `state.prepay`)."""
    acc = PrepayAccount(state)
    state.prepay = acc  # type: ignore[attr-defined]
    now = cluster.device.now
    a = cluster.attr
    pcc = PCC_PREPAYMENT if acc.prepay else PCC_CREDIT
    a(0x0000, T_MAP16, pcc, name="PaymentControlConfiguration")
    a(0x0001, T_I32, getter=lambda: acc.balance(now()), name="CreditRemaining")
    a(0x0002, T_I32, getter=lambda: acc.ec_remaining(now()), name="EmergencyCreditRemaining")
    a(0x0003, T_MAP8, getter=lambda: acc.credit_status(now()), name="CreditStatus")
    a(0x0005, T_I32, getter=lambda: acc.debt_outstanding(now()), name="AccumulatedDebt")
    a(0x0010, T_U32, acc.ec_limit, name="EmergencyCreditLimitAllowance")
    a(0x0011, T_U32, acc.ec_threshold, name="EmergencyCreditThreshold")
    a(0x0020, T_U48, getter=lambda: acc.total_added, name="TotalCreditAdded")
    if acc.max_credit:
        a(0x0021, T_U32, acc.max_credit, name="MaxCreditLimit")
    if acc.max_per_top_up:
        a(0x0022, T_U32, acc.max_per_top_up, name="MaxCreditPerTopUp")
    a(0x0031, T_U32, acc.low_level, name="LowCreditWarningLevel")
    if acc.ihd_low_level:
        a(0x0032, T_U32, acc.ihd_low_level, name="IHDLowCreditWarningLevel")
    a(0x0400, T_MAP16, getter=lambda: acc.alarm_status(now()), name="PrepaymentAlarmStatus")
    a(0x0502, T_ENUM8, acc.scaling, name="CurrencyScalingFactor")

    def log_attr(i: int, field: int) -> Any:
        def get() -> Any:
            if i >= len(acc.top_up_log):
                return (0xFFFFFFFF, 0, 0xFF, b"")[field]
            return acc.top_up_log[i][field]

        return get

    for i in range(5):
        base = 0x0100 + 0x10 * i
        a(base, T_UTC, getter=log_attr(i, 0), name="TopUpDateTime%d" % (i + 1))
        a(base + 1, T_I32, getter=log_attr(i, 1), name="TopUpAmount%d" % (i + 1))
        a(base + 2, T_ENUM8, getter=log_attr(i, 2), name="OriginatingDevice%d" % (i + 1))
        a(base + 3, T_OCTSTR, getter=log_attr(i, 3), name="TopUpCode%d" % (i + 1))

    def debt_attr(d: Debt) -> Any:
        return lambda: d.outstanding(now())

    for k, d in enumerate(acc.debts):
        base = 0x0210 + 0x10 * k
        a(base, T_OCTSTR, d.label.encode()[:12], name="DebtLabel%d" % (k + 1))
        a(base + 1, T_U32, getter=debt_attr(d), name="DebtAmount%d" % (k + 1))
        a(base + 2, T_ENUM8, 0x00 if d.recovery == "time" else 0x02, name="RecoveryMethod")
        if d.recovery == "time":
            a(base + 6, T_ENUM8, FREQ_DAILY, name="DebtRecoveryFrequency%d" % (k + 1))
            a(base + 7, T_U32, d.per_day, name="DebtRecoveryAmount%d" % (k + 1))
        else:
            a(base + 9, T_U16, d.percent_x100, name="DebtRecoveryTopUpPercentage%d" % (k + 1))

    def consumer_top_up(req: Request) -> None:
        origin = req.payload[0]
        n = req.payload[1]
        raw = req.payload[2 : 2 + n]
        if len(raw) != n:
            raise ZclError(0x80)  # MALFORMED_COMMAND
        try:
            code = raw.decode("ascii")
        except UnicodeDecodeError:
            code = ""
        result, value = acc.top_up(code, origin, req.now)
        if result == ACCEPTED:
            payload = top_up_response(result, value, origin, acc.balance(req.now))
        else:
            payload = top_up_response(result, None, origin, None)
        req.reply(0x03, payload)

    def select_emergency_credit(req: Request) -> None:
        struct.unpack_from("<IB", req.payload)  # CommandIssueDateTime, OriginatingDevice
        if not acc.select_ec(req.now):
            raise ZclError(ACTION_DENIED)

    cluster.on(0x04, consumer_top_up)
    cluster.on(0x00, select_emergency_credit)
    return acc


if __name__ == "__main__":  # pragma: no cover - manual helper
    pence = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    counter = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    code = make_utrn(pence, counter=counter)
    print(" ".join(code[i : i + 4] for i in range(0, 20, 4)))
