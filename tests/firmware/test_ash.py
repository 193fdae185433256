# ASH link layer: ezsp-ash.md section 1.10 vectors byte for byte, stuffing, randomization, CRC,
# CANCEL/SUBSTITUTE/XON/XOFF, NAK + reject condition, retransmission and the adaptive ack timer,
# RST/RSTACK, unsolicited RSTACK/ERROR, and a heap-lock proof of the receive path.
import asyncio

import fwtest
from ashfakes import Pipe, frames, settle
from ihd.zigbee import ash

PORTABLE = True

H = bytes.fromhex

# (control, data, wire bytes) from ezsp-ash.md 1.10 (+ 3.6 derived ASH frames)
VECTORS = (
    (0xC0, b"", H("C038BC7E")),
    (0xC1, H("020B"), H("C1020B0A527E")),
    (0xC1, H("0202"), H("C102029B7B7E")),
    (0xC2, H("0251"), H("C20251A8BD7E")),
    (0xC2, H("0203"), H("C20203D20A7E")),
    (0x80, b"", H("8070787E")),
    (0x81, b"", H("8160597E")),
    (0x8E, b"", H("8E91B67E")),
    (0xA6, b"", H("A634DC7E")),
    (0xAE, b"", H("AEB5D47E")),
    (0x25, H("00000002"), H("254221A856A6097E")),
    (0x00, H("00000004"), H("004221A850ED2C7E")),
    (0x00, H("0000000D"), H("004221A8597C057E")),
    (0x00, H("0000000E"), H("004221A85A4C667E")),
    (0x01, H("00800004021058"), H("0142A1A8502805EABEEE7E")),
    (0x01, H("0080000D021074"), H("0142A1A8592805C6A8777E")),
    (0x11, H("0100AA11"), H("7D314321024585B27E")),
    (0x11, H("010001000008"), H("7D314321A9542A1DC97F7E")),
    (0x00, H("2780013400000000009A"), H("0065A1A9602A15B25994D0954C7E")),
    (0x36, H("059001190015000000"), H("3647B1A94D2A00B259944EEE7E")),
    (0x36, H("059001190090"), H("3647B1A94D2A8541A57E")),
)


def test_vectors_encode():
    for ctrl, data, wire in VECTORS:
        got = ash.encode(ctrl, data)
        assert got == wire, "%02x %s: %s != %s" % (ctrl, data.hex(), got.hex(), wire.hex())
    assert H("1AC038BC7E") == ash.RST_BYTES
    assert ash.encode(ash.data_ctrl(2, 5), H("00000002")) == H("254221A856A6097E")
    assert ash.ack_ctrl(6, 1) == 0x8E and ash.nak_ctrl(6) == 0xA6
    assert ash.data_ctrl(1, 1) == 0x11 and ash.data_ctrl(3, 6) == 0x36
    assert ash.data_ctrl(7, 0, 1) == 0x78


def test_vectors_decode():
    for ctrl, data, wire in VECTORS:
        assert frames(wire) == [(ctrl, data)], wire.hex()
    # RSTACK as the NCP really sends it: CANCEL first
    assert frames(H("1AC1020B0A527E")) == [(0xC1, H("020B"))]


def test_crc16_and_residue():
    assert ash.crc16(b"123456789") == 0x29B1  # CRC-16/CCITT-FALSE check value
    raw = bytearray(H("25000000021AAD"))  # un-randomized example from UG101
    assert ash.crc16(raw, 0, 5) == 0x1AAD
    assert ash.crc16(raw) == 0  # residue over data + big-endian CRC


def test_randomization_sequence():
    seq = ash.randomize(bytearray(16))
    assert bytes(seq) == H("4221A8542A15B259944A25AA5592499C")
    b = bytearray(range(40))
    ash.randomize(b)
    ash.randomize(b)
    assert b == bytearray(range(40))
    b = bytearray(6)
    ash.randomize(b, 2, 6)  # restarts at the given start
    assert bytes(b) == H("00004221A854")


