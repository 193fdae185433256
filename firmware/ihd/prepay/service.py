# Prepayment service (docs/prepay.md): per bound meter (elec = ESME, gas = GPF) follows the
# Prepayment cluster 0x0705 (reports + polling), converts money to 1e-5 GBP ("mp") with the
# scaling the meter declares, tops up with UTRNs (ConsumerTopUp), selects emergency credit,
# raises low-credit / EC-in-use alerts once per crossing and keeps a bounded, masked top-up log.
import asyncio
import json

from micropython import const

from ihd.runtime import atomic, clock, log
from ihd.runtime.counters import Counters
from ihd.state import model as M
from ihd.state import utrn as U
from ihd.zigbee.zcl import foundation as F

_TAG = "prepay"
_CLUSTER = const(0x0705)
_CMD_SELECT_EC = const(0x00)
_CMD_TOP_UP = const(0x04)
_CMD_TOP_UP_RSP = const(0x03)
_SUCCESS = const(0x00)
_NONE_U32 = const(0xFFFFFFFF)  # "no value" in ConsumerTopUpResponse error answers

# OriginatingDevice (enum8): 0x00 ESI, 0x01 Meter, 0x02 IHD. A PPMID/IHD keying a UTRN in
# locally uses 0x02 "IHD". The GBCS CS01b vector uses 0x00 because that top-up came from the
# ESI (remote); the value for locally keyed codes is not confirmed by the reference (§10), so
# it is a constructor argument.
ORIG_ESI = const(0x00)
ORIG_METER = const(0x01)
ORIG_IHD = const(0x02)

# Attributes followed (zigbee-se.md §6).
A_PAYMENT_CONTROL = const(0x0000)
A_CREDIT = const(0x0001)
A_EC_REMAINING = const(0x0002)
A_CREDIT_STATUS = const(0x0003)
A_CREDIT_TIME = const(0x0004)
A_ACC_DEBT = const(0x0005)
A_EC_LIMIT = const(0x0010)
A_EC_THRESHOLD = const(0x0011)
A_LOW_CREDIT_LEVEL = const(0x0031)
A_IHD_LOW_CREDIT_LEVEL = const(0x0032)
A_SCALING = const(0x0502)
A_CURRENCY = const(0x0503)
# Debt registers k = 0..2: label 0x0210 + 0x10k, amount +1, recovery frequency +6, amount +7.
_DEBT_BASE = const(0x0210)

# Read groups sized so each Read Attributes Response fits one unfragmented frame (82 B).
_READ_STATE = (0x0000, 0x0001, 0x0002, 0x0003, 0x0004, 0x0005, 0x0010, 0x0011, 0x0031)
_READ_CONFIG = (0x0032, 0x0502, 0x0503, 0x0211, 0x0221, 0x0231, 0x0217, 0x0227, 0x0237)
_READ_DEBT_INFO = (0x0210, 0x0220, 0x0230, 0x0216, 0x0226, 0x0236)
_MONEY_ATTRS = (0x0001, 0x0002, 0x0005, 0x0010, 0x0011, 0x0031, 0x0032)

# PaymentControlConfiguration / CreditStatus bits.
PCC_PREPAYMENT = const(0x0002)
CS_CREDIT_OK = const(0x01)
CS_LOW_CREDIT = const(0x02)
CS_EC_ENABLED = const(0x04)
CS_EC_AVAILABLE = const(0x08)
CS_EC_SELECTED = const(0x10)
CS_EC_IN_USE = const(0x20)
CS_EXHAUSTED = const(0x40)

# Change of tenancy "Clear Prepayment Data" (Proposed Tenancy Change Control bit).
COT_CLEAR_PREPAY = const(0x4000)

