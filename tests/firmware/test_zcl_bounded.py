# fw: interp=unix32-frozen
# Bounded decoding (types.py "Bounded decoding"): no received frame costs more than a little
# time or memory, whoever sent it. The known attack frames (an array of 65,534 "no data"
# elements in 9 bytes, 24 of them in one frame, nested arrays, long strings and structs with
# huge counts) and a few thousand deterministic mutations of valid frames (bit flips, bytes
# inserted / deleted, length fields set to 0xFF / 0xFFFF, type ids swapped, splices) go through
# the full receive path, Zcl._incoming (fake NCP; report, command and attribute handlers that
# use what they get; a pending read answered by some), and through the foundation decoders
# (zero-allocation Records, value() of every record, the generator codecs). For each frame: no
# exception escapes, at most MAX_BYTES allocated (gc.mem_alloc() deltas, gc disabled) and at
# most MAX_US spent (time.ticks_us). The worst case of each path is printed (time, bytes, frame).
# On the 32-bit build with the firmware frozen in: the one that measures like a board.
import asyncio
import gc
import time

import fwtest
from ihd.runtime import log
from ihd.zigbee.zcl import client as ZC
from ihd.zigbee.zcl import clusters as CL
from ihd.zigbee.zcl import foundation as F
from ihd.zigbee.zcl import frame as FR
from ihd.zigbee.zcl import types as T

H = bytes.fromhex
METER = 0x1234
MUTANTS = 5000
# Bounds per frame, whatever it holds (the typical is far lower: see the printed worst cases)
MAX_BYTES = 2048  # the receive path (a reply sent included) and Records + value() of each
MAX_BYTES_GEN = 4096  # the generator codecs: a tuple (32 B) per record, up to 84 per frame
MAX_US = 50000  # generous: a board is some 10x slower than this host

# The review's frames: each decoded into a 65,534-element tuple (2.3 s, a 512 KB allocation).
ATTACK_9 = H("18010a00004800feff")  # Report Attributes {0x0000: array of 65,534 "no data"}
ARR0 = H("00feff")  # the array's body: "no data" x 65,534
ATTACKS = (
    ("9-byte array", ATTACK_9, CL.METERING),
    ("unknown attr", H("18010acdab4800feff"), CL.METERING),
    # 24 such arrays as the elements of one array (81 B), and as a matched read response (82 B)
    ("24 arrays in one", H("18020acdab48481800") + ARR0 * 24, CL.METERING),
    ("24 arrays read rsp", H("18030100010048481800") + ARR0 * 24, CL.METERING),
    # 24 records of one such array each (147 B)
    (
        "24 records",
        H("18040a") + b"".join(bytes((i, 1, 0x48)) + ARR0 for i in range(24)),
        CL.METERING,
    ),
    ("set / bag", H("18050acdab5000feffcdab5100feff"), CL.METERING),
    ("struct of arrays", H("18060acdab4c1800") + (H("48") + ARR0) * 24, CL.METERING),
    ("nested 3", H("18070acdab48480100480100480100200100ff"), CL.METERING),
    ("nested 80", H("18080acdab48") + H("480100") * 80 + H("200000"), CL.METERING),
    ("struct huge count", H("18090acdab4cfeff") + H("2001") * 30, CL.METERING),
    ("struct of empties", H("180a0acdab4c2000") + H("00") * 32, CL.METERING),  # at the cap
    ("array huge u64", H("180b0acdab4827feff") + bytes(64), CL.METERING),
    ("array of lstr", H("180c0acdab4844feff") + H("feff") * 30, CL.METERING),
    ("long octstr", H("180d0acdab43feff") + b"x" * 200, CL.METERING),
    ("long charstr", H("180e0acdab44fe7f") + b"x" * 200, CL.METERING),
    ("max elements", H("180f0acdab48202000") + bytes(32), CL.METERING),  # at the cap
    (
        "frame budget",
        H("18100acdab48202000") + bytes(32) + H("cdac4c0100") + H("20ff"),
        CL.METERING,
    ),
    ("write basic", H("001002") + H("1000 48 00feff".replace(" ", "")) * 8, CL.BASIC),
    ("cos strings", H("0911 01") + bytes(21) + H("fe") + b"x" * 40, CL.DEVICE_MGMT),
)

