# fw: interp=unix64,unix32-frozen heapsize=512K
# The receive path allocates nothing per frame (docs/zigbee.md "Receive path"): real ASH DATA
# frames carrying incomingMessageHandler callbacks go through the real Ash -> Ezsp -> Ncp -> Zcl
# objects (v13 and v14 layouts). After a warm-up, micropython.heap_lock() covers feeding:
# Read Attributes Responses to pending requests (uint48 CurrentSummationDelivered above 2**30 +
# int24 InstantaneousDemand), Report Attributes with the same records, a report with a wrong
# type, a report for a cluster nobody handles, an unmatched response, and malformed frames (ZCL
# too short, reserved frame type, EZSP message past the end). Their log lines are rate-limited:
# logged in the warm-up, only counted under the lock. gc.mem_alloc() deltas (gc disabled) give
# the same answer as a number. On CPython only the decoded values are checked.
import asyncio
import struct
from array import array

import fwtest
from ashfakes import FakeNcp, settle
from ihd.zigbee import ash, ezsp, ncp
from ihd.zigbee.zcl import client as ZC
from ihd.zigbee.zcl import clusters as CL
from ihd.zigbee.zcl import foundation as F

PORTABLE = True

METER = 0x1234
SUMM = 0x123456789ABC  # uint48, far above a 32-bit small int (2**30)
DEMAND = -1500  # int24 W, exporting
IDS = (0x0000, 0x0400)
N_READS = 5  # concurrent pending requests (pool of 6)
N_REPORTS = 8
_BIG = 1 << 24


class _NullStream:
    def write(self, b):
        pass

    async def drain(self):
        pass

    async def readinto(self, b):
        await asyncio.sleep(3600)


def _records(summ, demand, summ_type=0x25, status=False):
    # (attr, [status,] type, value) for 0x0000 uint48 and 0x0400 int24
    st = b"\x00" if status else b""
    s = struct.pack("<H", 0x0000) + st + bytes((summ_type,))
    s += (summ & 0xFFFFFFFFFFFF).to_bytes(6 if summ_type == 0x25 else 4, "little")
    s += struct.pack("<H", 0x0400) + st + b"\x2a" + (demand & 0xFFFFFF).to_bytes(3, "little")
    return s


def read_rsp(tsn, summ, demand):
    return bytes((0x18, tsn, F.READ_ATTRIBUTES_RSP)) + _records(summ, demand, status=True)


def report(tsn, summ, demand, summ_type=0x25):
    # server -> client, disable default response (as meters and hansim send them)
    return bytes((0x18, tsn, F.REPORT_ATTRIBUTES)) + _records(summ, demand, summ_type)


class Stack:
    def __init__(self, version):
        self.a = ash.Ash(_NullStream(), _NullStream())
        self.a.state = ash.ST_CONNECTED  # as after RST/RSTACK
        self.e = ezsp.Ezsp(self.a)
        self.set_version(version)
        self.n = ncp.Ncp(self.e)
        self.z = ZC.Zcl(self.n)
        self.n.messages.connect(self.z.handle_incoming)
        # Rejects are logged once per 5 s: pin the period so a slow run cannot log (allocate)
        # again inside the locked section.
        self.e._lim.period_ms = self.z._lim.period_ms = 1 << 28

        async def sent(*args, **kw):  # the transmit path is not under test
            return 0

        self.n.send_unicast = sent
        self.frm = 0
        self.got = array("i", [0] * 8)  # report consumer: hi, lo, demand, calls, bad type seen
        self.z.on_report_records(CL.METERING, self._on_records)

    def set_version(self, version):
        # As after negotiate() (one stack for both layouts: the 64-bit port compiles the sources
        # into the same 256 KB heap).
        self.fake = FakeNcp(version)  # only its EZSP callback builder is used
        self.e._set_version(version)
        self.e._extended = True

    def _on_records(self, f, rec):
        # A consumer that allocates nothing: limbs of the uint48, value() of the int24.
        g = self.got
        i = rec.find(0x0000)
        if i >= 0 and rec.ok(i):
            g[0] = rec.hi[i]
            g[1] = rec.lo[i]
        elif i >= 0:
            g[4] += 1
        j = rec.find(0x0400)
        if j >= 0 and rec.ok(j):
            g[2] = rec.value(j)
        g[3] += 1

    def ezsp_msg(self, zcl, cluster=CL.METERING, sender=METER):
        return self.fake.incoming(sender, cluster, zcl)

    def wire(self, ezsp_frame):
        # One in-sequence ASH DATA frame (frame numbers in the order the wires are fed).
        w = ash.encode(ash.data_ctrl(self.frm, 0), ezsp_frame)
        self.frm = (self.frm + 1) & 7
        return w

    def feed(self, wires):
        for w in wires:
            self.a.feed(w, len(w))

    def errors(self):
        # Anything that would show a MemoryError (or any exception) on the way up.
        return (self.a.c.get("deliver_errors"), self.e.c.get("malformed"),
                self.e.c.get("handler_errors"), self.n.c.get("rx_errors"),
                self.z.counters.get("internal_errors"),
                self.z.counters.get("handler_errors"))  # fmt: skip


