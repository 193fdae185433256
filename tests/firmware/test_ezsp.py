# EZSP framing: v13 and v14 layouts against the captured frames of ezsp-ash.md 3.6 byte for
# byte, version negotiation against a scripted NCP, response/callback routing, and malformed or
# truncated frames counted (never raised).
import asyncio

import fwtest
from ashfakes import settle
from ihd.runtime.events import Signal
from ihd.zigbee import ezsp as ez
from ihd.zigbee.ash import AshError

PORTABLE = True

H = bytes.fromhex

# ezsp-ash.md 3.6 (v14, captured by zigbee-herdsman)
CAP_UNICAST_REQ = H("270001340000DEC90401060001014011000000030003010400")
CAP_UNICAST_RSP = H("2780013400000000009A")
CAP_SENT = H("2790013F0000000000" + "00DEC9" + "04010600010140110000" + "9A" + "0300" + "00")
CAP_INCOMING = H(
    "2790014500"
    + "00"
    + "0401060001010001000070"
    + "DEC9"
    + "0000000000000000"
    + "FFFF0300"
    + "06000000"
    + "0518040B0000"
    + "02"
)
CAP_POLICY_REQ = H("4F000155000002")
CAP_POLICY_RSP = H("4F8001550000000000")
CAP_STACK_UP_14 = H("059001190015000000")
CAP_STACK_UP_13 = H("059001190090")


class FakeLink:
    # Stands in for ash.Ash: records what EZSP sends; a script returns the NCP's reply frames,
    # delivered after send() returns, like frames arriving from the rx task.
    def __init__(self, script):
        self.script = script
        self.sent = []
        self.frames = Signal("link")
        self.resets = Signal("link")
        self.reset_calls = 0
        self.fail = False

    async def reset(self):
        self.reset_calls += 1
        return 0x0B

    async def send(self, payload):
        b = bytes(payload)
        self.sent.append(b)
        if self.fail:
            raise AshError("link down")
        asyncio.create_task(self._deliver(self.script(b)))

    async def _deliver(self, frames):
        await asyncio.sleep(0)
        for f in frames:
            self.frames.emit(memoryview(f))


def ncp_script(version, extra=None):
    # Version negotiation like a real NCP: answers in the format of the request.
    def script(b):
        if b[2] == 0x00 and len(b) == 4:  # legacy version
            return [bytes([b[0], 0x80, 0x00, version, 2, 0x10, 0x74])]
        if b[2:5] == b"\x01\x00\x00":  # extended version
            return [bytes([b[0], 0x80, 0x01, 0x00, 0x00, version, 2, 0x10, 0x74])]
        return extra(b) if extra else []

    return script


# incomingMessageHandler / messageSentHandler arrive as ezsp.IncomingMessage / MessageSent.
_FIELDS = {
    "messageSentHandler": ("status", "msg_type", "dest", "profile_id", "cluster_id", "src_ep",
                           "dst_ep", "aps_options", "group_id", "aps_seq", "tag", "message"),
    "incomingMessageHandler": ("msg_type", "profile_id", "cluster_id", "src_ep", "dst_ep",
                               "aps_options", "group_id", "aps_seq", "sender", "sender_eui64",
                               "binding_index", "address_index", "lqi", "rssi", "payload"),
}  # fmt: skip


def _copy(a):
    return bytes(a) if isinstance(a, (memoryview, bytearray)) else a


def listen(e, fn):
    # every callback frame EZSP knows, to one fn(name, args)
    for name in ez._CMDS:
        e.callback(name).connect(lambda args, name=name: fn(name, args))


def new(version, extra=None, **kw):
    link = FakeLink(ncp_script(version, extra))
    e = ez.Ezsp(link, **kw)
    calls = []

    def on_cb(name, args):
        fields = _FIELDS.get(name)
        if fields is not None:  # the reusable named-field objects: snapshot in a fixed order
            args = [getattr(args, k) for k in fields]
        calls.append((name, tuple(_copy(a) for a in args)))

    listen(e, on_cb)
    return link, e, calls


def test_negotiation_v14_same_version():
    async def main():
        link, e, _ = new(14)
        assert await e.connect(14) == 14
        assert link.reset_calls == 1
        assert link.sent == [H("0000000E")]  # legacy version(14) only
        assert e.version == 14 and e.v14 and e.stack_version == 0x7410
        assert e.ST_NETWORK_UP == 0x15

    fwtest.run(main())