# Valid frames the device receives (the mutation seeds).
SEEDS = (
    # Report Attributes: uint48 CurrentSummationDelivered + int24 InstantaneousDemand
    (H("18200a0000 25bc9a785634120004 2a1cfaff".replace(" ", "")), CL.METERING),
    # Read Attributes Response (answers the pending read): uint48, int24, a failed record
    (H("182101 000000 25bc9a78563412 000400 2a1cfaff 010486".replace(" ", "")), CL.METERING),
    # reports with the types an attack would use: array, struct, set, strings, floats, time
    (
        H("18220a cdab 48 21 0300 010002000300 cdac 4c 0200 2005 4203 616263".replace(" ", "")),
        CL.METERING,
    ),
    (
        H("18230a cdab 50 20 0200 0102 cdac 43 0400 61626364 cdad 39 0000c03f".replace(" ", "")),
        CL.METERING,
    ),
    (
        H("18240a cdab 44 0300 616263 cdac e0 0d2d1e63 cdad f0 0102030405060708".replace(" ", "")),
        CL.METERING,
    ),
    # prepayment report: credit remaining int32, credit status bitmap8
    (H("18250a 0100 2b 40558001 0300 18 01".replace(" ", "")), CL.PREPAYMENT),
    # PublishChangeOfTenancy (GBCS GCS09) and PublishChangeOfSupplier (strings)
    (H("09000000000000804a371c00206ec61f00020000"), CL.DEVICE_MGMT),
    (
        H("0926 01 00000000 11223344 00 804a371c 206ec61f 00020000".replace(" ", ""))
        + H("044e657743")
        + H("03303132"),
        CL.DEVICE_MGMT,
    ),
    # OTA ImageNotify (payload type 3) and a consumer top-up response
    (H("0927 00 03 64 3412 0100 05000000".replace(" ", "")), CL.OTA),
    (H("0928 03 00d012130000c0aa7f01".replace(" ", "")), CL.PREPAYMENT),
    # our Basic attributes: read, write (a string), discover; a Default Response
    (H("0029 00 0000 0500 1000".replace(" ", "")), CL.BASIC),
    (H("002a 02 1000 42 0458595a21".replace(" ", "")), CL.BASIC),
    (H("002b 0c 0000 10".replace(" ", "")), CL.BASIC),
    (H("182c0b0a00"), CL.METERING),
    # many records: a 255-byte write that all fails, a read of 126 ids
    (H("002d02") + b"".join(bytes((i + 0x20, 0, 0x20, 7)) for i in range(63)), CL.BASIC),
    (H("002e00") + bytes(252), CL.BASIC),
)
_TYPES = (0x00, 0x41, 0x42, 0x43, 0x44, 0x48, 0x4C, 0x50, 0x51, 0x20, 0x25, 0x2A, 0xE0, 0xF1)
_CLUSTERS = (CL.METERING, CL.PREPAYMENT, CL.DEVICE_MGMT, CL.OTA, CL.BASIC, CL.PRICE, CL.TIME)


class _Rand:
    # Deterministic PRNG (the same frames on every run and interpreter).
    def __init__(self, seed):
        self.x = seed

    def below(self, n):
        self.x = (self.x * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.x >> 8) % n


def mutate(r, data):
    b = bytes(data)
    for _ in range(1 + r.below(3)):
        op = r.below(8)
        n = len(b)
        i = r.below(n) if n else 0
        if op == 0 and n:  # bit flip
            b = b[:i] + bytes((b[i] ^ 1 << r.below(8),)) + b[i + 1 :]
        elif op == 1:  # insert a byte
            b = b[:i] + bytes((r.below(256),)) + b[i:]
        elif op == 2 and n:  # delete bytes
            b = b[:i] + b[i + 1 + r.below(3) :]
        elif op == 3 and n:  # a length / count field: 0xFF or 0xFFFF (or 0xFFFE, 0xFE, 0x00)
            v = bytes(((0xFF, 0xFE, 0xFF, 0x00)[r.below(4)],))
            if i + 1 < n and r.below(2):
                v += b"\xff"
            b = b[:i] + v + b[i + len(v) :]
        elif op == 4 and n:  # a type id swapped for another
            b = b[:i] + bytes((_TYPES[r.below(len(_TYPES))],)) + b[i + 1 :]
        elif op == 5 and n:  # a random byte
            b = b[:i] + bytes((r.below(256),)) + b[i + 1 :]
        elif op == 6:  # an attack fragment spliced in
            b = b[:i] + (ARR0, H("48"), H("4c"), H("feff"), H("4848ff"))[r.below(5)] + b[i:]
        elif op == 7 and n:  # a chunk repeated (grows counts' worth of bytes)
            j = min(n, i + 1 + r.below(8))
            b = b[:j] + b[i:j] * (1 + r.below(4)) + b[j:]
    return b[: 255 + r.below(8)]