async def _reader(z, out, k):
    # Reads its records before its next await (their lifetime rule).
    rec = await z.read_records(METER, 1, CL.METERING, IDS, timeout_ms=5000, retries=0)
    if rec is None:
        out[k] = None
        return
    i, j = rec.find(0x0000), rec.find(0x0400)
    out[k] = (rec.hi[i], rec.lo[i], rec.value(j), rec.n)


def _measure():
    if not fwtest.IS_UPY:
        return None
    import gc

    return gc.mem_alloc()


async def _round(st, locked, extra):
    # N_READS pending requests, then one burst of frames (the responses, then rejects and
    # reports that must not overwrite them), then the requesters read their own answers.
    z = st.z
    out = [None] * N_READS
    tasks = [asyncio.create_task(_reader(z, out, k)) for k in range(N_READS)]
    await settle()
    slots = [p for p in z._pool if p.busy]
    assert len(slots) == N_READS
    wires = []
    for p in slots:
        wires.append(st.wire(st.ezsp_msg(read_rsp(p.tsn, SUMM + p.tsn, DEMAND - p.tsn))))
    wires += [st.wire(m) for m in extra]
    for k in range(N_REPORTS):
        wires.append(st.wire(st.ezsp_msg(report(k, SUMM + 1000 + k, DEMAND + k))))
    if fwtest.IS_UPY:
        import gc

        gc.collect()
        gc.disable()
    lock = fwtest.HeapLocked()  # (made before measuring: the object itself is 16/32 B)
    before = _measure()
    if locked:
        with lock:
            st.feed(wires)
    else:
        st.feed(wires)
    delta = None if before is None else _measure() - before
    if fwtest.IS_UPY:
        import gc

        gc.enable()
    # A MemoryError under the lock ends up caught on the way up (ultimately by Ash, counted as
    # deliver_errors): any of these counters moving means something allocated.
    assert st.errors() == (0, 0, 0, 0, 0, 0), "errors while feeding %r" % (st.errors(),)
    for t in tasks:
        await t
    want = {}
    for p in slots:
        s, d = SUMM + p.tsn, DEMAND - p.tsn
        want[(s >> 24, s & 0xFFFFFF, d, 2)] = 1
    assert sorted(out) == sorted(want), (out, want)
    g = st.got
    s = SUMM + 1000 + N_REPORTS - 1
    assert (g[0], g[1], g[2]) == (s >> 24, s & 0xFFFFFF, DEMAND + N_REPORTS - 1)
    assert z.pending() == 0
    return delta, len(wires)