def test_stuffing_every_reserved_byte():
    for b, esc in (
        (0x7E, 0x5E),
        (0x7D, 0x5D),
        (0x11, 0x31),
        (0x13, 0x33),
        (0x18, 0x38),
        (0x1A, 0x3A),
    ):
        assert ash.stuff(bytes([b])) == bytes([0x7D, esc])
    assert ash.stuff(b"\xff\x00\x20\x5e") == b"\xff\x00\x20\x5e"  # WAKE is not escaped
    # A frame whose control, randomized data and CRC hit reserved bytes round-trips.
    for data in (
        bytes([0x7E ^ 0x42, 0x7D ^ 0x21, 0x11 ^ 0xA8, 0x13 ^ 0x54, 0x18 ^ 0x2A]),
        bytes(range(256))[:200],
    ):
        wire = ash.encode(0x11, data)
        body = wire[:-1]
        for r in (0x7E, 0x11, 0x13, 0x18, 0x1A):
            assert r not in body
        assert frames(wire) == [(0x11, data)]


def _counters():
    from ihd.runtime.counters import Counters

    return Counters(
        "ash_test",
        (
            "crc_errors",
            "bad_frames",
            "overflows",
            "cancels",
            "substitutes",
            "xon",
            "xoff",
            "rx_frames",
        ),
    )


def _collect(max_data=ash.MAX_DATA):
    out = []
    c = _counters()
    d = ash.Decoder(None, None, max_data, c)
    d.on_frame = lambda ctrl, n: out.append((ctrl, bytes(d.buf[1 : 1 + n])))
    d.on_bad = lambda ctrl: out.append((ctrl, None))
    return d, out, c


def _feed(d, b):
    d.feed(b, len(b))


def test_cancel_substitute_xon_xoff_wake():
    good = ash.encode(0x25, H("00000002"))
    d, out, c = _collect()
    # CANCEL discards the partial frame before it; the frame after it is fine.
    _feed(d, H("2542") + b"\x1a" + good)
    assert out == [(0x25, H("00000002"))] and c.get("cancels") == 1
    # SUBSTITUTE discards everything up to and including the next FLAG.
    out.clear()
    _feed(d, H("2542") + b"\x18" + H("2122") + b"\x7e" + good)
    assert out == [(0x25, H("00000002"))] and c.get("substitutes") == 1
    # XON / XOFF anywhere (even between ESC and the escaped byte) are dropped, not data.
    out.clear()
    wire = ash.encode(0x11, H("0100AA11"))  # starts with 7D 31
    _feed(d, wire[:1] + b"\x13" + wire[1:3] + b"\x11" + wire[3:])
    assert out == [(0x11, H("0100AA11"))]
    assert c.get("xoff") == 1 and c.get("xon") == 1 and not d.xoff
    _feed(d, b"\x13")
    assert d.xoff
    _feed(d, b"\x11")
    # WAKE between frames and empty frames are ignored.
    out.clear()
    _feed(d, b"\xff\x7e\x7e" + good + b"\xff")
    assert out == [(0x25, H("00000002"))]


def test_bad_frames_counted():
    d, out, c = _collect(max_data=8)
    good = bytearray(ash.encode(0x25, H("00000002")))
    bad = bytearray(good)
    bad[3] ^= 0x01
    _feed(d, bad)
    assert out == [(0x25, None)] and c.get("crc_errors") == 1
    out.clear()
    _feed(d, H("7D417E"))  # escape of a non-reserved byte
    _feed(d, H("25427E"))  # too short for control + CRC
    _feed(d, H("7D7E"))  # escape then FLAG: aborted frame
    assert c.get("bad_frames") == 3 and len(out) == 3
    out.clear()
    _feed(d, ash.encode(0x25, bytes(12)))  # longer than the buffer
    assert c.get("overflows") == 1 and out == [(0x25, None)]
    out.clear()
    _feed(d, good)
    assert out == [(0x25, H("00000002"))]


class _NullStream:
    def write(self, b):
        pass

    async def drain(self):
        pass

    async def readinto(self, b):
        await asyncio.sleep(3600)