class Msg:
    def __init__(self, data, cluster, sender=METER):
        self.msg_type = 0
        self.sender = sender
        self.sender_eui64 = None
        self.profile_id = 0x0109
        self.cluster_id = cluster
        self.src_ep = 1
        self.dst_ep = 1
        self.aps_options = 0x0020
        self.secured = True
        self.lqi = 255
        self.rssi = -40
        self.payload = memoryview(data)


class FakeNcp:
    def __init__(self):
        self.sent = 0

    async def send_unicast(self, node_id, cluster_id, src_ep, dst_ep, payload, profile_id=0x0109):
        self.sent += 1
        return 0


def _consume(v):
    # What a handler does with a value: looks inside it.
    if isinstance(v, tuple):
        n = 0
        for x in v:
            n += _consume(x)
        return n + 1
    return 1


def stack():
    ncp = FakeNcp()
    z = ZC.Zcl(ncp, local_ep=1)
    z._lim.period_ms = 1 << 28  # each log kind once (a log line allocates)
    seen = [0]

    def on_value(f, a, v):
        seen[0] += _consume(v)

    def on_records(f, rec):
        for i in range(rec.n):
            if rec.ok(i):
                seen[0] += _consume(rec.value(i))

    def on_args(f, args):
        for k in args:
            seen[0] += _consume(args[k])

    z.on_report(CL.METERING, on_value)
    z.on_report_records(CL.METERING, on_records)
    z.on_report(CL.PREPAYMENT, on_value)
    for cl, cmd in ((CL.DEVICE_MGMT, CL.DM_PUBLISH_COT), (CL.DEVICE_MGMT, CL.DM_PUBLISH_COS),
                    (CL.OTA, CL.OTA_IMAGE_NOTIFY), (CL.PREPAYMENT, CL.PP_CONSUMER_TOP_UP_RSP),
                    (CL.PRICE, CL.PRICE_PUBLISH_PRICE)):  # fmt: skip
        z.on_command(cl, cmd, CL.S2C, on_args)
    z.local_cluster(CL.BASIC, ((0x0000, T.UINT8, 3, False), (0x0005, T.CHARSTR, "PPMID", False),
                               (0x0010, T.CHARSTR, "Hall", True)))  # fmt: skip
    # one pending Read Attributes, armed per frame with that frame's TSN
    p = ZC._Pending(z._rx_max, z._max_records)
    p.busy = True
    z._pool.append(p)
    return ncp, z, p


class Worst:
    def __init__(self, name, max_bytes=MAX_BYTES):
        self.name = name
        self.max_bytes = max_bytes
        self.us = self.bytes = -1
        self.us_frame = self.bytes_frame = b""
        self.n = 0
        self.total_us = 0

    def add(self, us, nbytes, data):
        self.n += 1
        self.total_us += us
        if us > self.us:
            self.us, self.us_frame = us, data
        if nbytes > self.bytes:
            self.bytes, self.bytes_frame = nbytes, data
        assert us < MAX_US, "%s: %d us for %s" % (self.name, us, data.hex())
        assert nbytes <= self.max_bytes, "%s: %d B for %s" % (self.name, nbytes, data.hex())

    def show(self):
        print("%s: %d frames, mean %d us; worst %d us (%s), worst %d B (%s)" % (
            self.name, self.n, self.total_us // max(self.n, 1), self.us, self.us_frame.hex(),
            self.bytes, self.bytes_frame.hex()))  # fmt: skip


def _frames():
    # (name, data, cluster): the attacks, the seeds, then the mutants
    for name, data, cl in ATTACKS:
        yield name, data, cl
    for data, cl in SEEDS:
        yield "seed", data, cl
    r = _Rand(20260115)
    for k in range(MUTANTS):
        data, cl = SEEDS[r.below(len(SEEDS))]
        if r.below(4) == 0:
            data = ATTACKS[r.below(len(ATTACKS))][1]
        m = mutate(r, data)
        if r.below(10) == 0:
            cl = _CLUSTERS[r.below(len(_CLUSTERS))]
        yield "mutant %d" % k, m, cl


_hdr = FR.Header()


def _arm(p, data, cl):
    # The pending read answers a frame with this TSN (if it is a Read Attributes Response).
    p.rsp = None
    p.ev.clear()
    tsn = _hdr.tsn if _hdr.read(data) >= 0 else 0
    p.arm(METER, cl, tsn, FR.C2S, F.READ_ATTRIBUTES, FR.GLOBAL, F.READ_ATTRIBUTES_RSP)


