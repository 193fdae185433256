# Referee: the firmware's ECDSA P-256 / SHA-256 verifier (ihd.ota.p256) against the
# `cryptography` package. Ours accepts what cryptography signs (random keys and messages, the
# committed test key) and refuses every mutation (a flipped bit in the message, r or s, a
# truncated message, another key, r or s out of range); decode_point refuses points off the
# curve; cryptography accepts what a test-side signer built on p256.mul_g signs.
import asyncio
import hashlib
import os
import random

import pytest

from host_tools import paths, upy_shim

upy_shim.install()

from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import (  # noqa: E402
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from ihd.ota import p256  # noqa: E402

N = p256.N
KEYS = os.path.join(paths.TESTS, "ota_keys")
SETTINGS = settings(max_examples=60, deadline=None)


def _load(name):
    with open(os.path.join(KEYS, name), "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


TEST_KEY = _load("ota-test-p256.pem")
OTHER_KEY = _load("ota-other-p256.pem")


def _sec1(key):
    return key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _xy(key):
    pub = key.public_key().public_numbers()
    return pub.x, pub.y


def _sign(key, msg):
    # -> (r, s) as 32-byte big-endian, as an OTA image would carry them
    r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big"), s.to_bytes(32, "big")


def _ours(key, msg, r, s):
    return p256.verify(p256.decode_point(_sec1(key)), hashlib.sha256(msg).digest(), r, s)


def _referee(pub, digest, r, s):
    # cryptography's verdict on (r, s) over a prehashed digest; pub is a public key or d
    if isinstance(pub, int):
        pub = ec.derive_private_key(pub, ec.SECP256R1()).public_key()
    try:
        pub.verify(encode_dss_signature(r, s), digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    except InvalidSignature:
        return False
    return True


def _flip(b, bit):
    b = bytearray(b)
    b[bit >> 3] ^= 1 << (bit & 7)
    return bytes(b)


keys = st.integers(min_value=1, max_value=N - 1).map(
    lambda d: ec.derive_private_key(d, ec.SECP256R1())
)
messages = st.binary(min_size=1, max_size=200)


def test_curve_constants_match_cryptography():
    pub = ec.derive_private_key(1, ec.SECP256R1()).public_key().public_numbers()
    assert (pub.x, pub.y) == (p256.GX, p256.GY) == p256.mul_g(1)
    assert p256.decode_point(_sec1(TEST_KEY)) == _xy(TEST_KEY)


def test_key_id():
    sec1 = _sec1(TEST_KEY)
    assert p256.key_id(sec1) == hashlib.sha256(sec1).digest()[:8]
    assert p256.key_id(bytearray(sec1)) == p256.key_id(sec1)
    with pytest.raises(ValueError):
        p256.key_id(sec1[:64])


@SETTINGS
@given(keys, messages)
def test_accepts_cryptography_signatures_random_keys(key, msg):
    r, s = _sign(key, msg)
    assert _ours(key, msg, r, s)


@SETTINGS
@given(messages, st.data())
def test_test_key_accepts_and_refuses_mutations(msg, data):
    r, s = _sign(TEST_KEY, msg)
    assert _ours(TEST_KEY, msg, r, s)
    bit = data.draw(st.integers(min_value=0, max_value=len(msg) * 8 - 1), label="msg bit")
    assert not _ours(TEST_KEY, _flip(msg, bit), r, s)
    assert not _ours(TEST_KEY, msg[:-1], r, s)
    rbit = data.draw(st.integers(min_value=0, max_value=255), label="r bit")
    assert not _ours(TEST_KEY, msg, _flip(r, rbit), s)
    sbit = data.draw(st.integers(min_value=0, max_value=255), label="s bit")
    assert not _ours(TEST_KEY, msg, r, _flip(s, sbit))
    assert not _ours(OTHER_KEY, msg, r, s)


@SETTINGS
@given(keys, messages)
def test_other_key_refused(key, msg):
    r, s = _sign(key, msg)
    assert not _ours(OTHER_KEY, msg, r, s)
    assert _ours(key, msg, r, s)


def test_out_of_range_r_s_refused_at_once():
    msg = b"out of range"
    r, s = _sign(TEST_KEY, msg)
    q = p256.decode_point(_sec1(TEST_KEY))
    e = hashlib.sha256(msg).digest()
    ri, si = int.from_bytes(r, "big"), int.from_bytes(s, "big")
    assert p256.verify(q, e, ri, si)  # ints are accepted too
    big = (1 << 256) - 1
    for bad_r, bad_s in (
        (0, si),
        (ri, 0),
        (N, si),
        (ri, N),
        (ri + N, si) if ri + N < 1 << 256 else (N + 1, si),  # the same r mod n, >= n
        (ri, si + N) if si + N < 1 << 256 else (ri, N + 1),
        (big, si),
        (ri, big),
    ):
        v = p256.Verify(q, e, bad_r, bad_s)
        assert v.result is False and v.step() is False and v.steps == 0
        assert not p256.verify(q, e, bad_r.to_bytes(32, "big"), bad_s.to_bytes(32, "big"))


def _sqrt(x):
    # -> y with y^2 == x^3 - 3x + b (mod p), or None (p == 3 mod 4)
    p = p256.P
    rhs = (x**3 - 3 * x + p256.B) % p
    y = pow(rhs, (p + 1) // 4, p)
    return y if y * y % p == rhs else None


def test_bad_points_refused():
    good = _sec1(TEST_KEY)
    x, y = p256.decode_point(good)
    p = p256.P
    bad = [
        good[:64],
        good + b"\x00",
        b"\x02" + good[1:],  # compressed prefix
        b"\x00" + good[1:],
        good[:-1] + bytes((good[-1] ^ 1,)),  # y off by one: off the curve
        b"\x04" + x.to_bytes(32, "big") + p.to_bytes(32, "big"),  # y >= p
        b"\x04" + p.to_bytes(32, "big") + y.to_bytes(32, "big"),  # x >= p
        b"\x04" + bytes((0xFF,)) * 64,
        b"\x04" + bytes(64),  # (0, 0)
    ]
    # a point with a small x, given as x + p: on the curve mod p, but not a canonical encoding
    sx = next(i for i in range(100) if _sqrt(i) is not None)
    sy = _sqrt(sx)
    assert p256.decode_point(b"\x04" + sx.to_bytes(32, "big") + sy.to_bytes(32, "big"))
    bad.append(b"\x04" + (sx + p).to_bytes(32, "big") + sy.to_bytes(32, "big"))
    for sec1 in bad:
        with pytest.raises(ValueError):
            p256.decode_point(sec1)
    # and cryptography agrees that none of them is a public key
    for sec1 in bad:
        with pytest.raises(ValueError):
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sec1)
    # a tuple off the curve handed straight to Verify is refused too
    r, s = _sign(TEST_KEY, b"m")
    assert not p256.verify((x, (y + 1) % p), hashlib.sha256(b"m").digest(), r, s)


def _our_sign(d, digest, k):
    # Test-side ECDSA signer on p256.mul_g (FIPS 186-4 6.4): -> (r, s) ints, or None to retry
    e = int.from_bytes(digest, "big")
    r = p256.mul_g(k)[0] % N
    s = pow(k, -1, N) * (e + r * d) % N
    return (r, s) if r and s else None


@SETTINGS
@given(st.integers(min_value=1, max_value=N - 1), messages, st.randoms(use_true_random=False))
def test_cryptography_accepts_mul_g_signatures(d, msg, rnd):
    key = ec.derive_private_key(d, ec.SECP256R1())
    assert p256.mul_g(d) == _xy(key)
    digest = hashlib.sha256(msg).digest()
    sig = None
    while sig is None:
        sig = _our_sign(d, digest, rnd.randrange(1, N))
    assert _referee(key.public_key(), digest, sig[0], sig[1])
    assert not _referee(key.public_key(), digest, sig[0], sig[1] ^ 1)
    assert p256.verify(p256.decode_point(_sec1(key)), digest, sig[0], sig[1])


def test_mul_g_edges():
    assert p256.mul_g(N - 1) == (p256.GX, p256.P - p256.GY)
    assert p256.mul_g(N + 1) == p256.mul_g(1)
    for k in (2, 3, 15, 16, 17, 255, 256, (1 << 255) + 1, N - 2):
        pub = ec.derive_private_key(k, ec.SECP256R1()).public_key().public_numbers()
        assert p256.mul_g(k) == (pub.x, pub.y)
    with pytest.raises(ValueError):
        p256.mul_g(N)


def _crafted(k):
    # With e == r the two scalars are equal (u1 == u2 == e/s). Signed for d == 1 (Q == G): the
    # first window of the Shamir pass adds a point to itself (the addition doubles).
    r = p256.mul_g(k)[0] % N
    s = pow(k, -1, N) * (r + r) % N
    return r.to_bytes(32, "big"), r, s


def test_crafted_edge_cases():
    rng = random.Random(1)
    g = (p256.GX, p256.GY)
    minus_g = (p256.GX, p256.P - p256.GY)
    for _ in range(3):
        digest, r, s = _crafted(rng.randrange(1, N))  # Q == G, u1 == u2
        assert p256.verify(g, digest, r, s) and _referee(1, digest, r, s)
        assert not p256.verify(g, digest, r, (s + 1) % N)
        # Q == -G, u1 == u2 (no signer makes these, s is free): R == u1*G - u1*G is infinity,
        # every window adds a point to its negative
        s = rng.randrange(1, N)
        assert not p256.verify(minus_g, digest, r, s) and not _referee(N - 1, digest, r, s)
    # R == infinity for an ordinary key: r*d == -e (mod n) makes u1 + u2*d == 0
    d = rng.randrange(1, N)
    e = rng.randrange(1, N)
    r = (-e * pow(d, -1, N)) % N
    s = rng.randrange(1, N)
    assert not p256.verify(p256.mul_g(d), e.to_bytes(32, "big"), r, s)
    assert not _referee(d, e.to_bytes(32, "big"), r, s)


def test_verify_async_matches_and_steps():
    msg = b"async"
    r, s = _sign(TEST_KEY, msg)
    q = p256.decode_point(_sec1(TEST_KEY))
    e = hashlib.sha256(msg).digest()
    assert asyncio.run(p256.verify_async(q, e, r, s)) is True
    assert asyncio.run(p256.verify_async(q, e, r, _flip(s, 3))) is False
    v = p256.Verify(q, e, r, s)
    while v.step() is None:
        pass
    assert v.result is True and v.step() is True and v.result is True


def test_x_of_r_between_n_and_p():
    # x(R) in [n, p): r is x(R) - n and the check must take the r + n branch. Built with Q = R
    # itself and e == 0 (mod n): u1 = 0, u2 = r/s, so s = r gives R = Q and s = -r gives R = -Q.
    x = next(x for x in range(N, N + 1000) if _sqrt(x) is not None)
    y = _sqrt(x)
    q = (x, y)
    sec1 = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
    assert p256.decode_point(sec1) == q
    pub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sec1)
    r = x - N
    for digest in (bytes(32), N.to_bytes(32, "big")):
        for s, ok in ((r, True), (N - r, True), (r + 1, False)):
            assert p256.verify(q, digest, r, s) is ok
            assert _referee(pub, digest, r, s) is ok
