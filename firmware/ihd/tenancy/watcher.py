# CoT/CoS watcher: learns of changes from each bound meter and applies them (docs/tenancy.md).
# Commands first (GetChangeOfTenancy/Supplier); attributes when the meter does not support them;
# pushed publishes from the bound meter too. Applying is one function, apply(): the whole
# rewind (history, cleared data, persisted decision, readings, screens), top to bottom.
import asyncio

from micropython import const

from ihd.runtime import clock, log
from ihd.runtime.events import Signal
from ihd.state import fuels as FU
from ihd.tenancy import core
from ihd.tenancy.core import COS, COT, Event
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
_CMD_RETRY_S = const(86400)  # re-try the commands daily on an attributes-only meter
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


class TenancyWatcher:
    # history: history.view.HistoryView (truncate, visible_from); state: core.TenancyState;
    # meters: meters.service.MeterService (forget); model: state.model.Model. meters and model
    # are None only in tests of the decisions alone.
    def __init__(self, zcl, registry, history, state, poll_s=1800, meters=None, model=None):
        self.zcl = zcl
        self.registry = registry
        self.history = history
        self.state = state
        self.poll_s = poll_s
        self.meters = meters
        self.model = model
        # payload: the core.Event being applied; listeners clear what its control bits name
        self.clearing = Signal(_TAG)
        self.last_event = None  # summary for the status screen (no personal data)
        self._wake = asyncio.Event()
        self._cmd_tried = {}  # meter -> device time the commands were last tried
        zcl.on_command(_DM, C.DM_PUBLISH_COT, S2C, self._on_publish_cot)
        zcl.on_command(_DM, C.DM_PUBLISH_COS, S2C, self._on_publish_cos)

    def kick(self):
        # Poll now: boot, rejoin, NCP reset.
        self._wake.set()

    async def run(self):
        next_poll = 0
        while True:
            if not clock.synced():
                await asyncio.sleep_ms(200)
                continue
            now = clock.now()
            for ev in self.state.due(now):
                await self._handle(ev, now)
            if self._wake.is_set() or now >= next_poll:
                self._wake.clear()
                for m in self.registry.all():
                    await self.poll(m)
                next_poll = clock.now() + self.poll_s
            wake_at = next_poll
            nd = self.state.next_due()
            if nd is not None and nd < wake_at:
                wake_at = nd
            wait_s = max(1, wake_at - clock.now())
            try:
                await asyncio.wait_for(self._wake.wait(), wait_s / clock.scale())
            except asyncio.TimeoutError:
                pass

    async def poll(self, meter):
        for kind in (COT, COS):
            try:
                await self._poll_kind(meter, kind)
            except Exception as e:  # one bad answer must not stop the other meter's poll
                log.exc(_TAG, e, "poll %s %s", meter.name, kind)

    async def _poll_kind(self, meter, kind):
        method = self.state.method.get(meter.name)
        now = clock.now()
        if method == METHOD_ATTRIBUTES:
            last = self._cmd_tried.get(meter.name, 0)
            if now - last < _CMD_RETRY_S:
                await self._poll_attributes(meter, kind)
                return
        self._cmd_tried[meter.name] = now
        rsp = await self.zcl.command(meter.node, meter.ep, _DM, _GET[kind], rsp_cmd=_GET[kind])
        if rsp is None:
            # No answer (meter asleep, link or NCP trouble): read the attributes this time, but
            # only an explicit refusal (0x81) makes "attributes" the remembered method.
            log.info(_TAG, "%s: no answer to Get %s; reading attributes", meter.name, kind)
            await self._poll_attributes(meter, kind)
            return
        st = rsp.default_status()
        if st == F.NOT_FOUND or st == F.SUCCESS:
            self._set_method(meter, METHOD_COMMANDS)
            return
        if st is not None:  # UNSUP_CLUSTER_COMMAND and any other refusal
            log.info(_TAG, "%s: Get %s refused (0x%02x); using attributes", meter.name, kind, st)
            await self._use_attributes(meter, kind)
            return
        if self.registry.source_of(rsp) is None:
            return
        self._set_method(meter, METHOD_COMMANDS)
        if not rsp.disable_dr:
            self.zcl.default_response(rsp, F.SUCCESS)
        if rsp.args is not None:  # None: malformed publish, already logged + counted by zcl
            await self._publish(meter, kind, rsp.args, "command")

    def _set_method(self, meter, method):
        if self.state.method.get(meter.name) != method:
            self.state.method[meter.name] = method
            self.state.save()
            log.info(_TAG, "%s: using %s", meter.name, method)

    async def _use_attributes(self, meter, kind):
        self._set_method(meter, METHOD_ATTRIBUTES)
        await self._poll_attributes(meter, kind)

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
        decision, t = self.state.on_event(ev, now)
        if decision == core.APPLY:
            await self.apply(ev, t)
        elif decision in (core.SCHEDULED, core.CANCELLED):
            self._summarise(ev, decision, t)

    async def apply(self, ev, t):
        # The rewind of one meter at its implementation time T. Order matters for power cuts:
        # the truncation is durable and idempotent and comes before the event is marked
        # applied, so a cut in between re-applies the same truncation after reboot.
        t0 = clock.ticks_ms()
        log.info(_TAG, "applying %s %d on %s at %s", ev.kind, ev.issuer_event_id, ev.meter,
                 clock.iso(t))  # fmt: skip
        # 1. History: post-T data re-encrypted under a new key, the old key erased from flash.
        self.history.truncate(ev.meter, t)
        # 2. What the control bits name (prepayment data, ...): the listeners' business.
        self.clearing.emit(ev)
        # 3. The decision survives reboots from here on.
        self.state.mark_applied(ev, clock.now())
        # 4. Readings: cached ones forgotten, those in flight discarded, all re-read.
        if self.meters is not None:
            self.meters.forget(ev.meter)
        # 5. Screens: nothing before the new visible_from is shown; every area redraws.
        if self.model is not None:
            fuel = FU.index(ev.meter)
            self.model.tenancy_event = "change applied %s" % clock.iso(t)[:16]
            self.model.set_visible_from(fuel, self.history.visible_from(fuel))
        self._summarise(ev, "applied", t)
        log.info(_TAG, "%s %d applied in %d ms", ev.kind, ev.issuer_event_id,
                 clock.ticks_diff_ms(t0))  # fmt: skip

    def _summarise(self, ev, outcome, t):
        self.last_event = (ev.kind, ev.meter, outcome, t, ev.method)
