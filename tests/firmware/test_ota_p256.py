# fw: interp=unix64,unix32-frozen
# ECDSA P-256 verification on the device's interpreters (ihd.ota.p256): fixed vectors made once
# with `cryptography` (tests/host/test_p256_referee.py is the randomised referee) are accepted or
# refused; every step stays within p256.MAX_STEP_MULS field multiplications (counted by wrapping
# the module's point and pow functions) and a verification takes a fixed number of steps;
# verify_async lets another task run between its steps. No wall-clock assertions.
import asyncio
import hashlib
from binascii import unhexlify

import fwtest
from ihd.ota import p256

PORTABLE = True

# tests/ota_keys/ota-test-p256.pem and ota-other-p256.pem, SEC1 uncompressed
PUB = unhexlify(
    "04de3fb138a64d1ebf07d8ebb2299d321aecb5ec6a1d83eb9e2c4045882bcc1d84"
    "d5bedad107ffb9dcce2df65943e5da4772198fcce5be636827e464e4400b1616"
)
OTHER = unhexlify(
    "04b2ee46baf83e9a12f8256176f4405bb6ae7793099612a35d62f39308795bfcec"
    "2e6a7dea63acae03c9485b86f9e1e638c8a40b7861d898d66f6a44a893832c99"
)
PUB_KEY_ID = unhexlify("b3f7e4a3da959148")
MSG = b"ihd ota p256 test vector"
DIGEST = unhexlify("e247bae6f592753d7cb56076920c721c3dbc2c9ca36e058aba1ed8ae7bd139d8")
# cryptography's signature of MSG with the test key
R = unhexlify("1cb0dc92dc3116256efaddc608e76f1191418b4530a646a3739d91e4720d6775")
S = unhexlify("32e8d78a8ebc1cc8144b0fca2e60d156e1392b74d1fe0f329e31a70e7cc204e5")
N_BYTES = p256.N.to_bytes(32, "big")
# steps of a verification that runs to the end: 8 inverse slices, 1 + 1 table steps (4-point
# tables), 128 windows (2-bit) and the final comparison
STEPS = 139


def _flip(b, bit):
    b = bytearray(b)
    b[bit >> 3] ^= 1 << (bit & 7)
    return bytes(b)


def test_vector_accepted():
    assert hashlib.sha256(MSG).digest() == DIGEST
    q = p256.decode_point(PUB)
    assert p256.key_id(PUB) == PUB_KEY_ID
    assert p256.verify(q, DIGEST, R, S) is True
    assert p256.verify(q, DIGEST, int.from_bytes(R, "big"), int.from_bytes(S, "big")) is True


def test_vector_mutations_refused():
    q = p256.decode_point(PUB)
    for bit in (0, 7, 100, 255):
        assert p256.verify(q, _flip(DIGEST, bit), R, S) is False
        assert p256.verify(q, DIGEST, _flip(R, bit), S) is False
        assert p256.verify(q, DIGEST, R, _flip(S, bit)) is False
    assert p256.verify(p256.decode_point(OTHER), DIGEST, R, S) is False


def test_out_of_range_refused_at_once():
    q = p256.decode_point(PUB)
    n1 = (p256.N + 1).to_bytes(32, "big")
    for r, s in ((bytes(32), S), (R, bytes(32)), (N_BYTES, S), (R, N_BYTES), (R, n1),
                 (b"\xff" * 32, S)):  # fmt: skip
        v = p256.Verify(q, DIGEST, r, s)
        assert v.result is False and v.step() is False and v.steps == 0
    fwtest.raises(ValueError, p256.Verify, q, DIGEST, R[:31], S)
    fwtest.raises(ValueError, p256.Verify, q, DIGEST[:31], R, S)


