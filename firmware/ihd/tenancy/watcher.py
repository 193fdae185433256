# CoT/CoS watcher: learns of changes from each bound meter and applies them (docs/tenancy.md).
# Commands first (GetChangeOfTenancy/Supplier); attributes when the meter does not support them;
# pushed publishes from the bound meter too. Applying is one function, apply(): the whole
# rewind (history, cleared data, persisted decision, readings, screens), top to bottom.
# Two tasks under run(): the polls (network I/O, may wait seconds per request) and the apply
# timer, which fires each scheduled change at its implementation time whatever the polls are
# waiting for. Both sleep on monotonic ticks, never until a wall-clock deadline.
import asyncio
import time

from micropython import const

from ihd.runtime import aio, clock, log
from ihd.runtime.events import Signal
from ihd.state import fuels as FU
from ihd.tenancy import core
from ihd.tenancy.core import COS, COT, KINDS, Event, stats
from ihd.zigbee.zcl import clusters as C
from ihd.zigbee.zcl import foundation as F
from ihd.zigbee.zcl.frame import S2C

_DM = C.DEVICE_MGMT
_GET = {COT: C.DM_GET_COT, COS: C.DM_GET_COS}
# The change control attributes, in the order core.event_from_attributes reads them.
_ATTRS = {
    COT: C.attr_ids(_DM, ("change_of_tenancy_update_time", "proposed_tenancy_change_control")),
    COS: C.attr_ids(_DM, (
        "proposed_provider_change_time", "proposed_provider_change_control",
        "proposed_provider_id", "proposed_provider_name", "proposed_provider_contact_details",
    )),
}  # fmt: skip
# Only these Default Responses to a Get mean "this meter has no such command": anything else
# (FAILURE, NOT_AUTHORIZED, ...) is a refusal this time, not a reason to stop asking.
_UNSUPPORTED = (F.UNSUP_CLUSTER_COMMAND, F.UNSUPPORTED_CLUSTER)
_CMD_RETRY_S = const(86400)  # re-try a refused command daily (per meter and command)
_APPLY_CHECK_S = const(60)  # a pending T is compared with the clock at least this often
_IDLE_MS = const(600000)  # nothing pending: the apply timer still looks every 10 min
_UNSYNCED_MS = const(200)
_POLL_WAIT_MS = const(60000)  # the poll loop's longest sleep, however long its interval
_RETRY_MIN_MS = const(1000)  # an apply that raised: retried after a doubling backoff
_RETRY_MAX_MS = const(600000)
_MAX_PERIOD_MS = const(0x10000000)  # tick deadlines well inside ticks_diff's range (2^29)
_TAG = "tenancy"
METHOD_COMMANDS = "commands"
METHOD_ATTRIBUTES = "attributes"


def _text(v):
    # Octet strings -> str for persistence (UTF-8 per GBCS; hex if not decodable).
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode()
        except Exception:
            return "".join("%02x" % b for b in v)
    return v


