# What a prepayment meter says and what it means (docs/prepay.md, zigbee-se.md §6). No I/O.
#   Account  one meter's account as last heard: its Prepayment attributes as on the wire (ids
#            named in zigbee/zcl/clusters.py), stored with the checks worth a log line (a
#            payment mode change, a scaling factor out of range, a currency other than GBP), and
#            what follows from them: payment mode, credit and emergency credit, whether to offer
#            emergency credit, low credit (and when its alert may re-arm), debts;
#   money    the meter's money fields in its CurrencyScalingFactor -> 1e-5 GBP ("mp");
#   Result   the answer to a top-up or emergency credit request as the screens get it; and
#            ConsumerTopUpResponse -> Result.
from micropython import const

from ihd.prepay import stats
from ihd.runtime import log
from ihd.state import fuels
from ihd.state import model as M
from ihd.state import prepay as P
from ihd.zigbee.zcl import clusters as CL

_TAG = const("prepay")

# PaymentControlConfiguration / CreditStatus bits (zigbee-se.md §6).
_PCC_PREPAYMENT = const(0x0002)
_CS_LOW_CREDIT = const(0x02)
_CS_EC_AVAILABLE = const(0x08)
_CS_EC_SELECTED = const(0x10)
_CS_EC_IN_USE = const(0x20)
_CS_EXHAUSTED = const(0x40)

_GBP = const(826)
_NONE_U32 = const(0xFFFFFFFF)  # "no value" in ConsumerTopUpResponse error answers
_MAX_SCALE = const(7)
_LOW_HYST_MP = const(50000)  # re-arm the low-credit alert 50 p above the warning level


def to_mp(raw, scale):
    # Meter money -> 1e-5 GBP. CurrencyScalingFactor k: one unit of the meter's money fields is
    # 10^(k-5) of the currency (k=0: 1e-5 GBP as in the GBCS vector; k=3: pence; k=5: pounds).
    # The enum's meaning is not in the reference: see docs/prepay.md.
    if raw is None:
        return None
    return raw * (10**scale)


def money_text(mp):
    # 1e-5 GBP -> "£12.50" (logs; the screens use ui.fmt.money).
    if mp is None:
        return "--"
    neg = mp < 0
    p = ((-mp if neg else mp) + 500) // 1000
    return "%s£%d.%02d" % ("-" if neg else "", p // 100, p % 100)


def _signed32(v):
    return v - 0x100000000 if v & 0x80000000 else v


def decode_top_up_response(args, scale=0, fuel=None, utrn=None):
    # ConsumerTopUpResponse args (clusters.py schema) -> Result. 0xFFFFFFFF = value absent.
    # The value fields are decoded as uint32 and read as signed (credit may be negative).
    r = Result(P.REJ_ERROR, fuel, utrn)
    rt = r.result_type = args.get("result_type")
    # ResultType 0x00 and 0x10-0x12 (accepted + supply state): ACCEPTED; 0x01-0x06: the
    # rejection with that number (state/prepay.py); any other: REJ_ERROR.
    if rt in (0x00, 0x10, 0x11, 0x12):
        r.code = P.ACCEPTED
    elif rt in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06):
        r.code = rt
    r.source = args.get("source_of_top_up")
    v = args.get("top_up_value")
    if v is not None and v != _NONE_U32:
        r.amount_mp = to_mp(_signed32(v), scale)
    v = args.get("credit_remaining")
    if v is not None and v != _NONE_U32:
        r.credit_mp = to_mp(_signed32(v), scale)
    return r


class Result:
    # The answer to a top-up or emergency credit request, as the screens get it.
    __slots__ = ("code", "fuel", "amount_mp", "credit_mp", "ec_mp", "result_type", "source",
                 "status", "lock_s", "maybe_applied", "utrn")  # fmt: skip

    def __init__(self, code, fuel=None, utrn=None):
        self.code = code  # state/prepay.py result code
        self.fuel = fuel
        self.amount_mp = None  # top-up value (accepted) or None
        self.credit_mp = None  # credit after the top-up / EC selection
        self.ec_mp = None  # emergency credit balance (EC selection)
        self.result_type = None  # raw ResultType byte
        self.source = None
        self.status = None  # Default Response status (REFUSED)
        self.lock_s = 0  # LOCKED: seconds left
        self.maybe_applied = False  # duplicate after a "no answer": the first try got through
        self.utrn = utrn  # grouped code for display (the screen may show it back)

    def ok(self):
        return self.code in (P.ACCEPTED, P.EC_SELECTED)

    def text(self):
        return P.message(self.code)

    def __repr__(self):
        return "Result(%s 0x%02x %s)" % (self.fuel, self.code, self.text())


