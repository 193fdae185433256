# Messaging cluster client (docs/messages.md): the supplier's messages from the bound meters and
# the comms hub, kept in model.messages (newest first) and on flash (store.py).
#   DisplayMessage / DisplayProtectedMessage: a new message, or a repeat of one (same id) that
#     keeps what the user did with it; CancelMessage / CancelAllMessages remove them.
#   GetLastMessage to the hub and each bound meter at start-up and after every network (re)start
#     or rejoin (kick(): app.py _show_network), once the clock is set.
#   Start time (0: now), duration (minutes, 0xFFFF: until cancelled): shown between start and
#     end by wall time; the task wakes by monotonic deadlines, at the next start / end but at
#     least every _CHECK_S, so a clock jump is followed within a minute.
#   Importance high / critical: model.show_message (the Messages screen comes up with it).
#   Confirmation (control 0x80, or 0x20 enhanced: Yes / No and a response text): the user
#     confirms on the device (model.confirm_message); MessageConfirmation goes to the sender,
#     kept pending on flash (MF_UNSENT) until it is acknowledged, re-sent at each network start.
#   A change of tenancy / supplier clears per its control bits (tenancy_clearer).
# Accepted only from a bound meter or the hub, APS-secured (the registry's rule); the rest is
# dropped, logged and counted, like malformed or hostile values (counters "messages.*").
import asyncio

from micropython import const

from ihd.messages import stats
from ihd.messages import store as S
from ihd.meters.registry import HUB
from ihd.runtime import aio, clock, log
from ihd.state import fuels as FU
from ihd.state import model as M
from ihd.zigbee.zcl import clusters as C
from ihd.zigbee.zcl import foundation as F
from ihd.zigbee.zcl.frame import S2C

_TAG = const("messages")
_UNTIL_CANCELLED = const(0xFFFF)
_INVALID_UTC = const(0xFFFFFFFF)
_MAX_AHEAD_S = const(45 * 86400)  # a start further ahead is refused (hostile / wrong clock)
_CHECK_S = const(60)  # the longest sleep: wall-clock starts and ends followed within this
_UNSYNCED_MS = const(500)
_TEXT_OFF = const(11)  # DisplayMessage: id u32, control b8, start UTC, duration u16, then text
_TX_INTERPAN_ONLY = const(2)
_TX_RESERVED = const(3)
_CTL_RESERVED = const(0x50)  # bits 4 and 6
_EXT_CONFIRMED = const(0x01)  # extended control bit 0: confirmed already (another device)


