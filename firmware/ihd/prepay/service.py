# Prepayment service (docs/prepay.md), the entry point of ihd/prepay/ and what
# model.prepay_actions is on a PPMID. Per bound meter (elec = ESME, gas = GPF) it
#   follows the Prepayment cluster: reporting configured for the fast-changing attributes,
#     the rest polled every poll_s, reports accepted only from the bound meter; each update goes
#     into the meter's Account (account.py) and to the model;
#   raises the alerts (low credit, emergency credit in use) once per crossing: in alerts()
#     until acknowledged, as a model alert, and on the `alerted` Signal (the buzzer listens);
#   carries out the user's requests: top-up with a UTRN (local checks first, then at most one
#     ConsumerTopUp, never re-sent on its own), emergency credit; each returns a Result
#     (account.py);
#   keeps the rate limit, unanswered codes, top-up log and alert arming in its Ledger
#     (ledger.py, persisted); a change of tenancy clears what its control bits name, of what
#     was made before its implementation time (tenancy_clearer; docs/tenancy.md "Control bits").
# Cluster, command and attribute ids are the names of zigbee/zcl/clusters.py.
#
# The words shared with the screens (ACCEPTED, message(), ALERT_LOW_CREDIT, ...) are in
# ihd/state/prepay.py; money scaling, Result and the wire decoding in account.py.
import asyncio

from micropython import const

from ihd.prepay import account as A
from ihd.prepay import stats
from ihd.prepay.ledger import Ledger
from ihd.runtime import clock, log
from ihd.runtime.events import Signal
from ihd.state import model as M
from ihd.state import prepay as P
from ihd.state import utrn as U
from ihd.zigbee.zcl import clusters as CL
from ihd.zigbee.zcl import foundation as F

# OriginatingDevice (enum8): 0x00 ESI, 0x01 Meter, 0x02 IHD. A PPMID/IHD keying a UTRN in
# locally uses 0x02 "IHD". The GBCS CS01b vector uses 0x00 because that top-up came from the
# ESI (remote); the value for locally keyed codes is not confirmed by the reference (§10), so
# it is a constructor argument.
ORIG_ESI = const(0x00)
ORIG_IHD = const(0x02)

_TAG = const("prepay")
_TOP_UP_TIMEOUT_MS = const(15000)  # one attempt only (never re-sent automatically)
_FIRED = const(2)  # _cross(): the alert fired / re-armed / nothing
_REARMED = const(1)


def _read_groups():
    # The followed attributes as three Read Attributes requests, each sized so that its response
    # fits one unfragmented frame (82 B). Built per refresh (every poll_s), not kept.
    d = CL.PP_DEBT_STEP
    amount = CL.PP_ATTR_DEBT_AMOUNT_1
    recovery = CL.PP_ATTR_DEBT_RECOVERY_AMOUNT_1
    label = CL.PP_ATTR_DEBT_LABEL_1
    freq = CL.PP_ATTR_DEBT_RECOVERY_FREQUENCY_1
    return (
        (CL.PP_ATTR_PAYMENT_CONTROL_CONFIGURATION, CL.PP_ATTR_CREDIT_REMAINING,
         CL.PP_ATTR_EMERGENCY_CREDIT_REMAINING, CL.PP_ATTR_CREDIT_STATUS,
         CL.PP_ATTR_CREDIT_REMAINING_TIMESTAMP, CL.PP_ATTR_ACCUMULATED_DEBT,
         CL.PP_ATTR_EMERGENCY_CREDIT_LIMIT, CL.PP_ATTR_EMERGENCY_CREDIT_THRESHOLD,
         CL.PP_ATTR_LOW_CREDIT_WARNING_LEVEL),
        (CL.PP_ATTR_IHD_LOW_CREDIT_WARNING_LEVEL, CL.PP_ATTR_CURRENCY_SCALING_FACTOR,
         CL.PP_ATTR_CURRENCY, amount, amount + d, amount + 2 * d, recovery, recovery + d,
         recovery + 2 * d),
        (label, label + d, label + 2 * d, freq, freq + d, freq + 2 * d),
    )  # fmt: skip