class Account:
    def __init__(self, name):
        self.name = name  # registry name: "elec" | "gas"
        f = fuels.by_key(name)
        self.fuel_id = fuels.ELEC if f is None else f.index
        self.raw = {}  # attribute id -> value as decoded from the wire
        self.utc = None  # time of the last update

    def set(self, attr_id, value):
        # One attribute as read or reported.
        raw = self.raw
        if attr_id == CL.PP_ATTR_PAYMENT_CONTROL_CONFIGURATION:
            old = raw.get(attr_id)
            if old is not None and (old ^ value) & _PCC_PREPAYMENT:
                stats.inc("mode_changes")
                log.info(_TAG, "%s: payment mode -> %s", self.name,
                         "prepayment" if value & _PCC_PREPAYMENT else "credit")  # fmt: skip
        elif attr_id == CL.PP_ATTR_CURRENCY_SCALING_FACTOR and not 0 <= value <= _MAX_SCALE:
            stats.inc("bad_scaling")
            log.warn(_TAG, "%s: CurrencyScalingFactor %d unsupported; using 1e-5", self.name,
                     value)  # fmt: skip
        elif attr_id == CL.PP_ATTR_CURRENCY and value != _GBP and raw.get(attr_id) != value:
            log.warn(_TAG, "%s: currency %d is not GBP (826); shown as GBP", self.name, value)
        raw[attr_id] = value

    def scale(self):
        k = self.raw.get(CL.PP_ATTR_CURRENCY_SCALING_FACTOR)
        if k is None or k < 0 or k > _MAX_SCALE:
            return 0
        return k

    def mp(self, attr_id):
        return to_mp(self.raw.get(attr_id), self.scale())

    def known(self):
        # Payment mode known (PaymentControlConfiguration read or reported).
        return CL.PP_ATTR_PAYMENT_CONTROL_CONFIGURATION in self.raw

    def prepayment(self):
        pcc = self.raw.get(CL.PP_ATTR_PAYMENT_CONTROL_CONFIGURATION)
        return pcc is not None and bool(pcc & _PCC_PREPAYMENT)

    def mode(self):
        return M.MODE_PREPAY if self.prepayment() else M.MODE_CREDIT

    def status(self):
        return self.raw.get(CL.PP_ATTR_CREDIT_STATUS)

    def credit_mp(self):
        return self.mp(CL.PP_ATTR_CREDIT_REMAINING)

    def ec_mp(self):
        return self.mp(CL.PP_ATTR_EMERGENCY_CREDIT_REMAINING)

    def ec_in_use(self):
        st = self.status()
        return st is not None and bool(st & _CS_EC_IN_USE)

    def ec_available(self):
        # Offer EC: the meter says available, and it is not already selected / in use.
        st = self.status()
        if st is None or not self.prepayment():
            return False
        return bool(st & _CS_EC_AVAILABLE) and not st & (_CS_EC_SELECTED | _CS_EC_IN_USE)

    def low_level_mp(self):
        # IHD warning level if set, else the meter's low-credit warning level.
        v = self.mp(CL.PP_ATTR_IHD_LOW_CREDIT_WARNING_LEVEL)
        if not v:
            v = self.mp(CL.PP_ATTR_LOW_CREDIT_WARNING_LEVEL)
        return v or None

    def low_credit(self):
        if not self.prepayment():
            return False
        st = self.status()
        if st is not None and st & (_CS_LOW_CREDIT | _CS_EXHAUSTED):
            return True
        lvl = self.low_level_mp()
        cr = self.credit_mp()
        return lvl is not None and cr is not None and cr < lvl

    def low_rearm(self):
        # Hysteresis: the low-credit alert re-arms only clearly above the level.
        if self.low_credit():
            return False
        lvl = self.low_level_mp()
        cr = self.credit_mp()
        return lvl is None or cr is None or cr >= lvl + _LOW_HYST_MP

    def debts(self):
        # [(label, amount_mp, recovery_mp, recovery_frequency)] for the debt registers present.
        out = []
        for k in range(3):
            off = CL.PP_DEBT_STEP * k  # register k's ids: register 1's + off
            amount = self.mp(CL.PP_ATTR_DEBT_AMOUNT_1 + off)
            if amount is None:
                continue
            label = self.raw.get(CL.PP_ATTR_DEBT_LABEL_1 + off)
            if isinstance(label, (bytes, bytearray)):
                try:
                    label = bytes(label).decode()
                except Exception:
                    label = None
            out.append((label, amount, self.mp(CL.PP_ATTR_DEBT_RECOVERY_AMOUNT_1 + off),
                        self.raw.get(CL.PP_ATTR_DEBT_RECOVERY_FREQUENCY_1 + off)))  # fmt: skip
        return out

    def debt_mp(self):
        # Outstanding debt shown to the user: the sum of the debt registers when the meter has
        # them, else AccumulatedDebt.
        ds = self.debts()
        if ds:
            return sum(d[1] for d in ds)
        return self.mp(CL.PP_ATTR_ACCUMULATED_DEBT)
