# fw: heapsize=512K
# Messaging client (ihd/messages/service.py) through the real ZCL client over a fake NCP: frames
# built with the clusters.py schemas, the registry's gate in place. Display / protected /
# cancel / cancel all, start and end by wall time, importance, transmission bits, the sender
# rule, hostile input, bounds, confirmation (plain and enhanced, kept until acknowledged),
# GetLastMessage, reload from flash, change of tenancy.
import asyncio
import os

import fwtest

PORTABLE = True

ELEC = (0x1234, 1)
GAS = (0x2B7A, 1)
HUB = (0x0000, 1)
NOW = 850_000_000
T = [NOW]


class Msg:
    def __init__(self, data, sender, src_ep, secured=True):
        self.sender = sender
        self.sender_eui64 = None
        self.profile_id = 0x0109
        self.cluster_id = 0x0703
        self.src_ep = src_ep
        self.dst_ep = 1
        self.aps_options = 0
        self.secured = secured
        self.lqi = 255
        self.rssi = -40
        self.payload = memoryview(bytearray(data))


class FakeNcp:
    def __init__(self):
        self.sent = []  # (node, cluster, dst_ep, frame bytes)
        self.responder = None  # fn(node, frame) -> reply frame or None
        self.zcl = None

    async def send_unicast(self, node_id, cluster_id, src_ep, dst_ep, payload, profile_id=0x0109):
        b = bytes(payload)
        self.sent.append((node_id, cluster_id, dst_ep, b))
        if self.responder is not None:
            r = self.responder(node_id, b)
            if r is not None:
                self.zcl.handle_incoming(Msg(r, node_id, dst_ep))
        return 0


_n = [0]


def setup(gate=True, path=None, fresh=True):
    from ihd.messages.service import MessageService
    from ihd.meters.registry import Meter, Registry
    from ihd.runtime import atomic, clock
    from ihd.state import model as M
    from ihd.zigbee.zcl import client as ZC

    clock.reset()
    T[0] = NOW
    clock.set_source(lambda: T[0])
    if path is None:
        _n[0] += 1
        path = "/tmp/ihd-msg-%d-%d.bin" % (os.getpid() if hasattr(os, "getpid") else 1, _n[0])
    if fresh:
        atomic.remove(path)
    ncp = FakeNcp()
    z = ZC.Zcl(ncp, local_ep=1)
    ncp.zcl = z
    reg = Registry()
    reg.bind(Meter("elec", *ELEC))
    reg.bind(Meter("gas", *GAS))
    if gate:
        z.set_gate(reg.admits)
    mdl = M.Model(now_fn=lambda: T[0])
    svc = MessageService(z, reg, mdl, path)
    from ihd.messages import stats

    stats.reset()
    return svc, ncp, z, mdl


def display(mid, text, control=0, start=0, dur=0xFFFF, ext=None, cmd=0x00):
    from ihd.zigbee.zcl import clusters as CL

    row = CL.command(CL.MESSAGING, CL.S2C, cmd)
    v = {"message_id": mid, "message_control": control, "start_time": start,
         "duration_min": dur, "message": text, "extended_message_control": ext}  # fmt: skip
    return CL.encode(row[2], v, 255)


def frame(cmd, payload, tsn=7, disable_dr=False):
    from ihd.zigbee.zcl import client as ZC

    return bytes(ZC.Zcl.build(1, 1, tsn, cmd, payload, disable_dr))


def push(ncp, z, payload, cmd=0x00, src=ELEC, secured=True, tsn=7):
    n = len(ncp.sent)
    inloop(lambda: z.handle_incoming(Msg(frame(cmd, payload, tsn), src[0], src[1], secured)))
    return ncp.sent[n:]


def inloop(fn):
    # fn() inside a running event loop (what it spawns runs too)
    async def main():
        fn()
        await settle()
        await settle()

    fwtest.run(main())


def raw_text(mid, raw):
    # a DisplayMessage whose text bytes are given as they are (e.g. not UTF-8)
    import struct

    return struct.pack("<IBIH", mid, 0, 0, 0xFFFF) + bytes((len(raw),)) + raw


async def settle():
    for _ in range(6):
        await asyncio.sleep_ms(0)


def dr(sent):
    # -> [(node, status)] of the Default Responses among sent frames
    return [(s[0], s[3][4]) for s in sent if s[3][0] & 3 == 0 and s[3][2] == 0x0B]


def ids(mdl, view=False):
    return [m.id for m in (mdl.view_messages() if view else mdl.messages)]


