# CoT/CoS watcher: learns of changes from each bound meter and applies them (docs/tenancy.md).
# Commands first (GetChangeOfTenancy/Supplier); attributes when the meter does not support them;
# pushed publishes from the bound meter too. Applying = truncate history at T, clear what the
# control bits name, refresh the meter, tell the UI.
import asyncio

from micropython import const

from ihd.runtime import clock, log
from ihd.tenancy import core
from ihd.tenancy.core import COS, COT, Event
from ihd.zigbee.zcl import foundation as F

_DM = const(0x0708)
_S2C = const(1)
_GET = {COT: 0x00, COS: 0x01}
_ATTRS = {
    COT: (0x0200, 0x0201),
    COS: (0x0112, 0x0113, 0x0110, 0x0111, 0x0114),
}
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
    def __init__(self, zcl, registry, history, state, poll_s=1800):
        self.zcl = zcl
        self.registry = registry
        self.history = history  # .truncate(meter_name, t_s)
        self.state = state  # core.TenancyState
        self.poll_s = poll_s
        self.clearers = []  # fn(meter_name, control_bits): clear data the bits name
        self.on_applied = []  # fn(meter_name, t_s): refresh readings, redraw
        self.last_event = None  # summary for the status screen (no personal data)
        self._wake = asyncio.Event()
        self._cmd_tried = {}  # meter -> device time the commands were last tried
        zcl.on_command(_DM, 0x00, _S2C, self._on_publish_cot)
        zcl.on_command(_DM, 0x01, _S2C, self._on_publish_cos)

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
        # Order matters for power cuts: truncate (durable, idempotent) before marking the event
        # applied; a cut in between re-applies the same truncation after reboot.
        t0 = clock.ticks_ms()
        log.info(_TAG, "applying %s %d on %s at %s", ev.kind, ev.issuer_event_id, ev.meter,
                 clock.iso(t))  # fmt: skip
        self.history.truncate(ev.meter, t)
        for fn in self.clearers:
            try:
                fn(ev.meter, ev.control)
            except Exception as e:
                log.exc(_TAG, e, "clearer")
        self.state.mark_applied(ev, clock.now())
        for fn in self.on_applied:
            try:
                r = fn(ev.meter, t)
                if r is not None and hasattr(r, "send"):
                    await r
            except Exception as e:
                log.exc(_TAG, e, "on_applied")
        self._summarise(ev, "applied", t)
        log.info(_TAG, "%s %d applied in %d ms", ev.kind, ev.issuer_event_id,
                 clock.ticks_diff_ms(t0))  # fmt: skip

    def _summarise(self, ev, outcome, t):
        self.last_event = (ev.kind, ev.meter, outcome, t, ev.method)