def _extra(st):
    # Frames that are rejected or ignored (each counted), same set every round.
    v14 = st.fake.version >= 14
    trunc = st.ezsp_msg(report(9, SUMM, DEMAND))
    trunc = trunc[: len(trunc) - (3 if v14 else 2)]  # message length runs past the end
    return [
        st.ezsp_msg(report(7, 1, 2, summ_type=0x23)),  # uint32 where uint48 is declared
        st.ezsp_msg(report(8, 5, 6)[:3] + struct.pack("<HBH", 0x0505, 0x21, 230), cluster=0x0B04),
        st.ezsp_msg(read_rsp(0x99, 1, 2)),  # nobody asked: unmatched
        st.ezsp_msg(b"\x18\x01"),  # shorter than a ZCL header
        st.ezsp_msg(b"\x1b\x02\x0a"),  # reserved frame type
        trunc,
    ]


def _counts(st):
    z, e = st.z.counters, st.e.c
    return (z.get("rx_bad_type"), z.get("rx_unmatched"), z.get("rx_short"),
            z.get("rx_malformed"), e.get("truncated"), st.got[4], st.got[3])  # fmt: skip


def test_receive_path_allocates_nothing_per_frame():
    async def main():
        st = Stack(13)
        for version in (13, 14):
            st.set_version(version)
            extra = _extra(st)
            for _ in range(3):  # warm-up: views per length, first log lines, task machinery
                await _round(st, False, extra)
            # gc.mem_alloc() with gc disabled, heap unlocked (heap_lock would turn an allocation
            # into a MemoryError, caught and counted on the way up, and hide how much it was)
            for _ in range(2):
                delta, n = await _round(st, False, extra)
                if delta is not None:
                    assert delta == 0, "v%d: %d B allocated over %d frames" % (version, delta, n)
            c0 = _counts(st)
            frames = 0
            for _ in range(4):
                _, n = await _round(st, True, extra)
                frames += n
            c1 = _counts(st)
            # per locked round: 1 bad type, 1 unmatched, 1 short, 1 reserved type, 1 truncated,
            # the bad-type record seen by the consumer, N_REPORTS + 1 reports handled
            assert [b - a for a, b in zip(c0, c1)] == [4, 4, 4, 4, 4, 4, 4 * (N_REPORTS + 1)]
            assert st.errors() == (0, 0, 0, 0, 0, 0), st.errors()
            assert st.z.counters.get("rx_oversize") == 0 and st.z.counters.get("pool_waits") == 0
            if fwtest.IS_UPY:
                print("v%d: %d frames, 0 B allocated under heap_lock" % (version, frames))

    fwtest.run(main())


def test_records_consumer_reads_values_without_allocating():
    # The limbs and value() of decoded records, read under the lock (32-bit: 2**30 small ints).
    rec = F.Records()
    body = _records(SUMM, DEMAND, status=True)
    assert F.decode_read_attributes_response_into(rec, memoryview(body))
    out = array("i", [0] * 4)
    with fwtest.HeapLocked():
        i = rec.find(0x0000)
        j = rec.find(0x0400)
        out[0] = rec.hi[i]
        out[1] = rec.lo[i]
        out[2] = rec.value(j)
        out[3] = rec.ok(i) and rec.ok(j)
    assert out[0] * _BIG + out[1] == SUMM and out[2] == DEMAND and out[3]
    assert rec.value(i) == SUMM  # allocates a long int on a 32-bit port


def test_legacy_report_and_read_paths_still_work():
    # on_report(cluster, fn(frame, attr_id, value)) and read_attributes() -> dict keep working
    # (they allocate the values / the dict; the limbs above are the zero-allocation form).
    async def main():
        st = Stack(14)
        got = []
        st.z.on_report(CL.METERING, lambda f, a, v: got.append((f.node, a, v)))
        task = asyncio.create_task(st.z.read_attributes(METER, 1, CL.METERING, IDS))
        await settle()
        p = [p for p in st.z._pool if p.busy][0]
        st.feed([st.wire(st.ezsp_msg(read_rsp(p.tsn, SUMM, DEMAND))),
                 st.wire(st.ezsp_msg(report(3, SUMM + 1, DEMAND + 1)))])  # fmt: skip
        assert await task == {0x0000: SUMM, 0x0400: DEMAND}
        assert got == [(METER, 0x0000, SUMM + 1), (METER, 0x0400, DEMAND + 1)]

    fwtest.run(main())