class PrepayService:
    def __init__(self, zcl, registry, model=None, state_path=None,
                 originating_device=ORIG_IHD, poll_s=300,
                 top_up_timeout_ms=_TOP_UP_TIMEOUT_MS, ec_timeout_ms=5000):  # fmt: skip
        self.zcl = zcl
        self.registry = registry
        self.model = model  # state.model.Model or None
        self.originating_device = originating_device  # ORIG_*
        self.poll_s = poll_s
        self.top_up_timeout_ms = top_up_timeout_ms
        self.ec_timeout_ms = ec_timeout_ms
        self.accounts = {}  # meter name -> Account
        self.alerted = Signal(_TAG)  # payload: (meter, kind, utc), once per crossing
        self._alerts = []  # [meter, kind, utc] active, unacknowledged
        self._busy = False
        self._wake = asyncio.Event()
        self._configured = {}
        self.ledger = Ledger(state_path)  # persisted: rate limit, pending codes, log, arming
        self.ledger.load()
        zcl.on_report(CL.PREPAYMENT, self._on_report)

    # ---------------- accounts ----------------

    def account(self, name):
        acc = self.accounts.get(name)
        if acc is None:
            acc = self.accounts[name] = A.Account(name)
        return acc

    def prepayment_meters(self):
        # Names of bound meters known to be in prepayment mode (entry: fuel choice).
        return [m.name for m in self.registry.all() if self.account(m.name).prepayment()]

    def ec_offer(self, name):
        # EC balance to offer ("Emergency credit £5.00 available: take it?") or None.
        acc = self.accounts.get(name)
        if acc is None or not acc.ec_available():
            return None
        return acc.ec_mp() or acc.mp(CL.PP_ATTR_EMERGENCY_CREDIT_LIMIT)

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
        # meters that refuse reporting). Types as the cluster table declares them.
        m = self.registry.get(name)
        if m is None:
            return False
        recs = []
        for attr_id, min_s, max_s, change in (
            (CL.PP_ATTR_PAYMENT_CONTROL_CONFIGURATION, 1, 3600, None),
            (CL.PP_ATTR_CREDIT_STATUS, 1, 3600, None),
            (CL.PP_ATTR_CREDIT_REMAINING, 60, 900, 1),
            (CL.PP_ATTR_EMERGENCY_CREDIT_REMAINING, 60, 900, 1),
        ):
            tid = CL.attr_type(CL.PREPAYMENT, attr_id)
            recs.append(F.reporting_record(attr_id, tid, min_s, max_s, change))
        res = await self.zcl.configure_reporting(m.node, m.ep, CL.PREPAYMENT, recs)
        ok = res is not None and all(r[0] == F.SUCCESS for r in res)
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
        for ids in _read_groups():
            res = await self.zcl.read_attributes(m.node, m.ep, CL.PREPAYMENT, ids)
            if res is None:
                continue
            got = True
            acc = self.account(name)
            for a, v in res.items():
                if not isinstance(v, F.AttrStatus):
                    acc.set(a, v)
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
        acc.set(attr_id, value)
        self._updated(acc)

    def _updated(self, acc):
        acc.utc = clock.now()
        self._publish(acc, self._check_alerts(acc))

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
        # -> True if an alert fired (a crossing). The ledger is saved when the arming changed.
        ec = acc.ec_in_use()
        low = self._cross(acc, P.ALERT_LOW_CREDIT, acc.low_credit(), acc.low_rearm())
        use = self._cross(acc, P.ALERT_EC_IN_USE, acc.prepayment() and ec, not ec)
        if low or use:
            self.ledger.save()
        return low == _FIRED or use == _FIRED

    def _cross(self, acc, kind, active, rearm):
        # One alert kind of one meter: fire it (armed and now active) or re-arm it.
        ledger = self.ledger
        if active and ledger.armed(acc.name, kind):
            ledger.disarm(acc.name, kind)
            alert = (acc.name, kind, clock.now())
            self._alerts.append(list(alert))
            stats.inc("alerts")
            log.info(_TAG, "%s: alert %s (credit %s)", acc.name, kind,
                     A.money_text(acc.credit_mp()))  # fmt: skip
            self.alerted.emit(alert)
            return _FIRED
        if not active and rearm and not ledger.armed(acc.name, kind):
            ledger.rearm(acc.name, kind)
            self._drop_alert(acc.name, kind)
            return _REARMED
        return 0

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

    # ---------------- top-up ----------------

    def lock_remaining_s(self):
        return self.ledger.lock_remaining_s()

    def pending(self, name):
        # UTRN sent without an answer (digits), or None. Re-send with retry(name).
        return self.ledger.pending.get(name)

    def discard_pending(self, name):
        if self.ledger.unpend(name):
            self.ledger.save()

    async def retry(self, name):
        code = self.ledger.pending.get(name)
        if code is None:
            return A.Result(P.BAD_FORMAT, name)
        return await self.top_up(name, code)

    async def top_up(self, name, code_text):
        # The user asked to apply this code to meter `name` ("elec" / "gas"). Sends at most one
        # ConsumerTopUp; never re-sends on its own.
        digits = U.normalise(code_text)
        ledger = self.ledger
        lock_s = ledger.lock_remaining_s()
        if lock_s:
            r = A.Result(P.LOCKED, name)
            r.lock_s = lock_s
            return r
        v = U.validate(code_text)
        if v == U.E_CHECK:
            stats.inc("bad_check")
            ledger.reject()
            r = A.Result(P.BAD_CHECK, name)
            r.lock_s = ledger.lock_remaining_s()
            return r
        if v != U.OK:
            return A.Result(P.BAD_FORMAT, name)
        m = self.registry.get(name)
        if m is None:
            return A.Result(P.NO_METER, name)
        acc = self.account(name)
        if acc.known() and not acc.prepayment():
            return A.Result(P.NOT_PREPAY, name)
        if self._busy:
            return A.Result(P.BUSY, name)
        self._busy = True
        try:
            return await self._send_top_up(m, acc, digits)
        finally:
            self._busy = False

    async def _send_top_up(self, m, acc, digits):
        name = m.name
        ledger = self.ledger
        was_pending = ledger.pending.get(name) == digits
        # Kept before sending: a reboot or a lost answer never loses the code.
        ledger.set_pending(name, digits)
        ledger.save()
        stats.inc("top_ups")
        log.info(_TAG, "%s: top-up %s", name, U.mask(digits))
        values = {"originating_device": self.originating_device, "top_up_code": digits.encode()}
        rsp = await self.zcl.command(m.node, m.ep, CL.PREPAYMENT, CL.PP_CONSUMER_TOP_UP, values,
                                     rsp_cmd=CL.PP_CONSUMER_TOP_UP_RSP,
                                     timeout_ms=self.top_up_timeout_ms, retries=0)  # fmt: skip
        utrn = U.group(digits)
        if rsp is None:
            stats.inc("no_answer")
            r = A.Result(P.NO_ANSWER, name, utrn)
        else:
            st = rsp.default_status()
            if st is not None and st != F.SUCCESS:
                r = A.Result(P.REFUSED, name, utrn)
                r.status = st
                ledger.unpend(name)
            elif st is not None or rsp.args is None or rsp.cmd_id != CL.PP_CONSUMER_TOP_UP_RSP:
                r = A.Result(P.BAD_ANSWER, name, utrn)
            else:
                r = A.decode_top_up_response(rsp.args, acc.scale(), name, utrn)
                ledger.unpend(name)
                if r.code == P.REJ_DUPLICATE and was_pending:
                    # The earlier, unanswered attempt most likely got through.
                    r.maybe_applied = True
        self._after_top_up(acc, digits, r)
        return r

    def _after_top_up(self, acc, digits, r):
        ledger = self.ledger
        if r.code == P.ACCEPTED:
            stats.inc("accepted")
            ledger.clear_rejects()
            if r.credit_mp is not None:
                acc.raw[CL.PP_ATTR_CREDIT_REMAINING] = r.credit_mp // (10 ** acc.scale())
                self._updated(acc)
            self.kick()  # re-read everything (EC repaid, status bits) soon
        elif (r.code == P.REJ_INVALID or r.code == P.REJ_DUPLICATE) and not r.maybe_applied:
            stats.inc("rejected")
            ledger.reject()
            r.lock_s = ledger.lock_remaining_s()
        elif r.code < P.BAD_FORMAT:
            stats.inc("rejected")
        amount = r.amount_mp if r.amount_mp is not None else U.amount_mp(digits)
        ledger.add(clock.now(), acc.name, amount, r.code, U.mask(digits))
        ledger.save()
        log.info(_TAG, "%s: top-up %s -> %s (%s, credit %s)", acc.name, U.mask(digits),
                 r.text(), A.money_text(r.amount_mp), A.money_text(r.credit_mp))  # fmt: skip

    # ---------------- emergency credit ----------------

    async def select_emergency_credit(self, name):
        m = self.registry.get(name)
        if m is None:
            return A.Result(P.NO_METER, name)
        acc = self.account(name)
        if acc.status() is None:
            await self.refresh(name)
        if not acc.ec_available():
            return A.Result(P.EC_NOT_AVAILABLE, name)
        if self._busy:
            return A.Result(P.BUSY, name)
        self._busy = True
        try:
            values = {"command_issue_time": clock.now(),
                      "originating_device": self.originating_device}  # fmt: skip
            rsp = await self.zcl.command(m.node, m.ep, CL.PREPAYMENT,
                                         CL.PP_SELECT_EMERGENCY_CREDIT, values,
                                         timeout_ms=self.ec_timeout_ms)  # fmt: skip
        finally:
            self._busy = False
        if rsp is None:
            return A.Result(P.NO_ANSWER, name)
        st = rsp.default_status()
        if st is not None and st != F.SUCCESS:
            r = A.Result(P.REFUSED, name)
            r.status = st
            log.info(_TAG, "%s: EC refused, status 0x%02x", name, st)
            return r
        stats.inc("ec_selected")
        await self.refresh(name)
        r = A.Result(P.EC_SELECTED, name)
        r.ec_mp = acc.ec_mp()
        r.credit_mp = acc.credit_mp()
        log.info(_TAG, "%s: EC selected, EC balance %s", name, A.money_text(r.ec_mp))
        return r

    # ---------------- top-up log and change of tenancy ----------------

    def top_up_log(self, name=None):
        # Newest first: [(utc, meter, amount_mp, code, masked utrn)].
        return self.ledger.entries(name)

    def clear_log(self, name=None):
        # Forget the log, pending codes, the rejection history and the alerts of one meter (or
        # all), whatever their time (a reset; a change of tenancy uses tenancy_clearer).
        self.ledger.clear(name)
        self._alerts = [a for a in self._alerts if name is not None and a[0] != name]
        log.info(_TAG, "top-up log cleared (%s)", name or "all")

    def tenancy_clearer(self, meter_name, control_bits, t=0):
        # A change of tenancy / supplier on meter `meter_name` applied at implementation time t
        # (0: now); app.py calls it from the tenancy watcher's `clearing` Signal. What the
        # control bits name is cleared of what was made before t; what the new occupant did
        # from t on is kept (docs/tenancy.md "Control bits"):
        #   Clear IHD Data - Consumer (0x200): top-up log, code left pending, alerts raised;
        #   Clear Transaction Log (0x2000): top-up log;
        #   Clear Prepayment Data (0x4000): all of those, the rejection count and lockout, the
        #     alert arming, and the account as last heard (re-read).
        # Whatever the bits, the account is re-read now (the "data refresh" at T).
        if not t:
            t = clock.now()
        ledger = self.ledger
        name = meter_name
        consumer = control_bits & CL.DM_CLEAR_CONSUMER
        prepay = control_bits & CL.DM_CLEAR_PREPAY
        rows = pend = alerts = rejects = armed = 0
        if consumer or prepay or control_bits & CL.DM_CLEAR_TXLOG:
            rows = ledger.drop_log(name, t)
        if consumer or prepay:
            pend = ledger.drop_pending(name, t)
            n = len(self._alerts)
            self._alerts = [a for a in self._alerts if a[0] != name or a[2] >= t]
            alerts = n - len(self._alerts)
        if prepay:
            rejects = ledger.drop_rejects(t)
            armed = ledger.drop_disarmed(name, t)
            self.accounts.pop(name, None)  # the meter's values as last heard: re-read below
        if rows or pend or rejects or armed:
            ledger.save()
        if alerts and self.model is not None:
            self.model.changed(M.D_PREPAY)
        log.info(_TAG, "%s: change at %s, bits 0x%04x cleared: log rows %d, pending %d, "
                 "alerts %d, lockout %d, re-armed %d", name, clock.iso(t), control_bits, rows,
                 pend, alerts, rejects, armed)  # fmt: skip
        self.kick()