def test_display_from_meter_shown_stored_and_acknowledged():
    from ihd.messages import store

    svc, ncp, z, mdl = setup()
    sent = push(ncp, z, display(0x80000001, "Hello"))
    assert dr(sent) == [(ELEC[0], 0x00)]  # disable-default-response clear: SUCCESS
    m = mdl.messages[0]
    assert (m.id, m.text, m.time_utc, m.end_utc, m.fuel) == (0x80000001, "Hello", NOW, 0, 0)
    assert not m.read and mdl.unread() == 1
    got = store.load(svc.path)
    assert [(x.id, x.text, x.time_utc) for x in got] == [(0x80000001, "Hello", NOW)]


def test_reloaded_at_boot_with_flags():
    svc, ncp, z, mdl = setup()
    push(ncp, z, display(1, "first", dur=60))
    push(ncp, z, display(2, "second", control=0x80))
    mdl.read_message(mdl.messages[1])
    svc2, _, _, mdl2 = setup(path=svc.path, fresh=False)
    assert ids(mdl2) == [2, 1]
    assert mdl2.messages[1].read and mdl2.messages[1].end_utc == NOW + 3600
    assert mdl2.messages[0].confirm and mdl2.unread() == 1


def test_only_bound_meters_and_hub_secured():
    from ihd.messages import stats

    for gate in (True, False):
        svc, ncp, z, mdl = setup(gate=gate)
        push(ncp, z, display(1, "spoof"), src=(0x7777, 1))
        push(ncp, z, display(2, "unsecured"), secured=False)
        push(ncp, z, display(3, "hub unsecured"), src=HUB, secured=False)
        push(ncp, z, display(4, "wrong endpoint"), src=(ELEC[0], 9))
        assert mdl.messages == [], gate
        if not gate:  # the service's own rule (the gate refuses them before decoding)
            assert stats.get("rejected_source") == 4
        push(ncp, z, display(5, "hub"), src=HUB)
        push(ncp, z, display(6, "gas"), src=GAS)
        assert ids(mdl) == [6, 5]
        assert mdl.messages[1].flags & 0x04 and mdl.messages[0].fuel == 1


def test_start_later_and_end():
    from ihd.state import model as M

    svc, ncp, z, mdl = setup()
    ch = M.Changes(mdl)
    push(ncp, z, display(1, "later", start=NOW + 600, dur=10, control=0x80))
    assert ids(mdl) == [1] and ids(mdl, True) == []  # kept, not shown yet
    ch.take()
    ch.alert = False
    ms = svc.check()
    assert 0 < ms <= 61_000  # at most _CHECK_S (60 s) between looks
    assert not ch.take() and not ch.alert
    T[0] = NOW + 600
    svc.check()
    assert ids(mdl, True) == [1]
    assert ch.take() & M.D_MESSAGES and ch.alert  # started: redrawn, asks: the screen wakes
    T[0] = NOW + 1200  # 10 minutes later: ended, gone from RAM and flash
    svc.check()
    assert mdl.messages == []
    from ihd.messages import store

    assert store.load(svc.path) == []


def test_clock_jump_is_followed_and_sleeps_stay_short():
    svc, ncp, z, mdl = setup()
    push(ncp, z, display(1, "a day", dur=1440))
    assert svc.check() <= 61_000  # however far the end, at most a minute between looks
    T[0] = NOW + 2 * 86400  # the clock jumped forward two days
    svc.check()
    assert mdl.messages == []
    push(ncp, z, display(2, "until cancelled"))
    T[0] = NOW - 365 * 86400  # and back a year: a message started "later" is not shown
    assert ids(mdl) == [2] and ids(mdl, True) == []


def test_already_ended_and_hostile_values():
    from ihd.messages import stats

    svc, ncp, z, mdl = setup()
    sent = push(ncp, z, display(1, "old", start=NOW - 7200, dur=60))
    assert mdl.messages == [] and stats.get("expired") == 1 and dr(sent) == [(ELEC[0], 0)]
    sent = push(ncp, z, display(2, "far", start=0xFFFFFFFF))
    assert dr(sent) == [(ELEC[0], 0x85)] and stats.get("bad_start") == 1
    sent = push(ncp, z, display(3, "far", start=NOW + 100 * 86400))
    assert dr(sent) == [(ELEC[0], 0x85)]
    sent = push(ncp, z, display(4, ""))
    assert dr(sent) == [(ELEC[0], 0x85)] and stats.get("bad_text") == 1
    sent = push(ncp, z, display(5, "reserved tx", control=0x03))
    assert dr(sent) == [(ELEC[0], 0x85)] and stats.get("bad_control") == 1
    sent = push(ncp, z, b"\x01\x02")  # truncated: the ZCL client answers MALFORMED
    assert dr(sent) == [(ELEC[0], 0x80)]
    assert mdl.messages == []
    push(ncp, z, raw_text(6, b"caf\xe9 \xff"))  # Latin-1, not UTF-8: shown with '?'
    assert mdl.messages[0].text == "caf? ?" and stats.get("bad_utf8") == 1
    long = "\u00a3" * 100  # 200 bytes of UTF-8: cut at a character boundary
    push(ncp, z, display(7, long))
    assert mdl.messages[0].text == "\u00a3" * 64 and stats.get("truncated") == 1
    push(ncp, z, display(0xFFFFFFFF, "max id"))
    assert mdl.messages[0].id == 0xFFFFFFFF


