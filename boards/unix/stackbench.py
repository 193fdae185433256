# Zigbee stack benchmark on the unix port (run by host_tools.bench): frames per second through
# ASH + EZSP + ZCL for a received Read Attributes Response (decode) and a sendUnicast Read
# Attributes request (encode), and heap bytes allocated per received frame.
import gc
import struct
import sys
import time

from ihd.runtime import log
from ihd.zigbee import ash, ezsp, ncp
from ihd.zigbee.zcl import client as zc

log.set_level(log.ERROR)
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000


class _Null:
    def write(self, b):
        return len(b)

    async def drain(self):
        pass


def _incoming_v13(seq):
    # incomingMessageHandler (v13): ESME 0x1234 ep1 -> ep1, Metering Read Attributes Response
    # with CurrentSummationDelivered (uint48) and InstantaneousDemand (int24).
    zcl = (
        bytes((0x18, seq, 0x01))
        + struct.pack("<HBB", 0x0000, 0, 0x25)
        + (123456789).to_bytes(6, "little")
    )
    zcl += struct.pack("<HBB", 0x0400, 0, 0x2A) + (1234).to_bytes(3, "little")
    aps = struct.pack("<HHBBHHB", 0x0109, 0x0702, 1, 1, 0x0020, 0, seq)
    params = bytes((0,)) + aps + bytes((0xFF, 0xC4)) + struct.pack("<HBB", 0x1234, 0xFF, 0xFF)
    params += bytes((len(zcl),)) + zcl
    return bytes((seq, 0x90, 0x01)) + struct.pack("<H", 0x0045) + params


def main():
    a = ash.Ash(None, _Null())
    e = ezsp.Ezsp(a)
    e._set_version(13)
    e._extended = True  # as after version negotiation (bench skips the handshake)
    n = ncp.Ncp(e)
    z = zc.Zcl(n)
    n.messages.connect(z.handle_incoming)
    a.state = ash.ST_CONNECTED
    wires = [ash.encode(ash.data_ctrl(i, 0), _incoming_v13(i)) for i in range(8)]
    bufs = [(bytearray(w), len(w)) for w in wires]
    for i in range(16):  # warm per-length caches
        b, k = bufs[i & 7]
        a.feed(b, k)
    gc.collect()
    gc.disable()  # allocation per frame, measured over a burst that fits the heap
    m0 = gc.mem_alloc()
    for i in range(200):
        b, k = bufs[i & 7]
        a.feed(b, k)
    alloc = (gc.mem_alloc() - m0) // 200
    gc.enable()
    gc.collect()
    t0 = time.ticks_us()
    for i in range(N):
        b, k = bufs[i & 7]
        a.feed(b, k)
    dt_us = time.ticks_diff(time.ticks_us(), t0)
    rx = z.counters.get("rx_frames")
    from ihd.runtime import counters as C

    bad = [k for k, v in C.snapshot().items() if v and ("err" in k or "malformed" in k)]
    if bad:
        print("STACKBENCH errors:", bad)
    # encode: ZCL read request -> EZSP sendUnicast -> ASH wire frame
    raw = bytearray(ash.MAX_DATA * 2 + 8)
    t1 = time.ticks_us()
    for i in range(N):
        payload = z.build(0, 0, i & 0xFF, 0x00, b"\x00\x00\x00\x04")
        args = (0, 0x1234, 0x0109, 0x0702, 1, 1, 0x0160, 0, 0, i & 0xFF, payload)
        k = e.encode(i & 0xFF, "sendUnicast", args)
        ash.build_raw(raw, ash.data_ctrl(i & 7, 0), e.tx_buf, k)
    enc_us = time.ticks_diff(time.ticks_us(), t1)
    print(
        "STACKBENCH decode_fps=%d encode_fps=%d alloc_per_rx_frame=%d frames=%d zcl_rx=%d"
        % (N * 1000000 // dt_us, N * 1000000 // enc_us, alloc, N, rx)
    )


main()
