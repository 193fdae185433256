# ECDSA P-256 verification benchmark on the unix port (run by host_tools.bench_sig): a fixed valid
# OTA-style signature verified N times under asyncio, the steps driven as verify_async drives
# them, while a ticker task asks to run every 1 ms. One SIGBENCH line: wall time per verification,
# compute time (the steps alone), steps, longest step, the ticker's longest stall (how late it
# woke past its 1 ms). `alloc` instead prints the heap bytes one verification allocates (gc
# disabled, so the heap must hold them all: ~1.5 MB).
# Usage: micropython sigbench.py [N] | micropython sigbench.py alloc
import asyncio
import gc
import sys
import time
from binascii import unhexlify

from ihd.ota import p256

ARG = sys.argv[1] if len(sys.argv) > 1 else "10"

# tests/ota_keys/ota-test-p256.pem's public key and its signature of SHA-256(MSG), made once with
# `cryptography` (the same vector as tests/firmware/test_ota_p256.py)
PUB = unhexlify(
    "04de3fb138a64d1ebf07d8ebb2299d321aecb5ec6a1d83eb9e2c4045882bcc1d84"
    "d5bedad107ffb9dcce2df65943e5da4772198fcce5be636827e464e4400b1616"
)
MSG = b"ihd ota p256 test vector"
R = unhexlify("1cb0dc92dc3116256efaddc608e76f1191418b4530a646a3739d91e4720d6775")
S = unhexlify("32e8d78a8ebc1cc8144b0fca2e60d156e1392b74d1fe0f329e31a70e7cc204e5")


class Ticker:
    # Sleeps 1 ms at a time; records how late it woke (the event loop's stall).
    def __init__(self):
        self.stop = False
        self.ticks = 0
        self.max_late_us = 0

    async def run(self):
        while not self.stop:
            t0 = time.ticks_us()
            await asyncio.sleep_ms(1)
            late = time.ticks_diff(time.ticks_us(), t0) - 1000
            if late > self.max_late_us:
                self.max_late_us = late
            self.ticks += 1


async def one(q, digest):
    # -> (ok, wall us, compute us, steps, longest step us), stepping like p256.verify_async
    t0 = time.ticks_us()
    v = p256.Verify(q, digest, R, S)
    busy = longest = 0
    while True:
        s0 = time.ticks_us()
        res = v.step()
        dt = time.ticks_diff(time.ticks_us(), s0)
        busy += dt
        if dt > longest:
            longest = dt
        if res is not None:
            break
        await asyncio.sleep_ms(0)
    return res, time.ticks_diff(time.ticks_us(), t0), busy, v.steps, longest


async def bench(n):
    import hashlib

    q = p256.decode_point(PUB)
    digest = hashlib.sha256(MSG).digest()
    assert await p256.verify_async(q, digest, R, S)  # warm-up (and the API under test)
    tk = Ticker()
    task = asyncio.create_task(tk.run())
    await asyncio.sleep_ms(5)
    tk.max_late_us = 0
    wall = busy = longest = steps = 0
    for _ in range(n):
        ok, w, b, steps, lo = await one(q, digest)
        assert ok
        wall += w
        busy += b
        longest = max(longest, lo)
    tk.stop = True
    await task
    return wall, busy, steps, longest, tk


def alloc():
    import hashlib

    q = p256.decode_point(PUB)
    digest = hashlib.sha256(MSG).digest()
    assert p256.verify(q, digest, R, S)  # warm-up
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    assert p256.verify(q, digest, R, S)
    used = gc.mem_alloc() - m0
    gc.enable()
    print("SIGALLOC %d" % used)


def main(n):
    wall, busy, steps, longest, tk = asyncio.run(bench(n))
    print(
        "SIGBENCH %.1f ms per verification (%.1f ms in steps), %d steps, longest step %.2f ms, "
        "longest ticker stall %.2f ms (%d verifications)"
        % (wall / n / 1000, busy / n / 1000, steps, longest / 1000, tk.max_late_us / 1000, n)
    )


if ARG == "alloc":
    alloc()
else:
    main(int(ARG))