def test_bad_points_raise():
    x, y = p256.decode_point(PUB)
    off = PUB[:64] + bytes((PUB[64] ^ 1,))
    p = p256.P.to_bytes(32, "big")
    for sec1 in (PUB[:64], PUB + b"\x00", b"\x02" + PUB[1:], off, b"\x04" + p + PUB[33:],
                 b"\x04" + PUB[1:33] + p, b"\x04" + bytes(64)):  # fmt: skip
        fwtest.raises(ValueError, p256.decode_point, sec1)
    # an unchecked tuple off the curve is refused by Verify itself
    assert p256.verify((x, (y + 1) % p256.P), DIGEST, R, S) is False


def test_mul_g():
    assert p256.mul_g(1) == (p256.GX, p256.GY)
    assert p256.mul_g(p256.N - 1) == (p256.GX, p256.P - p256.GY)
    x2, _ = p256.mul_g(2)
    assert x2 == 0x7CF27B188D034F7E8A52380304B51AC3C08969E277F21B35A60B48FC47669978


def _bits(e):
    # -> (bit length, set bits) without int.bit_length (MicroPython has none)
    n = k = 0
    while e:
        k += e & 1
        e >>= 1
        n += 1
    return n, k


class _Count:
    # Wraps p256's point functions and pow() to count field multiplications: a doubling or an
    # addition at its formula's cost (an addition that turns into a doubling counts both), a
    # pow() at square-and-multiply's (bit length - 1 squarings, set bits - 1 multiplications).
    def __enter__(self):
        self.muls = 0
        self.saved = (p256._dbl, p256._add, p256._pow)
        dbl, add, pw = self.saved

        def c_dbl(pt):
            self.muls += p256.DBL_MULS
            return dbl(pt)

        def c_add(a, b):
            self.muls += p256.ADD_MULS
            return add(a, b)

        def c_pow(b, e, m):
            n, k = _bits(e)
            self.muls += max(n - 1, 0) + max(k - 1, 0)
            return pw(b, e, m)

        p256._dbl, p256._add, p256._pow = c_dbl, c_add, c_pow
        return self

    def __exit__(self, *exc):
        p256._dbl, p256._add, p256._pow = self.saved
        return False


def _per_step(q, digest, r, s):
    # -> (result, steps, field multiplications of each step)
    v = p256.Verify(q, digest, r, s)
    costs = []
    with _Count() as c:
        while True:
            c.muls = 0
            res = v.step()
            costs.append(c.muls)
            if res is not None:
                break
    return res, v.steps, costs


def test_steps_bounded():
    q = p256.decode_point(PUB)
    for digest, ok in ((DIGEST, True), (_flip(DIGEST, 9), False)):
        res, steps, costs = _per_step(q, digest, R, S)
        assert res is ok
        assert steps == STEPS == len(costs), (steps, len(costs))
        assert max(costs) <= p256.MAX_STEP_MULS, max(costs)
        # the counting saw the work: 256 doublings + the tables', ~120 window additions
        assert sum(costs) > 256 * p256.DBL_MULS + 100 * p256.ADD_MULS, sum(costs)
        # the slices are even: no step is tiny next to the bound but the first and last
        assert min(costs[1:-1]) > 0


def test_result_sticks():
    v = p256.Verify(p256.decode_point(PUB), DIGEST, R, S)
    while v.step() is None:
        pass
    assert v.result is True
    steps = v.steps
    assert v.step() is True and v.step() is True and v.steps == steps


def test_verify_async_interleaves():
    q = p256.decode_point(PUB)
    ticks = [0]
    done = [False]

    async def ticker():
        while not done[0]:
            ticks[0] += 1
            await asyncio.sleep_ms(0)

    async def main():
        t = asyncio.create_task(ticker())
        await asyncio.sleep_ms(0)
        got = []
        for digest in (DIGEST, _flip(DIGEST, 200)):
            before = ticks[0]
            got.append(await p256.verify_async(q, digest, R, S))
            # the ticker ran once for every step the verification yielded after
            assert ticks[0] - before >= STEPS - 1, ticks[0] - before
        done[0] = True
        await t
        return got

    assert fwtest.run(main()) == [True, False]