class MessageService:
    def __init__(self, zcl, registry, model, path=None, hub_ep=1, timeout_ms=5000):
        self.zcl = zcl
        self.registry = registry
        self.model = model
        self.path = path
        self.hub_ep = hub_ep  # the hub's Messaging endpoint (learnt from its frames)
        self.timeout_ms = timeout_ms
        self._ask = True  # GetLastMessage due (start-up, network up)
        self._wake = asyncio.Event()
        self._checked = 0  # wall time of the last check: messages started since get announced
        model.messages = S.load(path)
        for cmd in (C.MSG_DISPLAY_MESSAGE, C.MSG_DISPLAY_PROTECTED, C.MSG_CANCEL_MESSAGE,
                    C.MSG_CANCEL_ALL):  # fmt: skip
            zcl.on_command(C.MESSAGING, cmd, S2C, self._on_command)
        model.confirmed.connect(self._on_confirmed)
        model.message_read.connect(self._on_read)

    # ---------------- tasks ----------------

    def kick(self):
        # The network (re)started: ask for the last message, re-send pending confirmations.
        self._ask = True
        self._wake.set()

    async def run(self):
        while True:
            if not clock.synced():
                await asyncio.sleep_ms(_UNSYNCED_MS)
                continue
            self._wake.clear()
            if self._ask:
                self._ask = False
                await self.get_last()
                await self.send_pending()
            ms = self.check()
            try:
                await aio.wait_ms(self._wake.wait(), ms)
            except asyncio.TimeoutError:
                pass

    def check(self):
        # Ended messages removed (and saved); those that started since the last check shown (at
        # once when urgent). -> real ms until the next look (the next start / end, <= _CHECK_S).
        mdl = self.model
        now = clock.now()
        if not self._checked:  # the first look: those stored started before this boot
            self._checked = now
        n = 0
        for m in mdl.messages:
            if m.end_utc and m.end_utc <= now:
                n += 1
        if n:  # (a new list only then: a quiet minute allocates nothing)
            stats.inc("expired", n)
            log.info(_TAG, "%d message(s) ended", n)
            mdl.messages = _unended(mdl.messages, now)
            self._save()
            mdl.changed(M.D_MESSAGES)
        nxt = now + _CHECK_S
        for m in mdl.messages:
            if self._checked < m.time_utc <= now:
                self._announce(m)
            if now < m.time_utc < nxt:
                nxt = m.time_utc
            if m.end_utc and m.end_utc < nxt:
                nxt = m.end_utc
        self._checked = now
        return clock.left_ms(clock.deadline(nxt - now)) + 1

    async def get_last(self):
        # GetLastMessage to the hub and to every bound meter; the answer (a DisplayMessage with
        # our TSN) goes through the same checks as a pushed one.
        targets = [(HUB, self.hub_ep)] + [(m.node, m.ep) for m in self.registry.all()]
        for node, ep in targets:
            rsp = await self.zcl.command(node, ep, C.MESSAGING, C.MSG_GET_LAST_MESSAGE,
                                         timeout_ms=self.timeout_ms, retries=1)  # fmt: skip
            if rsp is None:
                continue
            st = rsp.default_status()
            if st is not None:  # NOT_FOUND: no message; UNSUP_*: no Messaging server there
                continue
            if rsp.cmd_id not in (C.MSG_DISPLAY_MESSAGE, C.MSG_DISPLAY_PROTECTED):
                continue
            st = F.MALFORMED_COMMAND if rsp.args is None else self._on_command(rsp, rsp.args)
            if st != F.SUCCESS or not rsp.disable_dr:
                self.zcl.default_response(rsp, st)

    # ---------------- received ----------------

    def _source(self, f):
        # -> (fuel index, MF_HUB or 0), or None: only a bound meter or the hub, APS-secured
        # (the gate checked it before decoding already; this is the service's own rule).
        if f.node == HUB:
            if not self.registry.encrypted_enough(f.secured):
                return None
            self.hub_ep = f.src_ep
            return FU.ELEC, M.MF_HUB
        m = self.registry.source_of(f)
        if m is None:
            return None
        return FU.index(m.name), 0

    def _on_command(self, f, a):
        # Every Messaging command from a server. -> the Default Response status.
        src = self._source(f)
        if src is None:
            stats.inc("rejected_source")
            log.warn(_TAG, "message command from 0x%04x ignored", f.node)
            return F.NOT_AUTHORIZED
        cmd = f.cmd_id
        if cmd == C.MSG_CANCEL_MESSAGE:
            return self._cancel(a["message_id"])
        if not clock.synced():  # start and end mean nothing yet; GetLastMessage follows
            stats.inc("unsynced")
            return F.FAILURE
        if cmd == C.MSG_CANCEL_ALL:
            return self._cancel_all(a["implementation_time"])
        return self._display(f, a, src, cmd == C.MSG_DISPLAY_PROTECTED)

    def _display(self, f, a, src, protected):
        stats.inc("received")
        mid = a["message_id"]
        ctl = a["message_control"]
        tx = ctl & 3
        if tx == _TX_INTERPAN_ONLY:  # for anonymous Inter-PAN devices, not over the HAN
            stats.inc("interpan_only")
            log.info(_TAG, "message %d is for Inter-PAN only: ignored", mid)
            return F.SUCCESS
        if tx == _TX_RESERVED:
            return self._refuse("bad_control", mid, "transmission 3")
        ctl &= ~_CTL_RESERVED & 0xFF
        text = a["message"]
        if not text:
            return self._refuse("bad_text", mid, "no text")
        if not _utf8(f.payload):  # shown with '?' for what does not decode
            stats.inc("bad_utf8")
            log.warn(_TAG, "message %d: text is not UTF-8", mid)
        clipped = S.clip(text)
        if clipped is not text:
            stats.inc("truncated")
            log.info(_TAG, "message %d: text cut to %d bytes", mid, S.MAX_TEXT_B)
        now = clock.now()
        if not self._checked:
            self._checked = now
        start = a["start_time"] or now
        if start == _INVALID_UTC or start > now + _MAX_AHEAD_S:
            return self._refuse("bad_start", mid, "start %d" % start)
        dur = a["duration_min"]
        end = 0 if dur == _UNTIL_CANCELLED else start + dur * 60
        if end and end <= now:
            stats.inc("expired")
            log.info(_TAG, "message %d ended already", mid)
            self._remove(mid)
            return F.SUCCESS
        flags = src[1] | (M.MF_PROTECTED if protected else 0)
        if (a["extended_message_control"] or 0) & _EXT_CONFIRMED:
            flags |= M.MF_CONFIRMED
        mdl = self.model
        old = self._find(mid)
        if old is not None and old.text == clipped and old.control == ctl:
            # "now" again for a message we hold (a GetLastMessage answer, a repeat): the same
            # message if it lasts as long; it started when we first had it
            if not a["start_time"] and _span(start, end) == _span(old.time_utc, old.end_utc):
                start, end = old.time_utc, old.end_utc
            if old.time_utc == start and old.end_utc == end:
                if old.flags | flags == old.flags:  # a repeat (GetLastMessage after a reboot)
                    return F.SUCCESS
                flags |= old.flags
        msg = M.Message(mid, clipped, start, src[0], control=ctl, end_utc=end, flags=flags)
        self._remove(mid)
        msgs = mdl.messages
        while len(msgs) >= S.N_MAX:  # oldest out first
            gone = msgs.pop()
            stats.inc("evicted")
            log.info(_TAG, "message %d out (more than %d)", gone.id, S.N_MAX)
        self._save([msg] + msgs)
        stats.inc("shown")
        log.info(_TAG, "message %d from %s, control 0x%02x, %d..%d", mid,
                 "hub" if src[1] else FU.FUELS[src[0]].key, ctl, start, end)  # fmt: skip
        started = start <= now
        mdl.add_message(msg, alert=started and msg.confirm and not msg.confirmed)
        if started and msg.urgent:
            mdl.show_message(msg)
        self._wake.set()  # the next start / end may be sooner now
        return F.SUCCESS

    def _announce(self, msg):
        # msg started (it was held for its start time): the screens redraw; an urgent one
        # opens at once, one asking for a confirmation wakes the screen.
        if msg.urgent:
            self.model.show_message(msg)
        else:
            self.model.changed(M.D_MESSAGES, alert=msg.confirm and not msg.confirmed)

    def _refuse(self, what, mid, why):
        stats.inc(what)
        log.warn(_TAG, "message %d refused: %s", mid, why)
        return F.INVALID_FIELD

    def _cancel(self, mid):
        if self._find(mid) is None:
            stats.inc("not_found")
            return F.NOT_FOUND
        self._remove(mid)
        self._save()
        stats.inc("cancelled")
        log.info(_TAG, "message %d cancelled", mid)
        self.model.changed(M.D_MESSAGES)
        return F.SUCCESS

    def _cancel_all(self, t):
        # At implementation time t (0: now) every message ends; a later t only moves the ends.
        mdl = self.model
        now = clock.now()
        if not t or t <= now:
            stats.inc("cancelled", len(mdl.messages))
            mdl.messages = []
        else:
            for m in mdl.messages:
                if not m.end_utc or m.end_utc > t:
                    m.end_utc = t
        self._save()
        log.info(_TAG, "all messages cancelled at %d", t or now)
        mdl.changed(M.D_MESSAGES)
        self._wake.set()
        return F.SUCCESS

    # ---------------- the user ----------------

    def _on_confirmed(self, msg):  # model.confirmed listener
        msg.flags |= M.MF_UNSENT
        self._save()
        asyncio.create_task(self._confirm(msg))

    def _on_read(self, msg):  # model.message_read listener
        self._save()

    async def send_pending(self):
        for m in self.model.messages:
            if m.flags & M.MF_UNSENT:
                await self._confirm(m)

    async def _confirm(self, msg):
        # MessageConfirmation to whoever sent the message; plain: id and time only; enhanced:
        # the Yes / No control and the answer's label as the response text.
        if msg.flags & M.MF_HUB:
            node, ep = HUB, self.hub_ep
        else:
            m = self.registry.get(FU.FUELS[msg.fuel].key)
            if m is None:
                return
            node, ep = m.node, m.ep
        values = {"message_id": msg.id, "confirmation_time": clock.now()}
        k = msg.answer
        if msg.enhanced and k >= 0:
            values["confirmation_control"] = M.ANSWERS[k][1]
            values["response"] = M.ANSWERS[k][0].encode()
        stats.inc("confirmations")
        rsp = await self.zcl.command(node, ep, C.MESSAGING, C.MSG_CONFIRMATION, values,
                                     timeout_ms=self.timeout_ms)  # fmt: skip
        st = None if rsp is None else rsp.default_status()
        if st != F.SUCCESS:
            stats.inc("confirm_failed")
            log.warn(_TAG, "confirmation of %d: %s; re-sent at the next network start", msg.id,
                     "no answer" if rsp is None else "status 0x%02x" % (st or 0))  # fmt: skip
            return
        log.info(_TAG, "message %d confirmed to 0x%04x", msg.id, node)
        if msg.flags & M.MF_UNSENT:
            msg.flags &= ~M.MF_UNSENT & 0xFF
            self._save()

    # ---------------- change of tenancy ----------------

    def tenancy_clearer(self, ev):
        # tenancy watcher's `clearing` listener (app.py): Clear IHD Data - Consumer (0x200) or
        # - Supplier (0x400) clears the messages of the meter's fuel and the hub's received
        # before T (a supplier message to the previous occupant is both; docs/messages.md).
        if not ev.control & (C.DM_CLEAR_CONSUMER | C.DM_CLEAR_SUPPLIER):
            return
        f = FU.by_key(ev.meter)
        if f is None:
            return
        n = self.model.clear_messages(f.index, ev.t or clock.now())
        if n:
            stats.inc("cleared", n)
            self._save()
            log.info(_TAG, "%s: %d message(s) cleared", ev.meter, n)

    # ---------------- helpers ----------------

    def _find(self, mid):
        for m in self.model.messages:
            if m.id == mid:
                return m
        return None

    def _remove(self, mid):
        msgs = self.model.messages
        for i in range(len(msgs)):
            if msgs[i].id == mid:
                msgs.pop(i)
                return

    def _save(self, msgs=None):
        try:
            S.save(self.path, self.model.messages if msgs is None else msgs)
        except OSError as e:  # flash full / failing: the messages stay in RAM
            stats.inc("bad_store")
            log.exc(_TAG, e, "saving messages")


def _unended(msgs, now):
    # (apart: a comprehension over `now` in check() would make it a heap cell at every call)
    return [m for m in msgs if not m.end_utc or m.end_utc > now]


def _span(start, end):
    return end - start if end else 0


def _utf8(payload):
    # True if the DisplayMessage text (a char string at _TEXT_OFF) is valid UTF-8.
    n = payload[_TEXT_OFF] if len(payload) > _TEXT_OFF else 0
    try:
        str(bytes(payload[_TEXT_OFF + 1 : _TEXT_OFF + 1 + n]), "utf-8")
        return True
    except UnicodeError:
        return False