# Result codes. 0-6 mirror the meter's ConsumerTopUpResponse ResultType rejections; the rest
# are decided on the IHD (nothing was sent, or nothing came back).
ACCEPTED = const(0)
REJ_INVALID = const(1)
REJ_DUPLICATE = const(2)
REJ_ERROR = const(3)
REJ_MAX_CREDIT = const(4)
REJ_KEYPAD_LOCK = const(5)
REJ_TOO_LARGE = const(6)
BAD_FORMAT = const(0x20)  # not 20 digits: not sent
BAD_CHECK = const(0x21)  # check digit wrong (mistyped): not sent
NO_ANSWER = const(0x22)  # sent, no answer in time: code kept for retry
BAD_ANSWER = const(0x23)  # answer unreadable / not a top-up response: code kept for retry
LOCKED = const(0x24)  # too many rejections: entry locked for lock_s seconds
NO_METER = const(0x25)  # no bound meter of that fuel
NOT_PREPAY = const(0x26)  # the meter is in credit mode
REFUSED = const(0x27)  # Default Response error (status in .status), e.g. unsupported
BUSY = const(0x28)  # another top-up / EC request in flight
EC_SELECTED = const(0x30)
EC_NOT_AVAILABLE = const(0x31)

_TEXT = {
    ACCEPTED: "Top-up accepted",
    REJ_INVALID: "Code not valid for this meter",
    REJ_DUPLICATE: "Code already used",
    REJ_ERROR: "Meter could not apply the code",
    REJ_MAX_CREDIT: "Credit limit reached",
    REJ_KEYPAD_LOCK: "Top-up locked on the meter",
    REJ_TOO_LARGE: "Top-up too large",
    BAD_FORMAT: "Codes have 20 digits",
    BAD_CHECK: "Code mistyped: check digits",
    NO_ANSWER: "No answer: code kept, retry",
    BAD_ANSWER: "Unclear answer: code kept",
    LOCKED: "Too many wrong codes: wait",
    NO_METER: "Meter not connected",
    NOT_PREPAY: "Meter is not in prepayment",
    REFUSED: "Meter refused the request",
    BUSY: "Busy: please wait",
    EC_SELECTED: "Emergency credit on",
    EC_NOT_AVAILABLE: "No emergency credit available",
}

# ConsumerTopUpResponse ResultType -> code (0x10-0x12 = accepted + supply state).
_RESULT_TYPES = {0x00: ACCEPTED, 0x10: ACCEPTED, 0x11: ACCEPTED, 0x12: ACCEPTED, 0x01: REJ_INVALID,
                 0x02: REJ_DUPLICATE, 0x03: REJ_ERROR, 0x04: REJ_MAX_CREDIT,
                 0x05: REJ_KEYPAD_LOCK, 0x06: REJ_TOO_LARGE}  # fmt: skip

ALERT_LOW_CREDIT = "low_credit"
ALERT_EC_IN_USE = "ec_in_use"

_FUEL_IDS = {"elec": M.FUEL_ELEC, "gas": M.FUEL_GAS}

_MAX_REJECTS = const(3)  # consecutive rejections before a lockout
_LOCK_BASE_S = const(60)  # first lockout; doubles per further lockout
_LOCK_MAX_S = const(3600)
_LOG_LEN = const(20)
_LOW_HYST_MP = const(50000)  # re-arm the low-credit alert 50 p above the warning level
_MAX_SCALE = const(7)
TOP_UP_TIMEOUT_MS = const(15000)  # one attempt only (never re-sent automatically)

stats = Counters(
    "prepay",
    ("top_ups", "accepted", "rejected", "no_answer", "bad_check", "locked", "ec_selected",
     "reports", "rejected_source", "alerts", "mode_changes", "bad_scaling"),
)  # fmt: skip


def message(code):
    return _TEXT.get(code, "Error")