def test_negotiation_v13_then_extended():
    async def main():
        link, e, _ = new(13)
        assert await e.negotiate(14) == 13
        assert link.sent == [H("0000000E"), H("01000100000D")]
        assert e.version == 13 and not e.v14 and e.ST_NETWORK_UP == 0x90
        link2, e2, _ = new(4)
        err = None
        try:
            await e2.negotiate(14)
        except ez.EzspError as x:
            err = x
        assert err is not None and e2.version == 0
        # Legacy version(13) request as in ezsp-ash.md 1.10 (host version(13) legacy)
        link3, e3, _ = new(13)
        assert await e3.negotiate(13) == 13 and link3.sent == [H("0000000D")]

    fwtest.run(main())


def _unicast_args(tag=3):
    # DIRECT to 0xC9DE, aps 0104/0006 ep1->1 options 0x1140 group 0 seq 0, tag, message
    return (0, 0xC9DE, 0x0104, 0x0006, 1, 1, 0x1140, 0, 0, tag, H("010400"))


def test_v14_captured_frames():
    async def main():
        def extra(b):
            if b[3] == 0x34:
                return [CAP_UNICAST_RSP, CAP_SENT, CAP_INCOMING]
            if b[3] == 0x55:
                return [CAP_POLICY_RSP]
            return []

        link, e, calls = new(14, extra)
        await e.negotiate(14)
        e.seq = 0x27
        assert await e.request("sendUnicast", *_unicast_args()) == (0, 0x9A)
        assert link.sent[-1] == CAP_UNICAST_REQ
        await settle()
        assert calls[0] == (
            "messageSentHandler",
            (0, 0, 0xC9DE, 0x0104, 0x0006, 1, 1, 0x1140, 0, 0x9A, 3, b""),
        )
        # incomingMessageHandler v14: rxPacketInfo, then 5-byte message and one trailing byte
        assert calls[1] == (
            "incomingMessageHandler",
            (
                0,
                0x0104,
                0x0006,
                1,
                1,
                0x0100,
                0,
                0x70,
                0xC9DE,
                None,
                0xFF,
                0xFF,
                3,
                0,
                H("18040B0000"),
            ),
        )
        assert e.c.get("trailing") == 1 and e.c.get("truncated") == 0
        m = e.incoming  # named fields, one reused object
        assert (m.cluster_id, m.sender, m.secured) == (6, 0xC9DE, False)
        assert bytes(m.payload) == H("18040B0000")
        # an EUI64 in rxPacketInfo (not all 00/FF), APS encryption option
        inc = bytearray(CAP_INCOMING)
        inc[12] |= 0x20
        inc[19:27] = H("0102030405060708")
        e._on_frame(memoryview(inc))
        assert m.secured and m.aps_options == 0x0120 and m.sender_eui64 == H("0102030405060708")
        assert calls[-1][1][9] == H("0102030405060708")
        e.seq = 0x4F
        assert await e.request("setPolicy", 0x00, 0x02) == (0,)
        assert link.sent[-1] == CAP_POLICY_REQ
        # stackStatusHandler v14: u32 status
        e._on_frame(memoryview(CAP_STACK_UP_14))
        assert calls[-1] == ("stackStatusHandler", (0x15,))

    fwtest.run(main())


def test_v13_layouts():
    async def main():
        def extra(b):
            if b[3] == 0x34:
                # v13: status u8, then messageSentHandler (type, dest, aps, tag u8, status u8, LV)
                return [
                    H("27800134000099"),
                    H("2790013F0000DEC9040106000101401100009A030000"),
                    H("2790014500" + "00" + "0401060001010001000070" + "C8C4DEC9FFFF0318040B"),
                ]
            return []

        link, e, calls = new(13, extra)
        await e.negotiate(13)
        e.seq = 0x27
        assert await e.request("sendUnicast", *_unicast_args()) == (0, 0x99)
        assert link.sent[-1] == H("270001340000DEC904010600010140110000000303010400")
        await settle()
        assert calls[0] == (
            "messageSentHandler",
            (0, 0, 0xC9DE, 0x0104, 0x0006, 1, 1, 0x1140, 0, 0x9A, 3, b""),
        )
        # v13 incoming: lqi 0xC8, rssi -60, sender 0xC9DE; no EUI64 in the frame
        assert calls[1] == (
            "incomingMessageHandler",
            (
                0,
                0x0104,
                0x0006,
                1,
                1,
                0x0100,
                0,
                0x70,
                0xC9DE,
                None,
                0xFF,
                0xFF,
                0xC8,
                -60,
                H("18040B"),
            ),
        )
        e._on_frame(memoryview(CAP_STACK_UP_13))
        assert calls[-1] == ("stackStatusHandler", (0x90,)) and e.ST_NETWORK_UP == 0x90
        # leaveNetwork has no parameters before v14, an options byte from v14
        e.seq = 1
        n = e.encode(1, "leaveNetwork", ())
        assert bytes(e.tx_buf[:n]) == H("0100012000")

    fwtest.run(main())