def test_interpan_only_ignored():
    from ihd.messages import stats

    svc, ncp, z, mdl = setup()
    sent = push(ncp, z, display(1, "for inter-PAN", control=0x02))
    assert mdl.messages == [] and stats.get("interpan_only") == 1 and dr(sent)[0][1] == 0
    push(ncp, z, display(2, "both", control=0x01))
    assert ids(mdl) == [2]


def test_importance_high_shown_at_once_low_not():
    from ihd.state import model as M

    svc, ncp, z, mdl = setup()
    ch = M.Changes(mdl)
    ch.take()
    push(ncp, z, display(1, "low", control=0x00))
    assert mdl.urgent_seq == 0 and not ch.alert
    push(ncp, z, display(2, "high", control=0x08))
    assert mdl.urgent_seq == 1 and mdl.urgent_msg.id == 2 and ch.alert
    push(ncp, z, display(3, "critical later", control=0x0C, start=NOW + 60))
    assert mdl.urgent_seq == 1
    T[0] = NOW + 60
    svc.check()
    assert mdl.urgent_seq == 2 and mdl.urgent_msg.id == 3


def test_repeat_keeps_what_the_user_did():
    svc, ncp, z, mdl = setup()
    p = display(1, "same", control=0x80)
    push(ncp, z, p)
    inloop(lambda: mdl.confirm_message(mdl.messages[0]))
    T[0] = NOW + 600
    push(ncp, z, p)  # GetLastMessage's answer after a reboot, or a repeat (start "now" again)
    assert mdl.messages[0].confirmed and mdl.messages[0].read
    assert mdl.messages[0].time_utc == NOW  # it started when first received
    push(ncp, z, display(2, "ten minutes", dur=10))
    T[0] = NOW + 900
    push(ncp, z, display(2, "ten minutes", dur=10))
    assert mdl.messages[0].end_utc == NOW + 1200  # the same message: not extended
    push(ncp, z, display(1, "changed text", control=0x80))  # a new message under the same id
    assert not mdl.messages[0].confirmed and mdl.messages[0].text == "changed text"


def test_bounded_oldest_out_first():
    from ihd.messages import stats, store

    svc, ncp, z, mdl = setup()
    for i in range(1, 12):
        push(ncp, z, display(i, "message %d" % i))
    assert ids(mdl) == list(range(11, 3, -1)) and stats.get("evicted") == 3
    assert [m.id for m in store.load(svc.path)] == ids(mdl)


def test_cancel_and_cancel_all():
    svc, ncp, z, mdl = setup()
    for i in (1, 2, 3):
        push(ncp, z, display(i, "m%d" % i))
    sent = push(ncp, z, b"\x02\x00\x00\x00\x00", cmd=0x01)  # CancelMessage id 2
    assert ids(mdl) == [3, 1] and dr(sent) == [(ELEC[0], 0)]
    sent = push(ncp, z, b"\x09\x00\x00\x00\x00", cmd=0x01)  # unknown id
    assert dr(sent) == [(ELEC[0], 0x8B)]
    import struct

    push(ncp, z, struct.pack("<I", NOW + 300), cmd=0x03, src=HUB)  # CancelAll in 5 min
    assert ids(mdl) == [3, 1] and all(m.end_utc == NOW + 300 for m in mdl.messages)
    T[0] = NOW + 300
    svc.check()
    assert mdl.messages == []
    push(ncp, z, display(4, "m4"))
    push(ncp, z, b"\x00\x00\x00\x00", cmd=0x03)  # now
    from ihd.messages import store

    assert mdl.messages == [] and store.load(svc.path) == []


def test_unsynced_clock_refuses_display():
    from ihd.runtime import clock

    svc, ncp, z, mdl = setup()
    clock.set_source(None)
    clock.reset()
    sent = push(ncp, z, display(1, "x"))
    assert mdl.messages == [] and dr(sent) == [(ELEC[0], 0x01)]