def test_heap_locked_receive_path():
    a = ash.Ash(_NullStream(), _NullStream())
    a.state = ash.ST_CONNECTED  # as after RST/RSTACK
    got = bytearray(8)
    hits = [0]

    def on_frame(mv):  # a consumer that allocates nothing either
        got[0] = mv[0]
        got[1] = len(mv)
        hits[0] += 1

    a.frames.connect(on_frame)
    ezsp = H("059001190015000000")
    f0 = ash.encode(ash.data_ctrl(0, 0), ezsp)
    f1 = ash.encode(ash.data_ctrl(1, 0), ezsp)
    f2 = bytearray(ash.encode(ash.data_ctrl(2, 0), ezsp))
    f2[4] ^= 0x40  # corrupt
    f3 = ash.encode(ash.data_ctrl(2, 0), H("7E7D11131A18FF00"))  # stuffing on the rx path
    # Warm-up: the first frame of a given length creates its cached view (one allocation).
    a.feed(f0, len(f0))
    assert hits[0] == 1
    a._need_ack = False
    one = bytearray(1)
    with fwtest.HeapLocked():
        a.feed(f1, len(f1))  # complete, in-sequence DATA frame
        a.feed(f2, len(f2))  # corrupted DATA frame: counted, NAK flagged
        for i in range(len(f1)):  # byte at a time
            one[0] = f1[i]
            a.feed(one, 1)
    assert hits[0] == 2 and got[0] == 0x05 and got[1] == len(ezsp)
    assert a.c.get("crc_errors") == 1 and a._need_nak and a._need_ack
    assert a.c.get("duplicates") == 0 and a.c.get("out_of_seq") == 1
    a._need_nak = a._need_ack = a._reject = False
    a.feed(f3, len(f3))
    with fwtest.HeapLocked():
        a.feed(f3, len(f3))  # same frame again: out of sequence, still no allocation
    assert hits[0] == 3
    if fwtest.IS_UPY:
        import gc

        gc.collect()
        before = gc.mem_alloc()
        for _ in range(20):
            a.feed(f1, len(f1))
        assert gc.mem_alloc() - before == 0


# ---- link behaviour over an in-memory stream pair -----------------------------------------


class Peer:
    # The NCP end driven by the test: reads what the host wrote, writes raw frames back.
    def __init__(self, **kw):
        self.to_host = Pipe()
        self.from_host = Pipe()
        self.a = ash.Ash(self.to_host, self.from_host, **kw)
        self.resets = []
        self.rx = []
        self.a.resets.connect(self.resets.append)
        self.a.frames.connect(lambda mv: self.rx.append(bytes(mv)))

    def host_frames(self):
        return frames(self.from_host.take())

    def send(self, ctrl, data=b""):
        self.to_host.write(ash.encode(ctrl, data))

    async def connect(self):
        t = asyncio.create_task(self.a.reset())
        await settle()
        assert self.from_host.take() == ash.RST_BYTES
        self.to_host.write(b"\x1a" + ash.encode(ash.RSTACK, b"\x02\x0b"))
        assert await t == ash.RESET_SOFTWARE
        assert self.a.state == ash.ST_CONNECTED


def test_reset_handshake_and_retries():
    async def main():
        p = Peer(t_rstack_ms=30)
        t = asyncio.create_task(p.a.reset())
        await asyncio.sleep_ms(45)  # first RST unanswered
        p.to_host.write(ash.encode(ash.ack_ctrl(0)))  # discarded while resetting
        assert p.from_host.take() == ash.RST_BYTES * 2
        p.to_host.write(b"\x1a" + ash.encode(ash.RSTACK, b"\x02\x0b"))
        assert await t == 0x0B
        assert p.a.c.get("reset_timeouts") == 1 and p.a.c.get("discarded") == 1
        assert p.resets == []
        # No answer at all: 5 attempts, then AshError and FAILED.
        p2 = Peer(t_rstack_ms=5)
        e = None
        try:
            await p2.a.reset()
        except ash.AshError as x:
            e = x
        assert e is not None and p2.a.state == ash.ST_FAILED
        assert p2.from_host.take() == ash.RST_BYTES * 5
        # A queued power-on RSTACK before the answer to RST does not count as a later reset.
        p3 = Peer(t_rstack_ms=200)
        p3.to_host.write(ash.encode(ash.RSTACK, b"\x02\x02"))
        t = asyncio.create_task(p3.a.reset())
        await settle()
        p3.to_host.write(b"\x1a" + ash.encode(ash.RSTACK, b"\x02\x0b"))
        assert await t == 0x0B
        await settle()
        assert p3.resets == []
        for q in (p, p2, p3):
            q.a.stop()

    fwtest.run(main())