_rec = F.Records()


def _records_into(into):
    def run(payload):
        into(_rec, payload)
        for i in range(_rec.n):
            if _rec.ok(i):
                _consume(_rec.value(i))

    return run


def _generator(gen):
    def run(payload):
        try:
            for r in gen(payload):
                _consume(r[-1])
        except T.DecodeError:
            pass

    return run


# The foundation decoders on a frame's payload (after a 3-byte header), each as a consumer
# uses it: the Records (then value() of every record), the generator codecs.
DECODERS = (
    (False, _records_into(F.decode_attribute_records_into)),
    (False, _records_into(F.decode_read_attributes_response_into)),
    (True, _generator(F.iter_attribute_records)),
    (True, _generator(F.iter_read_attributes_response)),
)


async def _run():
    ncp, z, p = stack()
    attacks = Worst("attack frames, Zcl._incoming")
    rx = Worst("other frames, Zcl._incoming")
    dec = Worst("Records + value()")
    gen = Worst("generator codecs", MAX_BYTES_GEN)
    errors = 0
    was_console = log.console
    log.console = False  # the first line of each log kind is still formatted (and counted)
    # Warm-up, not measured: what is allocated once and kept (the first line of each log
    # kind, the scratch Records for a report of more than 16 records, a payload view per
    # length) is not a cost per frame.
    warm = [(d, c) for _, d, c in ATTACKS] + list(SEEDS)
    warm.append((H("18ff0a") + b"".join(bytes((i, 5, 0x20, i)) for i in range(20)), CL.METERING))
    for data, cl in warm:
        _arm(p, data, cl)
        z._incoming(Msg(data, cl))
    try:
        for k, (_, data, cl) in enumerate(_frames()):
            _arm(p, data, cl)
            msg = Msg(data, cl)
            gc.collect()
            gc.disable()
            m0 = gc.mem_alloc()
            t0 = time.ticks_us()
            z._incoming(msg)  # the full receive path; an exception here fails the test
            us = time.ticks_diff(time.ticks_us(), t0)
            nbytes = gc.mem_alloc() - m0
            gc.enable()
            (attacks if k < len(ATTACKS) else rx).add(us, nbytes, data)
            payload = memoryview(data)[3:]
            for is_gen, run in DECODERS:
                gc.collect()
                gc.disable()
                m0 = gc.mem_alloc()
                t0 = time.ticks_us()
                run(payload)
                us = time.ticks_diff(time.ticks_us(), t0)
                nbytes = gc.mem_alloc() - m0
                gc.enable()
                (gen if is_gen else dec).add(us, nbytes, data)
            if k % 16 == 15:  # let the Default Responses go out
                for _ in range(4):
                    await asyncio.sleep_ms(0)
        for _ in range(8):
            await asyncio.sleep_ms(0)
        errors = z.counters.get("internal_errors") + z.counters.get("handler_errors")
    finally:
        log.console = was_console
        gc.enable()
    for w in (attacks, rx, dec, gen):
        w.show()
    c = z.counters
    print("rx_frames %d, rx_malformed %d, rx_short %d, rx_oversize %d, dr_sent %d, sent %d" % (
        c.get("rx_frames"), c.get("rx_malformed"), c.get("rx_short"), c.get("rx_oversize"),
        c.get("dr_sent"), ncp.sent))  # fmt: skip
    assert errors == 0, errors
    assert c.get("rx_frames") == len(warm) + len(ATTACKS) + len(SEEDS) + MUTANTS
    return z


def test_attack_frames_are_malformed_and_the_seeds_are_not():
    async def main():
        ncp, z, p = stack()
        for data, cl in SEEDS:
            _arm(p, data, cl)
            z._incoming(Msg(data, cl))
        c = z.counters
        assert c.get("rx_malformed") == c.get("rx_unsup_cmd") == c.get("rx_bad_type") == 0
        for name, data, cl in ATTACKS:
            _arm(p, data, cl)
            before = z.counters.get("rx_malformed")
            z._incoming(Msg(data, cl))
            if name in ("max elements", "struct of empties"):  # within the limits: decoded
                assert z.counters.get("rx_malformed") == before, name
                continue
            if name == "24 arrays read rsp":
                assert p.rsp is not None and p.rsp.records.error == "zero-length element type"
            assert z.counters.get("rx_malformed") == before + 1, name
        await asyncio.sleep_ms(0)
        assert z.counters.get("internal_errors") == 0

    fwtest.run(main())


def test_fuzzed_frames_cost_bounded_time_and_memory():
    fwtest.run(_run())