def _confirmations(ncp):
    from ihd.zigbee.zcl import clusters as CL

    row = CL.command(CL.MESSAGING, CL.C2S, 0x01)
    out = []
    for node, _cl, _ep, b in ncp.sent:
        if b[0] & 3 == 1 and b[0] & 8 == 0 and b[2] == 0x01:
            out.append((node, CL.decode(row[2], b[3:])))
    return out


def _ack(node, b):
    # the server's Default Response SUCCESS to a MessageConfirmation
    if b[0] & 3 == 1 and b[2] == 0x01:
        return bytes((0x18, b[1], 0x0B, 0x01, 0x00))
    return None


def test_plain_confirmation_sent_to_sender():
    svc, ncp, z, mdl = setup()
    ncp.responder = _ack
    push(ncp, z, display(0x11, "confirm me", control=0x80), src=HUB)
    T[0] = NOW + 5
    inloop(lambda: mdl.confirm_message(mdl.messages[0]))
    ((node, a),) = _confirmations(ncp)
    assert node == 0 and a["message_id"] == 0x11 and a["confirmation_time"] == NOW + 5
    assert a["confirmation_control"] is None and a["response"] is None  # plain: no options
    assert not mdl.messages[0].flags & 0x40  # acknowledged


def test_enhanced_confirmation_answer_and_resend_after_reboot():
    svc, ncp, z, mdl = setup()
    push(ncp, z, display(0x12, "Can we call?", control=0x20 | 0x80))
    assert mdl.messages[0].enhanced
    svc.timeout_ms = 50
    inloop(lambda: mdl.confirm_message(mdl.messages[0], answer=1))  # "No"; no answer
    assert mdl.messages[0].flags & 0x40  # still to send
    svc2, ncp2, z2, mdl2 = setup(path=svc.path, fresh=False)
    ncp2.responder = _ack
    fwtest.run(svc2.send_pending())
    ((node, a),) = _confirmations(ncp2)
    assert node == ELEC[0] and a["confirmation_control"] == 0x01 and a["response"] == b"No"
    assert not mdl2.messages[0].flags & 0x40 and mdl2.messages[0].answer == 1


def test_already_confirmed_elsewhere():
    svc, ncp, z, mdl = setup()
    push(ncp, z, display(1, "done on another display", control=0x80, ext=0x01))
    assert mdl.messages[0].confirmed


def test_get_last_message_to_hub_and_meters():
    svc, ncp, z, mdl = setup()

    def answer(node, b):
        if b[0] & 3 == 1 and b[2] == 0x00:  # GetLastMessage
            if node == 0:
                return bytes((0x19, b[1], 0x00)) + display(0x21, "from the hub")
            return bytes((0x18, b[1], 0x0B, 0x00, 0x8B))  # NOT_FOUND
        return None

    ncp.responder = answer
    fwtest.run(svc.get_last())
    asked = [s[0] for s in ncp.sent if s[3][0] & 3 == 1 and s[3][2] == 0x00]
    assert asked == [0x0000, ELEC[0], GAS[0]]
    assert ids(mdl) == [0x21] and mdl.messages[0].flags & 0x04


def test_protected_message():
    svc, ncp, z, mdl = setup()
    push(ncp, z, display(1, "secret", cmd=0x02), cmd=0x02)
    assert mdl.messages[0].flags & 0x08 and mdl.messages[0].text == "secret"


class Ev:
    def __init__(self, meter, control, t):
        self.meter, self.control, self.t = meter, control, t


def test_change_of_tenancy_clears_per_bits():
    from ihd.messages import store

    for bits, gone in ((0, False), (0x4000, False), (0x0100, False), (0x0200, True),
                       (0x0400, True)):  # fmt: skip
        svc, ncp, z, mdl = setup()
        push(ncp, z, display(1, "elec old"))
        push(ncp, z, display(2, "hub old"), src=HUB)
        push(ncp, z, display(3, "gas old"), src=GAS)
        T[0] = NOW + 200
        push(ncp, z, display(4, "elec new"))
        svc.tenancy_clearer(Ev("elec", bits, NOW + 100))
        want = [4, 3] if gone else [4, 3, 2, 1]
        assert ids(mdl) == want, (bits, ids(mdl))
        assert [m.id for m in store.load(svc.path)] == want


def test_quiet_check_allocates_nothing():
    # the task's look every minute, with nothing starting or ending: 0 B
    svc, ncp, z, mdl = setup()
    for i in (1, 2, 3):
        push(ncp, z, display(i, "m%d" % i, dur=600))
    push(ncp, z, display(4, "later", start=NOW + 3600))
    svc.check()
    T[0] = NOW + 30
    with fwtest.HeapLocked():
        ms = svc.check()
    assert 0 < ms <= 61_000 and ids(mdl) == [4, 3, 2, 1]