def test_data_ack_separate_and_piggybacked():
    async def main():
        p = Peer()
        await p.connect()
        # Host -> NCP; the NCP answers with DATA carrying the ACK (piggyback).
        t = asyncio.create_task(p.a.send(H("00000102")))
        await settle()
        assert p.host_frames() == [(ash.data_ctrl(0, 0), H("00000102"))]
        p.send(ash.data_ctrl(0, 1), H("00800102"))
        await t
        await settle()
        assert p.rx == [H("00800102")]
        # ... and the host ACKs the NCP's DATA with a separate ACK(1).
        assert p.host_frames() == [(ash.ack_ctrl(1), b"")]
        # Pending ACK goes piggybacked on the next DATA frame, no separate ACK frame.
        f = ash.encode(ash.data_ctrl(1, 1), H("019001190090"))
        p.a.feed(f, len(f))
        t = asyncio.create_task(p.a.send(H("02000102")))
        await settle()
        p.send(ash.ack_ctrl(2))
        await t
        await settle()
        assert p.host_frames() == [(ash.data_ctrl(1, 2), H("02000102"))]
        assert p.a.c.get("acks_sent") == 1 and p.rx[-1] == H("019001190090")
        # Frame numbers wrap modulo 8.
        for i in range(2, 10):
            t = asyncio.create_task(p.a.send(bytes([i, 0, 0, 5])))
            await settle()
            assert p.host_frames() == [(ash.data_ctrl(i & 7, 2), bytes([i, 0, 0, 5]))]
            p.send(ash.ack_ctrl((i + 1) & 7))
            await t
        p.a.stop()

    fwtest.run(main())


def test_nak_out_of_sequence_and_reject_condition():
    async def main():
        p = Peer()
        await p.connect()
        ez = H("00900105")
        p.send(ash.data_ctrl(1, 0), ez)  # expected frame 0: out of sequence -> NAK(0)
        await settle()
        assert p.host_frames() == [(ash.nak_ctrl(0), b"")]
        p.send(ash.data_ctrl(2, 0), ez)  # still rejecting: no second NAK
        bad = bytearray(ash.encode(ash.data_ctrl(0, 0), ez))
        bad[2] ^= 1
        p.to_host.write(bad)  # CRC error while rejecting: no NAK either
        await settle()
        assert p.host_frames() == []
        assert p.a.c.get("naks_sent") == 1 and p.a.c.get("crc_errors") == 1
        p.send(ash.data_ctrl(0, 0), ez)  # in sequence: ACK(1), reject condition cleared
        await settle()
        assert p.host_frames() == [(ash.ack_ctrl(1), b"")] and p.rx == [ez]
        p.send(ash.data_ctrl(0, 0, 1), ez)  # retransmission of what we have: re-ACK, no dup
        await settle()
        assert p.host_frames() == [(ash.ack_ctrl(1), b"")] and p.rx == [ez]
        bad = bytearray(ash.encode(ash.data_ctrl(1, 0), ez))
        bad[3] ^= 1
        p.to_host.write(bad)  # CRC error on a DATA frame: NAK(1)
        await settle()
        assert p.host_frames() == [(ash.nak_ctrl(1), b"")]
        p.a.stop()

    fwtest.run(main())