def _ms(device_s):
    # Device (possibly fast-forwarded) seconds -> real milliseconds of ticks.
    return min(device_s * 1000 // clock.scale(), _MAX_PERIOD_MS)


class TenancyWatcher:
    # history: history.view.HistoryView (truncate, visible_from, epoch; a test double without
    # epoch gets no reconcile); state: core.TenancyState; meters: meters.service.MeterService
    # (forget); model: state.model.Model. meters and model are None only in tests of the
    # decisions alone.
    def __init__(self, zcl, registry, history, state, poll_s=1800, meters=None, model=None):
        self.zcl = zcl
        self.registry = registry
        self.history = history
        self.state = state
        self.poll_s = poll_s
        self.meters = meters
        self.model = model
        # payload: the core.Event being applied (ev.t: its effective implementation time);
        # listeners clear what its control bits name
        self.clearing = Signal(_TAG)
        self.last_event = None  # summary for the status screen (no personal data)
        self.rounds = 0  # polls of every meter since boot (the meters' backfill waits for one)
        self._wake = asyncio.Event()  # poll now
        self._rearm = asyncio.Event()  # the schedule changed: the apply timer recomputes
        self._cmd_tried = {}  # "meter/kind" -> ticks_ms the command was last tried
        self._epoch = getattr(history, "epoch", None)
        last = state.last_applied()
        if model is not None and last is not None:  # what the Status screen shows after a boot
            model.set_tenancy_event(last[0], last[1])
        zcl.on_command(_DM, C.DM_PUBLISH_COT, S2C, self._on_publish_cot)
        zcl.on_command(_DM, C.DM_PUBLISH_COS, S2C, self._on_publish_cos)

    def kick(self):
        # Poll now: boot, rejoin, NCP reset (the apply timer re-reads the clock too).
        self._wake.set()
        self._rearm.set()

    async def run(self):
        applier = asyncio.create_task(self._apply_loop())
        try:
            await self._poll_loop(applier)
        finally:
            applier.cancel()

    async def _poll_loop(self, applier):
        next_poll = None  # ticks_ms of the next periodic poll; None: now
        while True:
            if applier.done():  # never expected: let the supervisor restart both
                raise RuntimeError("tenancy apply timer stopped")
            if not clock.synced():
                await asyncio.sleep_ms(_UNSYNCED_MS)
                continue
            if (
                self._wake.is_set()
                or next_poll is None
                or time.ticks_diff(next_poll, time.ticks_ms()) <= 0
            ):
                self._wake.clear()
                for m in self.registry.all():
                    await self.poll(m)
                self.rounds += 1
                next_poll = time.ticks_add(time.ticks_ms(), _ms(self.poll_s))
            wait_ms = min(max(1, time.ticks_diff(next_poll, time.ticks_ms())), _POLL_WAIT_MS)
            try:
                await aio.wait_ms(self._wake.wait(), wait_ms)
            except asyncio.TimeoutError:
                pass

    async def _apply_loop(self):
        # The apply timer: every due change applied at its T, independent of the polls.
        backoff_ms = _RETRY_MIN_MS
        while True:
            if not clock.synced():
                await asyncio.sleep_ms(_UNSYNCED_MS)
                continue
            self._rearm.clear()
            if not await self._apply_due():
                await asyncio.sleep_ms(backoff_ms)  # one raised: the others were still tried
                backoff_ms = min(backoff_ms * 2, _RETRY_MAX_MS)
                continue
            backoff_ms = _RETRY_MIN_MS
            try:
                await aio.wait_ms(self._rearm.wait(), self._due_wait_ms())
            except asyncio.TimeoutError:
                pass

    async def _apply_due(self):
        # -> False if an apply raised (logged, counted; its intent or pending entry stays, so it
        # is tried again after the backoff).
        ok = True
        for ev in self.state.interrupted():  # a power cut or an error stopped its rewind
            log.warn(_TAG, "completing the interrupted %s rewind of %s at %d", ev.kind,
                     ev.meter, ev.t)  # fmt: skip
            ok = await self._apply_safe(ev) and ok
        for ev in self.state.due(clock.now()):
            ok = await self._apply_safe(ev, True) and ok
        return ok

    async def _apply_safe(self, ev, reconcile=False):
        try:
            if reconcile:
                self._reconcile(ev.meter)
            await self.apply(ev, ev.t)
            return True
        except Exception as e:
            stats.inc("apply_errors")
            log.exc(_TAG, e, "applying %s on %s at %s", ev.kind, ev.meter, ev.t)
            return False

    def _due_wait_ms(self):
        nd = self.state.next_due()
        if nd is None:
            return _IDLE_MS
        s = nd - clock.now()
        if s <= 0:
            return 1
        s = min(s, _APPLY_CHECK_S)  # a long int for far-off times: small from here on
        k = clock.scale()
        return max(1, (s * 1000 + k - 1) // k)

    async def poll(self, meter):
        for kind in (COT, COS):
            try:
                await self._poll_kind(meter, kind)
            except Exception as e:  # one bad answer must not stop the other meter's poll
                log.exc(_TAG, e, "poll %s %s", meter.name, kind)

    def _cmd_due(self, key):
        t0 = self._cmd_tried.get(key)
        if t0 is None:
            return True
        el = time.ticks_diff(time.ticks_ms(), t0)
        return el < 0 or el >= _ms(_CMD_RETRY_S)

    async def _poll_kind(self, meter, kind):
        key = meter.name + "/" + kind
        if self.state.method.get(key) == METHOD_ATTRIBUTES and not self._cmd_due(key):
            await self._poll_attributes(meter, kind)
            return
        self._cmd_tried[key] = time.ticks_ms()
        rsp = await self.zcl.command(meter.node, meter.ep, _DM, _GET[kind], rsp_cmd=_GET[kind])
        if rsp is None:
            # No answer (meter asleep, link or NCP trouble): read the attributes this time, but
            # only "unsupported" makes "attributes" the remembered method.
            log.info(_TAG, "%s: no answer to Get %s; reading attributes", meter.name, kind)
            await self._poll_attributes(meter, kind)
            return
        st = rsp.default_status()
        if st == F.NOT_FOUND or st == F.SUCCESS:
            self._set_method(meter, kind, METHOD_COMMANDS)
            return
        if st in _UNSUPPORTED:
            log.info(_TAG, "%s: Get %s unsupported (0x%02x)", meter.name, kind, st)
            self._set_method(meter, kind, METHOD_ATTRIBUTES)
            await self._poll_attributes(meter, kind)
            return
        if st is not None:
            stats.inc("refused")
            log.warn(_TAG, "%s: Get %s refused (0x%02x); reading attributes this time",
                     meter.name, kind, st)  # fmt: skip
            await self._poll_attributes(meter, kind)
            return
        if self.registry.source_of(rsp) is None:
            return
        if rsp.args is None:  # malformed publish (decode failure logged + counted by zcl)
            stats.inc("bad_publish")
            log.warn(_TAG, "%s: malformed Publish %s: MALFORMED_COMMAND; reading attributes",
                     meter.name, kind)  # fmt: skip
            self.zcl.default_response(rsp, F.MALFORMED_COMMAND)
            await self._poll_attributes(meter, kind)
            return
        self._set_method(meter, kind, METHOD_COMMANDS)
        if not rsp.disable_dr:
            self.zcl.default_response(rsp, F.SUCCESS)
        await self._publish(meter, kind, rsp.args, "command")

    def _set_method(self, meter, kind, method):
        key = meter.name + "/" + kind
        if self.state.method.get(key) != method:
            self.state.method[key] = method
            self.state.save()
            log.info(_TAG, "%s: using %s for %s", meter.name, method, kind)

    async def _poll_attributes(self, meter, kind):
        ids = _ATTRS[kind]
        got = await self.zcl.read_attributes(meter.node, meter.ep, _DM, ids)
        if got is None:
            log.warn(_TAG, "%s: %s attributes unreadable", meter.name, kind)
            return
        values = []
        for a in ids:
            v = got.get(a)
            values.append(None if isinstance(v, F.AttrStatus) else _text(v))
        key = meter.name + "/" + kind
        seen = self.state.attrs_seen.get(key)
        ev = core.event_from_attributes(kind, meter.name, values, seen)
        if values[0] is not None and values != seen:
            self.state.attrs_seen[key] = values
            self.state.save()
        if ev is not None:
            await self._handle(ev, clock.now())

    def _on_publish_cot(self, f, args):
        return self._on_push(f, args, COT)

    def _on_publish_cos(self, f, args):
        return self._on_push(f, args, COS)

    def _on_push(self, f, args, kind):
        meter = self.registry.source_of(f)
        if meter is None:
            return F.NOT_AUTHORIZED
        if not clock.synced():
            return F.FAILURE  # the meter will re-publish; a poll follows the clock sync
        return self._publish(meter, kind, args, "push")

    async def _publish(self, meter, kind, a, method):
        if kind == COT:
            control = a["proposed_tenancy_change_control"]
            ev = Event(COT, meter.name, a["provider_id"], a["issuer_event_id"],
                       a["implementation_time"], control, method)  # fmt: skip
        else:
            ev = Event(COS, meter.name, a["current_provider_id"], a["issuer_event_id"],
                       a["implementation_time"], a["provider_change_control"], method)  # fmt: skip
            ev.proposed_provider_id = a["proposed_provider_id"]
            ev.proposed_name = _text(a["proposed_provider_name"])
            ev.proposed_contact = _text(a["proposed_provider_contact_details"])
        await self._handle(ev, clock.now())
        return F.SUCCESS

    async def _handle(self, ev, now):
        self._reconcile(ev.meter)
        decision, t = self.state.on_event(ev, now)
        if decision == core.APPLY:
            await self.apply(ev, t)
        elif decision in (core.SCHEDULED, core.CANCELLED):
            self._rearm.set()  # the apply timer recomputes its deadline
            self._summarise(ev, decision, t)

    def _reconcile(self, name):
        # What the history says was applied, against tenancy.json (core.reconcile); and a
        # history behind an applied change (its key region reset) rewound again, history only.
        f = FU.by_key(name)
        if f is None or self._epoch is None:
            return
        i = f.index
        vf = self.history.visible_from(i)
        self.state.reconcile(name, self._epoch(i), vf, clock.now())
        floor = max(self.state.floor(name, k) for k in KINDS)
        if floor > vf:
            stats.inc("restored")
            log.warn(_TAG, "%s: history visible from %d, before the applied change at %d: "
                     "rewinding it again", name, vf, floor)  # fmt: skip
            self.history.truncate(name, floor)
            self.state.note_epoch(name, self._epoch(i))
            if self.model is not None:
                self.model.set_visible_from(i, self.history.visible_from(i))

    async def apply(self, ev, t):
        # The rewind of one meter at its implementation time T. Order matters for power cuts:
        # the intent is persisted first (begin), the truncation is durable and idempotent, and
        # the event is marked applied last, so a cut anywhere in between completes the same
        # rewind at the next boot (interrupted()). Never twice: a T at or before the applied
        # one of (meter, kind) is dropped here whatever path brought it. -> True if applied.
        ev.t = t
        now = clock.now()
        if t <= self.state.floor(ev.meter, ev.kind):
            stats.inc("duplicates")
            log.info(_TAG, "%s/%s at %d already applied: not again", ev.meter, ev.kind, t)
            self.state.drop(ev, now, "duplicate")
            return False
        fuel = FU.index(ev.meter)
        t0 = clock.ticks_ms()
        log.info(_TAG, "applying %s %d on %s at %s (%d s after T, %s)", ev.kind,
                 ev.issuer_event_id, ev.meter, clock.iso(t), now - t, ev.method)  # fmt: skip
        self.state.begin(ev)
        # 1. History: post-T data re-encrypted under a new key, the old key erased from flash.
        self.history.truncate(ev.meter, t)
        # 2. What the control bits name (prepayment data, ...): the listeners' business.
        self.clearing.emit(ev)
        # 3. The decision survives reboots from here on.
        self.state.mark_applied(
            ev, clock.now(), None if self._epoch is None else self._epoch(fuel)
        )
        # 4. Readings: cached ones forgotten, those in flight discarded, all re-read.
        if self.meters is not None:
            self.meters.forget(ev.meter)
        # 5. Screens: nothing before the new visible_from is shown; every area redraws.
        if self.model is not None:
            self.model.set_tenancy_event(ev.kind, t)  # kind and date: no personal data
            self.model.set_visible_from(fuel, self.history.visible_from(fuel))
        self._summarise(ev, "applied", t)
        log.info(_TAG, "%s %d applied in %d ms", ev.kind, ev.issuer_event_id,
                 clock.ticks_diff_ms(t0))  # fmt: skip
        return True

    def _summarise(self, ev, outcome, t):
        self.last_event = (ev.kind, ev.meter, outcome, t, ev.method)