def test_encodings_misc():
    async def main():
        link, e, _ = new(14)
        await e.negotiate(14)
        n = e.encode(2, "addEndpoint", (1, 0x0109, 0x0507, 0, 2, 1), H("000000080A00"))
        assert bytes(e.tx_buf[:n]) == H("02000102000109010705000201" + "000000080A00")
        n = e.encode(3, "leaveNetwork", (0,))
        assert bytes(e.tx_buf[:n]) == H("030001200000")
        n = e.encode(4, "setValue", (0x11, b"\x01\x02"))
        assert bytes(e.tx_buf[:n]) == H("040001AB0011020102")
        n = e.encode(5, "findAndRejoinNetwork", (1, 0x07FFF800, 0xFF, 3))
        assert bytes(e.tx_buf[:n]) == H("05000121000100F8FF07FF03")

    fwtest.run(main())


def test_callback_with_pending_seq_is_not_the_response():
    async def main():
        def extra(b):
            if b[3] == 0x27:  # getNodeId: a callback with the same seq arrives first
                cb = bytes([b[0], 0x90, 0x01, 0x19, 0x00]) + H("15000000")
                return [cb, bytes([b[0], 0x80, 0x01, 0x27, 0x00, 0x34, 0x12])]
            return []

        link, e, calls = new(14, extra)
        await e.negotiate(14)
        assert await e.request("getNodeId") == (0x1234,)
        assert calls == [("stackStatusHandler", (0x15,))]

    fwtest.run(main())


def test_invalid_command_timeout_and_link_reset():
    async def main():
        def extra(b):
            if b[3] == 0x05:  # nop -> invalidCommand(ERROR_INVALID_FRAME_ID) as u32
                return [bytes([b[0], 0x80, 0x01, 0x58, 0x00]) + H("31000000")]
            return []

        link, e, _ = new(14, extra, cmd_timeout_ms=30)
        await e.negotiate(14)
        err = None
        try:
            await e.request("nop")
        except ez.InvalidCommand as x:
            err = x
        assert err is not None and err.reason == 0x31
        err = None
        try:
            await e.request("getEui64")  # no answer at all
        except ez.EzspTimeout as x:
            err = x
        assert err is not None and e.c.get("timeouts") == 1
        # NCP reset while waiting: fails at once (not a timeout) and is reported upward
        resets = []
        e.resets.connect(resets.append)
        e.cmd_timeout_ms = 5000
        t = asyncio.create_task(e.request("getNodeId"))
        await settle()
        link.resets.emit(0x02)
        err = None
        try:
            await t
        except ez.EzspTimeout:
            err = "timeout"
        except ez.EzspError as x:
            err = x
        assert isinstance(err, ez.EzspError) and resets == [2]
        link.fail = True
        err = None
        try:
            await e.request("getNodeId")
        except ez.EzspError as x:
            err = x
        assert err is not None and e.c.get("link_errors") == 2

    fwtest.run(main())


def test_truncated_and_malformed_frames_counted_not_raised():
    async def main():
        link, e, calls = new(14, None, cmd_timeout_ms=30)
        await e.negotiate(14)
        for cap in (CAP_SENT, CAP_INCOMING, CAP_STACK_UP_14):
            for k in range(len(cap) - (1 if cap is CAP_INCOMING else 0)):
                e._on_frame(memoryview(cap[:k]))
        assert calls == []
        assert e.c.get("truncated") > 30 and e.c.get("malformed") == 0
        before = e.c.get("bad_header")
        e._on_frame(memoryview(H("051001190015000000")))  # direction = command
        e._on_frame(memoryview(H("059081190015000000")))  # secure EZSP
        e._on_frame(memoryview(H("05900D190015000000")))  # reserved FC_hi bits
        assert e.c.get("bad_header") == before + 3
        e._on_frame(memoryview(H("059001FFFF00")))  # unknown frame id
        assert e.c.get("unknown_frames") == 1 and calls == []
        # A handler that raises is counted, not propagated.
        listen(e, lambda name, args: 1 // 0)
        e._on_frame(memoryview(CAP_STACK_UP_14))
        assert e.c.get("handler_errors") == 1

        # A truncated response leaves the command to time out.
        def extra(b):
            return [bytes([b[0], 0x80, 0x01, 0x27, 0x00, 0x34])] if b[3] == 0x27 else []

        link.script = ncp_script(14, extra)
        err = None
        try:
            await e.request("getNodeId")
        except ez.EzspTimeout as x:
            err = x
        assert err is not None

    fwtest.run(main())