def test_retransmission_and_adaptive_timer():
    async def main():
        p = Peer(t_ack_init_ms=100, t_ack_min_ms=20, t_ack_max_ms=400)
        await p.connect()
        # No ACK: retransmitted with reTx=1, same frmNum; the timer doubles.
        t = asyncio.create_task(p.a.send(H("00000005")))
        await settle()
        assert p.host_frames() == [(ash.data_ctrl(0, 0), H("00000005"))]
        await asyncio.sleep_ms(150)  # one retransmission at 100 ms, the next not before 300
        assert p.host_frames() == [(ash.data_ctrl(0, 0, 1), H("00000005"))]
        assert p.a.t_rx_ack_ms == 200
        p.send(ash.ack_ctrl(1))
        await t
        assert p.a.t_rx_ack_ms == 200  # Karn: no sample from a retransmitted frame
        assert p.a.c.get("retransmits") == 1 and p.a.c.get("ack_timeouts") == 1
        # Quick ACKs pull the timer down towards the minimum: t = 7/8 t + elapsed/2.
        last = p.a.t_rx_ack_ms
        for i in range(1, 21):
            t = asyncio.create_task(p.a.send(H("00000005")))
            await settle()
            p.host_frames()
            p.send(ash.ack_ctrl((i + 1) & 7))
            await t
            assert p.a.t_rx_ack_ms <= last
            last = p.a.t_rx_ack_ms
        assert p.a.t_rx_ack_ms < 60  # 20 (the minimum) unless the machine is very loaded
        # NAK: immediate retransmission, well before the timer.
        t = asyncio.create_task(p.a.send(H("00000006")))
        await settle()
        p.host_frames()
        p.send(ash.nak_ctrl(5))
        await settle()
        assert p.host_frames() == [(ash.data_ctrl(5, 0, 1), H("00000006"))]
        p.send(ash.ack_ctrl(6))
        await t
        assert p.a.c.get("naks_rx") == 1
        # Never ACKed: ACK_TIMEOUTS (4) transmissions, then FAILED + resets(0x51).
        t0 = asyncio.create_task(p.a.send(H("00000007")))
        e = None
        try:
            await t0
        except ash.AshError as x:
            e = x
        assert e is not None and p.a.state == ash.ST_FAILED
        sent = p.host_frames()
        assert [c for c, _ in sent] == [0x60, 0x68, 0x68, 0x68]
        assert p.resets == [ash.ERROR_ACK_TIMEOUTS]
        p.a.stop()

    fwtest.run(main())


def test_unsolicited_rstack_and_error_reported():
    async def main():
        p = Peer()
        await p.connect()
        t = asyncio.create_task(p.a.send(H("00000005")))
        await settle()
        p.to_host.write(ash.encode(ash.RSTACK, b"\x02\x02"))  # NCP power-cycled
        e = None
        try:
            await t
        except ash.AshError as x:
            e = x
        assert e is not None and p.resets == [2] and p.a.state == ash.ST_FAILED
        assert p.a.c.get("unsolicited_rstack") == 1
        p.from_host.take()
        await p.connect()  # host re-initialises; numbering restarts at 0
        p.to_host.write(ash.encode(ash.ERROR, b"\x02\x51"))
        await settle()
        assert p.resets == [2, 0x51] and p.a.c.get("errors_rx") == 1
        e = None
        try:
            await p.a.send(b"\x00\x00\x00\x05")
        except ash.AshError as x:
            e = x
        assert e is not None  # nothing goes out until reset() again
        p.to_host.write(ash.encode(ash.RSTACK, b"\x02\x0b\x00"))  # malformed: counted only
        await settle()
        assert p.resets == [2, 0x51] and p.a.c.get("bad_frames") == 1
        p.to_host.close()  # EOF: link lost
        await settle()
        assert p.resets[-1] == ash.LINK_LOST
        p.a.stop()

    fwtest.run(main())


def test_xoff_pauses_transmit():
    async def main():
        p = Peer(t_xoff_max_ms=500)
        await p.connect()
        p.to_host.write(b"\x13")
        await settle()
        t = asyncio.create_task(p.a.send(H("00000005")))
        await asyncio.sleep_ms(20)
        assert p.from_host.take() == b""
        p.to_host.write(b"\x11")
        await asyncio.sleep_ms(20)
        assert p.host_frames() == [(ash.data_ctrl(0, 0), H("00000005"))]
        p.send(ash.ack_ctrl(1))
        await t
        p.a.stop()

    fwtest.run(main())


class _AckingPeer(Peer):
    # A Peer whose NCP end ACKs every host DATA frame as soon as it is written (and records when).
    def __init__(self, **kw):
        super().__init__(**kw)
        self.sent_at = []  # ticks_ms of each host DATA frame
        self.dec = ash.Decoder(self._host_frame)
        self.from_host.tap = lambda b: self.dec.feed(b, len(b))
        self.rst = 0

    def _host_frame(self, ctrl, n):
        import time

        if ctrl == ash.RST:
            self.rst += 1
            self.to_host.write(b"\x1a" + ash.encode(ash.RSTACK, b"\x02\x0b"))
        elif not ctrl & 0x80:
            self.sent_at.append(time.ticks_ms())
            self.send(ash.ack_ctrl(((ctrl >> 4) + 1) & 7))

    async def connect(self):
        assert await self.a.reset() == ash.RESET_SOFTWARE