def money_text(mp):
    # 1e-5 GBP -> "£12.50" (logs; the screens use ui.fmt.money).
    if mp is None:
        return "--"
    neg = mp < 0
    p = ((-mp if neg else mp) + 500) // 1000
    return "%s£%d.%02d" % ("-" if neg else "", p // 100, p % 100)


def to_mp(raw, scale):
    # Meter money -> 1e-5 GBP. CurrencyScalingFactor k: one unit of the meter's money fields is
    # 10^(k-5) of the currency (k=0: 1e-5 GBP as in the GBCS vector; k=3: pence; k=5: pounds).
    # The enum's meaning is not in the reference: see docs/prepay.md.
    if raw is None:
        return None
    return raw * (10**scale)


def _signed32(v):
    return v - 0x100000000 if v & 0x80000000 else v


def decode_top_up_response(args, scale=0):
    # ConsumerTopUpResponse args (clusters.py schema) -> Result. 0xFFFFFFFF = value absent.
    code = _RESULT_TYPES.get(args.get("result_type"), REJ_ERROR)
    r = Result(code)
    r.result_type = args.get("result_type")
    r.source = args.get("source_of_top_up")
    v = args.get("top_up_value")
    if v is not None and v != _NONE_U32:
        r.amount_mp = to_mp(_signed32(v), scale)
    v = args.get("credit_remaining")
    if v is not None and v != _NONE_U32:
        r.credit_mp = to_mp(_signed32(v), scale)
    return r


class Result:
    __slots__ = ("code", "fuel", "amount_mp", "credit_mp", "ec_mp", "result_type", "source",
                 "status", "lock_s", "maybe_applied", "utrn")  # fmt: skip

    def __init__(self, code, fuel=None):
        self.code = code
        self.fuel = fuel
        self.amount_mp = None  # top-up value (accepted) or None
        self.credit_mp = None  # credit after the top-up / EC selection
        self.ec_mp = None  # emergency credit balance (EC selection)
        self.result_type = None  # raw ResultType byte
        self.source = None
        self.status = None  # Default Response status (REFUSED)
        self.lock_s = 0  # LOCKED: seconds left
        self.maybe_applied = False  # duplicate after a "no answer": the first try got through
        self.utrn = None  # grouped code for display (the screen may show it back)

    def ok(self):
        return self.code in (ACCEPTED, EC_SELECTED)

    def text(self):
        return message(self.code)

    def __repr__(self):
        return "Result(%s 0x%02x %s)" % (self.fuel, self.code, self.text())


class Account:
    # Last known Prepayment attributes of one meter (raw values as on the wire).
    def __init__(self, name):
        self.name = name
        self.fuel_id = _FUEL_IDS.get(name, 0)
        self.raw = {}
        self.utc = None  # time of the last update
        self.alert_armed = {ALERT_LOW_CREDIT: True, ALERT_EC_IN_USE: True}

    def get(self, attr_id):
        return self.raw.get(attr_id)

    def scale(self):
        k = self.raw.get(A_SCALING)
        if k is None or k < 0 or k > _MAX_SCALE:
            return 0
        return k

    def mp(self, attr_id):
        return to_mp(self.raw.get(attr_id), self.scale())

    def known(self):
        # Payment mode known (PaymentControlConfiguration read or reported).
        return A_PAYMENT_CONTROL in self.raw

    def prepayment(self):
        pcc = self.raw.get(A_PAYMENT_CONTROL)
        return pcc is not None and bool(pcc & PCC_PREPAYMENT)

    def mode(self):
        return M.MODE_PREPAY if self.prepayment() else M.MODE_CREDIT

    def status(self):
        return self.raw.get(A_CREDIT_STATUS)

    def credit_mp(self):
        return self.mp(A_CREDIT)

    def ec_mp(self):
        return self.mp(A_EC_REMAINING)

    def ec_in_use(self):
        st = self.status()
        return st is not None and bool(st & CS_EC_IN_USE)

    def ec_available(self):
        # Offer EC: the meter says available, and it is not already selected / in use.
        st = self.status()
        if st is None or not self.prepayment():
            return False
        return bool(st & CS_EC_AVAILABLE) and not st & (CS_EC_SELECTED | CS_EC_IN_USE)

    def low_level_mp(self):
        # IHD warning level if set, else the meter's low-credit warning level.
        for a in (A_IHD_LOW_CREDIT_LEVEL, A_LOW_CREDIT_LEVEL):
            v = self.mp(a)
            if v:
                return v
        return None

    def low_credit(self):
        if not self.prepayment():
            return False
        st = self.status()
        if st is not None and st & (CS_LOW_CREDIT | CS_EXHAUSTED):
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
            base = _DEBT_BASE + 0x10 * k
            amount = self.mp(base + 1)
            if amount is None:
                continue
            label = self.raw.get(base)
            if isinstance(label, (bytes, bytearray)):
                try:
                    label = bytes(label).decode()
                except Exception:
                    label = None
            out.append((label, amount, self.mp(base + 7), self.raw.get(base + 6)))
        return out

    def debt_mp(self):
        # Outstanding debt shown to the user: the sum of the debt registers when the meter has
        # them, else AccumulatedDebt.
        ds = self.debts()
        if ds:
            return sum(d[1] for d in ds)
        return self.mp(A_ACC_DEBT)


class PrepayService:
    def __init__(self, zcl, registry, model=None, state_path=None, buzzer=None,
                 originating_device=ORIG_IHD, poll_s=300, top_up_timeout_ms=TOP_UP_TIMEOUT_MS,
                 ec_timeout_ms=5000):  # fmt: skip
        self.zcl = zcl
        self.registry = registry
        self.model = model  # state.model.Model or None
        self.state_path = state_path
        self.buzzer = buzzer  # fn(meter_name, alert_kind) or None
        self.originating_device = originating_device
        self.poll_s = poll_s
        self.top_up_timeout_ms = top_up_timeout_ms
        self.ec_timeout_ms = ec_timeout_ms
        self.accounts = {}
        self.on_change = []  # fn(meter_name): after any update (e.g. the entry screen)
        self._busy = False
        self._wake = asyncio.Event()
        self._configured = {}
        # Persistent state.
        self._rejects = 0
        self._lock_level = 0
        self._lock_until = 0  # UTC; 0 = not locked
        self._pending = {}  # meter -> UTRN digits sent without an answer (kept for retry)
        self._log = []  # [utc, meter, amount_mp, code, masked utrn], newest last
        self._alerts = []  # [meter, kind, utc] active, unacknowledged
        self._load()
        zcl.on_report(_CLUSTER, self._on_report)

    # ---------------- persistence ----------------

    def _load(self):
        if not self.state_path:
            return
        raw = atomic.read(self.state_path)
        if not raw:
            return
        try:
            d = json.loads(raw)
            self._rejects = int(d.get("rejects", 0))
            self._lock_level = int(d.get("lock_level", 0))
            self._lock_until = int(d.get("lock_until", 0))
            self._pending = dict(d.get("pending", {}))
            self._log = list(d.get("log", []))[-_LOG_LEN:]
            for key in d.get("disarmed", []):
                name, kind = key.split("/")
                self.account(name).alert_armed[kind] = False
        except (ValueError, AttributeError, TypeError, KeyError):
            log.warn(_TAG, "state unreadable; starting empty")

    def _save(self):
        if not self.state_path:
            return
        disarmed = []
        for name, acc in self.accounts.items():
            for kind, armed in acc.alert_armed.items():
                if not armed:
                    disarmed.append(name + "/" + kind)
        d = {
            "rejects": self._rejects,
            "lock_level": self._lock_level,
            "lock_until": self._lock_until,
            "pending": self._pending,
            "log": self._log,
            "disarmed": disarmed,
        }
        try:
            atomic.write(self.state_path, json.dumps(d).encode())
        except OSError as e:
            log.exc(_TAG, e, "saving state")

    # ---------------- accounts ----------------

    def account(self, name):
        acc = self.accounts.get(name)
        if acc is None:
            acc = self.accounts[name] = Account(name)
        return acc

    def prepayment_meters(self):
        # Names of bound meters known to be in prepayment mode (entry: fuel choice).
        return [m.name for m in self.registry.all() if self.account(m.name).prepayment()]

    def ec_offer(self, name):
        # EC balance to offer ("Emergency credit £5.00 available: take it?") or None.
        acc = self.accounts.get(name)
        if acc is None or not acc.ec_available():
            return None
        return acc.ec_mp() or acc.mp(A_EC_LIMIT)

    # ---------------- following the meter ----------------

    def kick(self):
        self._wake.set()

    async def run(self):
        while True:
            for m in self.registry.all():
                if not self._configured.get(m.name):
                    await self.configure_reporting(m.name)
                await self.refresh(m.name)
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), max(1, self.poll_s) / clock.scale())
            except asyncio.TimeoutError:
                pass

    async def configure_reporting(self, name):
        # Ask for reports of the fast-changing attributes; polling still covers the rest (and
        # meters that refuse reporting).
        from ihd.zigbee.zcl import types as T

        m = self.registry.get(name)
        if m is None:
            return False
        recs = (
            F.reporting_record(A_PAYMENT_CONTROL, T.BITMAP16, 1, 3600),
            F.reporting_record(A_CREDIT_STATUS, T.BITMAP8, 1, 3600),
            F.reporting_record(A_CREDIT, T.INT32, 60, 900, 1),
            F.reporting_record(A_EC_REMAINING, T.INT32, 60, 900, 1),
        )
        res = await self.zcl.configure_reporting(m.node, m.ep, _CLUSTER, recs)
        ok = res is not None and all(r[0] == _SUCCESS for r in res)
        self._configured[name] = res is not None
        if not ok:
            log.info(_TAG, "%s: reporting not (fully) configured: %r; polling", name, res)
        return ok

    async def refresh(self, name):
        # Reads the followed attributes. -> True if the meter answered.
        m = self.registry.get(name)
        if m is None:
            return False
        got = False
        for ids in (_READ_STATE, _READ_CONFIG, _READ_DEBT_INFO):
            res = await self.zcl.read_attributes(m.node, m.ep, _CLUSTER, ids)
            if res is None:
                continue
            got = True
            acc = self.account(name)
            for a, v in res.items():
                if not isinstance(v, F.AttrStatus):
                    self._set(acc, a, v)
        if got:
            self._updated(self.account(name))
        return got

    def _on_report(self, frame, attr_id, value):
        m = self.registry.source_of(frame)
        if m is None:
            stats.inc("rejected_source")
            return
        stats.inc("reports")
        acc = self.account(m.name)
        self._set(acc, attr_id, value)
        self._updated(acc)

    def _set(self, acc, attr_id, value):
        if attr_id == A_PAYMENT_CONTROL:
            old = acc.raw.get(A_PAYMENT_CONTROL)
            if old is not None and (old ^ value) & PCC_PREPAYMENT:
                stats.inc("mode_changes")
                log.info(_TAG, "%s: payment mode -> %s", acc.name,
                         "prepayment" if value & PCC_PREPAYMENT else "credit")  # fmt: skip
        elif attr_id == A_SCALING and not 0 <= value <= _MAX_SCALE:
            stats.inc("bad_scaling")
            log.warn(_TAG, "%s: CurrencyScalingFactor %d unsupported; using 1e-5", acc.name,
                     value)  # fmt: skip
        elif attr_id == A_CURRENCY and value != 826 and acc.raw.get(A_CURRENCY) != value:
            log.warn(_TAG, "%s: currency %d is not GBP (826); shown as GBP", acc.name, value)
        acc.raw[attr_id] = value

    def _updated(self, acc):
        acc.utc = clock.now()
        fresh = self._check_alerts(acc)
        self._publish(acc, fresh)
        for fn in self.on_change:
            try:
                fn(acc.name)
            except Exception as e:
                log.exc(_TAG, e, "on_change")

    def _publish(self, acc, fresh_alert):
        mdl = self.model
        if mdl is None or not acc.known():
            return
        f = mdl.fuel(acc.fuel_id)
        f.present = True
        # alert once per crossing of the low-credit level, not on every report while it is low
        mdl.set_prepay(
            acc.fuel_id,
            acc.mode(),
            acc.credit_mp(),
            acc.ec_mp(),
            acc.debt_mp(),
            acc.utc,
            ec_in_use=acc.ec_in_use(),
            low_credit=acc.low_credit(),
            alert=fresh_alert,
        )

    # ---------------- alerts ----------------

    def _check_alerts(self, acc):
        fresh = False
        dirty = False
        conds = (
            (ALERT_LOW_CREDIT, acc.low_credit(), acc.low_rearm()),
            (ALERT_EC_IN_USE, acc.prepayment() and acc.ec_in_use(), not acc.ec_in_use()),
        )
        for kind, active, rearm in conds:
            if active and acc.alert_armed[kind]:
                acc.alert_armed[kind] = False
                self._alerts.append([acc.name, kind, clock.now()])
                stats.inc("alerts")
                log.info(_TAG, "%s: alert %s (credit %s)", acc.name, kind,
                         money_text(acc.credit_mp()))  # fmt: skip
                fresh = dirty = True
                if self.buzzer is not None:
                    try:
                        self.buzzer(acc.name, kind)
                    except Exception as e:
                        log.exc(_TAG, e, "buzzer")
            elif not active and rearm and not acc.alert_armed[kind]:
                acc.alert_armed[kind] = True
                self._drop_alert(acc.name, kind)
                dirty = True
        if dirty:
            self._save()
        return fresh

    def _drop_alert(self, name, kind):
        self._alerts = [a for a in self._alerts if not (a[0] == name and a[1] == kind)]

    def alerts(self):
        # Active, unacknowledged alerts: [(meter, kind, utc)].
        return [tuple(a) for a in self._alerts]

    def acknowledge(self, name=None, kind=None):
        # The user saw it: drop the alert(s). It fires again only after re-arming.
        keep = []
        for a in self._alerts:
            if (name is not None and a[0] != name) or (kind is not None and a[1] != kind):
                keep.append(a)
        self._alerts = keep
        if self.model is not None:
            self.model.changed(M.D_PREPAY)

    # ---------------- rate limiting ----------------

    def lock_remaining_s(self):
        if not self._lock_until:
            return 0
        now = clock.now()
        if now == 0:
            return _LOCK_BASE_S  # clock not synced yet: stay locked (conservative)
        left = self._lock_until - now
        if left <= 0:
            self._lock_until = 0
            self._save()
            return 0
        return left

    def _reject(self):
        self._rejects += 1
        if self._rejects >= _MAX_REJECTS:
            self._rejects = 0
            self._lock_level += 1
            lock_s = min(_LOCK_MAX_S, _LOCK_BASE_S << min(self._lock_level - 1, 6))
            self._lock_until = max(1, clock.now()) + lock_s
            stats.inc("locked")
            log.warn(_TAG, "top-up entry locked for %d s", lock_s)
        self._save()

    def _clear_rejects(self):
        if self._rejects or self._lock_level or self._lock_until:
            self._rejects = self._lock_level = self._lock_until = 0
            self._save()

    # ---------------- top-up ----------------

    def pending(self, name):
        # UTRN sent without an answer (digits), or None. Re-send with retry(name).
        return self._pending.get(name)

    def discard_pending(self, name):
        if self._pending.pop(name, None) is not None:
            self._save()

    async def retry(self, name):
        code = self._pending.get(name)
        if code is None:
            return Result(BAD_FORMAT, name)
        return await self.top_up(name, code)

    async def top_up(self, name, code_text):
        # The user asked to apply this code to meter `name` ("elec" / "gas"). Sends at most one
        # ConsumerTopUp; never re-sends on its own.
        digits = U.normalise(code_text)
        lock_s = self.lock_remaining_s()
        if lock_s:
            r = Result(LOCKED, name)
            r.lock_s = lock_s
            return r
        v = U.validate(code_text)
        if v == U.E_CHECK:
            stats.inc("bad_check")
            self._reject()
            r = Result(BAD_CHECK, name)
            r.lock_s = self.lock_remaining_s()
            return r
        if v != U.OK:
            return Result(BAD_FORMAT, name)
        m = self.registry.get(name)
        if m is None:
            return Result(NO_METER, name)
        acc = self.account(name)
        if acc.known() and not acc.prepayment():
            return Result(NOT_PREPAY, name)
        if self._busy:
            return Result(BUSY, name)
        self._busy = True
        try:
            return await self._send_top_up(m, acc, digits)
        finally:
            self._busy = False

    async def _send_top_up(self, m, acc, digits):
        name = m.name
        was_pending = self._pending.get(name) == digits
        # Kept before sending: a reboot or a lost answer never loses the code.
        self._pending[name] = digits
        self._save()
        stats.inc("top_ups")
        log.info(_TAG, "%s: top-up %s", name, U.mask(digits))
        values = {"originating_device": self.originating_device, "top_up_code": digits.encode()}
        rsp = await self.zcl.command(m.node, m.ep, _CLUSTER, _CMD_TOP_UP, values,
                                     rsp_cmd=_CMD_TOP_UP_RSP, timeout_ms=self.top_up_timeout_ms,
                                     retries=0)  # fmt: skip
        if rsp is None:
            stats.inc("no_answer")
            r = Result(NO_ANSWER, name)
        else:
            st = rsp.default_status()
            if st is not None and st != _SUCCESS:
                r = Result(REFUSED, name)
                r.status = st
                self._pending.pop(name, None)
            elif st is not None or rsp.args is None or rsp.cmd_id != _CMD_TOP_UP_RSP:
                r = Result(BAD_ANSWER, name)
            else:
                r = decode_top_up_response(rsp.args, acc.scale())
                r.fuel = name
                self._pending.pop(name, None)
                if r.code == REJ_DUPLICATE and was_pending:
                    # The earlier, unanswered attempt most likely got through.
                    r.maybe_applied = True
        r.utrn = U.group(digits)
        self._after_top_up(acc, digits, r)
        return r

    def _after_top_up(self, acc, digits, r):
        if r.code == ACCEPTED:
            stats.inc("accepted")
            self._clear_rejects()
            if r.credit_mp is not None:
                acc.raw[A_CREDIT] = r.credit_mp // (10 ** acc.scale())
                self._updated(acc)
            self.kick()  # re-read everything (EC repaid, status bits) soon
        elif r.code in (REJ_INVALID, REJ_DUPLICATE) and not r.maybe_applied:
            stats.inc("rejected")
            self._reject()
            r.lock_s = self.lock_remaining_s()
        elif r.code < BAD_FORMAT:
            stats.inc("rejected")
        amount = r.amount_mp if r.amount_mp is not None else U.amount_mp(digits)
        self._log.append([clock.now(), acc.name, amount, r.code, U.mask(digits)])
        if len(self._log) > _LOG_LEN:
            self._log = self._log[-_LOG_LEN:]
        self._save()
        log.info(_TAG, "%s: top-up %s -> %s (%s, credit %s)", acc.name, U.mask(digits),
                 r.text(), money_text(r.amount_mp), money_text(r.credit_mp))  # fmt: skip

    # ---------------- emergency credit ----------------

    async def select_emergency_credit(self, name):
        m = self.registry.get(name)
        if m is None:
            return Result(NO_METER, name)
        acc = self.account(name)
        if acc.status() is None:
            await self.refresh(name)
        if not acc.ec_available():
            return Result(EC_NOT_AVAILABLE, name)
        if self._busy:
            return Result(BUSY, name)
        self._busy = True
        try:
            values = {"command_issue_time": clock.now(),
                      "originating_device": self.originating_device}  # fmt: skip
            rsp = await self.zcl.command(m.node, m.ep, _CLUSTER, _CMD_SELECT_EC, values,
                                         timeout_ms=self.ec_timeout_ms)  # fmt: skip
        finally:
            self._busy = False
        if rsp is None:
            return Result(NO_ANSWER, name)
        st = rsp.default_status()
        if st is not None and st != _SUCCESS:
            r = Result(REFUSED, name)
            r.status = st
            log.info(_TAG, "%s: EC refused, status 0x%02x", name, st)
            return r
        stats.inc("ec_selected")
        await self.refresh(name)
        r = Result(EC_SELECTED, name)
        r.ec_mp = acc.ec_mp()
        r.credit_mp = acc.credit_mp()
        log.info(_TAG, "%s: EC selected, EC balance %s", name, money_text(r.ec_mp))
        return r

    # ---------------- top-up log ----------------

    def top_up_log(self, name=None):
        # Newest first: [(utc, meter, amount_mp, code, masked utrn)].
        return [tuple(e) for e in reversed(self._log) if name is None or e[1] == name]

    def clear_log(self, name=None):
        # Change of tenancy (Clear Prepayment Data): forget the log, pending codes and the
        # rejection history of one meter (or all).
        self._log = [e for e in self._log if name is not None and e[1] != name]
        if name is None:
            self._pending = {}
        else:
            self._pending.pop(name, None)
        self._rejects = self._lock_level = self._lock_until = 0
        self._alerts = [a for a in self._alerts if name is not None and a[0] != name]
        self._save()
        log.info(_TAG, "top-up log cleared (%s)", name or "all")

    def tenancy_clearer(self, meter_name, control_bits):
        # For TenancyWatcher.clearers.
        if control_bits & COT_CLEAR_PREPAY:
            self.clear_log(meter_name)