def _log_lines():
    from ihd.runtime import log

    lines = []
    log.set_sink(lines.append)
    return lines


def test_stray_xoff_is_honoured_once_within_the_bound():
    # One stray XOFF (0x13) and no XON: the first write waits at most t_xoff_max_ms, counted
    # and logged, and every later write goes out at once (it used to wait the full bound before
    # every write until an XON came: 1 s per frame with the defaults).
    import time

    from ihd.runtime import log

    async def main():
        lines = _log_lines()
        p = _AckingPeer(t_xoff_max_ms=150)
        await p.connect()
        p.to_host.write(b"\x13")
        await settle()
        t0 = time.ticks_ms()
        for i in range(6):
            await p.a.send(bytes([i, 0, 0, 5]))
        dt = time.ticks_diff(time.ticks_ms(), t0)
        first = time.ticks_diff(p.sent_at[0], t0)
        assert 80 <= first < 150 + 100, first  # honoured, but only up to the bound
        assert dt < 150 + 300, dt  # the other five did not wait (it was 6 x 150 ms)
        assert p.a.c.get("xoff_expired") == 1
        assert [x for x in lines if "XOFF" in x], lines
        # More XOFF bytes while the peer's flow control is discredited: ignored until an XON.
        p.to_host.write(b"\x13")
        await settle()
        t1 = time.ticks_ms()
        await p.a.send(b"\x07\x00\x00\x05")
        assert time.ticks_diff(time.ticks_ms(), t1) < 140
        assert p.a.c.get("xoff_expired") == 1
        p.a.stop()
        log.set_sink(None)

    fwtest.run(main())


def test_xoff_held_long_then_xon_traffic_recovers():
    # The NCP repeats XOFF every 10 ms for 1.2 s (8x the bound) while the host keeps sending;
    # then XON. Every frame goes out while the XOFF is held (one bounded pause, not one per
    # frame nor one per XOFF byte), and after the XON the link behaves exactly as before:
    # an XOFF is honoured again and an XON releases the pending write at once.
    import time

    async def main():
        p = _AckingPeer(t_xoff_max_ms=150)
        await p.connect()
        stop = [False]

        async def hold():
            while not stop[0]:
                p.to_host.write(b"\x13")
                await asyncio.sleep_ms(10)

        h = asyncio.create_task(hold())
        await asyncio.sleep_ms(5)
        t0 = time.ticks_ms()
        n = 0
        while time.ticks_diff(time.ticks_ms(), t0) < 1200:
            await p.a.send(bytes([n & 0xFF, 0, 0, 5]))
            n += 1
            await asyncio.sleep_ms(20)
        stop[0] = True
        await h
        assert n >= 15, n  # it was about 7 (each frame waited the full 150 ms bound)
        gaps = [time.ticks_diff(b, a) for a, b in zip(p.sent_at, p.sent_at[1:])]
        assert max(gaps[1:]) < 150, gaps  # after the one bounded pause, no write waited
        assert p.a.c.get("xoff_expired") == 1
        p.to_host.write(b"\x11")  # XON: the peer's flow control is trusted again
        await settle()
        t1 = time.ticks_ms()
        for i in range(5):
            await p.a.send(bytes([i, 1, 0, 5]))
        assert time.ticks_diff(time.ticks_ms(), t1) < 140
        p.to_host.write(b"\x13")  # a real XOFF: honoured ...
        await settle()
        t = asyncio.create_task(p.a.send(b"\x09\x01\x00\x05"))
        await asyncio.sleep_ms(50)
        k = len(p.sent_at)
        assert not t.done()
        p.to_host.write(b"\x11")  # ... until its XON, which releases the write at once
        await t
        assert len(p.sent_at) == k + 1
        assert p.a.c.get("xoff_expired") == 1 and p.a.state == ash.ST_CONNECTED
        p.a.stop()

    fwtest.run(main())
