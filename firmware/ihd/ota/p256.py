# ECDSA P-256 / SHA-256 signature verification (FIPS 186-4 6.4) on MicroPython big ints, for the
# OTA image signature. Pure logic, no secrets: verification handles only public values, so it
# needs no constant-time care. The work is cut into bounded steps (Verify.step) so that the event
# loop keeps running while a once-per-upgrade verification goes on.
#
# Points are Jacobian (X, Y, Z) ~ affine (X/Z^2, Y/Z^3); Z == 0 is the point at infinity. Every
# coordinate is kept reduced mod P. u1*G + u2*Q is one pass of 2-bit fixed windows over both
# scalars (Shamir's trick: the two multiplications share their 256 doublings), from tables of
# 0..3 times G and Q built per verification (nothing stays allocated afterwards). 2-bit, not
# 4-bit: a point is ~220 B of big ints on a 32-bit port, and two 16-point tables (7 KB) were
# most of the heap a verification holds, at a time the Pico has the least; 4-point tables are
# 1.8 KB, for 128 more point additions (docs/ota.md "OTA and RAM"). The final
# x(R) mod n == r test is done in Jacobian form (X == r*Z^2), so R needs no inversion.
import asyncio
import hashlib

from micropython import const

# Curve parameters (FIPS 186-4 D.1.2.3); big ints, so plain globals rather than const().
P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5

_WBITS = const(2)  # window width
_WINDOWS = const(128)  # 256-bit scalars in 2-bit windows; one window per step
_TABLE_PER_STEP = const(4)  # table points added per step
_EXP_BITS = const(32)  # exponent bits per step of a modular inverse
_EXP_MASK = 0xFFFFFFFF  # not const(): above a 32-bit build's small ints

_INF = (1, 1, 0)

# Field multiplications (squarings included) one call of each costs; tests count the calls
# (they look these functions up as module globals, so a test can wrap them) to bound a step.
DBL_MULS = const(8)  # 3M + 5S
ADD_MULS = const(16)  # 12M + 4S
# Worst case per step: a window (2 doublings + 2 additions: 48), 4 table additions (64), or an
# inverse slice (pow() to 2^32: 32 squarings; pow() to a 32-bit exponent: at most 31 squarings
# + 31 multiplications; one more multiplication: 95), plus a few multiplications in line.
MAX_STEP_MULS = const(100)

_pow = pow  # modular exponentiation (native mpz); a global so that tests can count its work


def _on_curve(x, y):
    # y^2 == x^3 - 3x + b (mod p), coordinates in range
    return 0 <= x < P and 0 <= y < P and (y * y - (x * x * x - 3 * x + B)) % P == 0


def decode_point(sec1):
    # SEC1 uncompressed point 0x04 || X || Y -> (x, y); ValueError unless it is on the curve.
    if len(sec1) != 65 or sec1[0] != 4:
        raise ValueError("not a 65-byte uncompressed point")
    x = int.from_bytes(sec1[1:33], "big")
    y = int.from_bytes(sec1[33:65], "big")
    if not _on_curve(x, y):
        raise ValueError("point not on P-256")
    return x, y


def key_id(sec1):
    # The first 8 bytes of SHA-256 of the 65-byte SEC1 encoding.
    if len(sec1) != 65:
        raise ValueError("not a 65-byte uncompressed point")
    return hashlib.sha256(bytes(sec1)).digest()[:8]


def _dbl(p):
    # 2P, dbl-2001-b (a = -3): 3M + 5S.
    X, Y, Z = p
    if not Z or not Y:  # infinity (no point of P-256 has y == 0, but keep the group law whole)
        return _INF
    d = Z * Z % P
    g = Y * Y % P
    b = X * g % P
    a = 3 * ((X - d) * (X + d) % P) % P
    X3 = (a * a - 8 * b) % P
    Z3 = ((Y + Z) * (Y + Z) - g - d) % P
    Y3 = (a * (4 * b - X3) - 8 * (g * g % P)) % P
    return (X3, Y3, Z3)


def _add(p, q):
    # P + Q, add-1998-cmo-2: 12M + 4S. Handles infinity, P == Q (doubles) and P == -Q.
    X1, Y1, Z1 = p
    X2, Y2, Z2 = q
    if not Z1:
        return q
    if not Z2:
        return p
    z1z1 = Z1 * Z1 % P
    z2z2 = Z2 * Z2 % P
    u1 = X1 * z2z2 % P
    u2 = X2 * z1z1 % P
    s1 = Y1 * (Z2 * z2z2 % P) % P
    s2 = Y2 * (Z1 * z1z1 % P) % P
    h = (u2 - u1) % P
    r = (s2 - s1) % P
    if not h:  # same x: P == Q, or P == -Q
        return _dbl(p) if not r else _INF
    hh = h * h % P
    hhh = h * hh % P
    v = u1 * hh % P
    X3 = (r * r - hhh - 2 * v) % P
    Y3 = (r * (v - X3) - s1 * hhh) % P
    Z3 = Z1 * Z2 % P * h % P
    return (X3, Y3, Z3)


def _table(x, y):
    # Generator -> [0P, 1P, 2P, 3P] (Jacobian) for the affine point (x, y).
    p1 = (x, y, 1)
    t = [_INF, p1, _dbl(p1)]
    for k in range(3, 1 << _WBITS):
        t.append(_add(t[k - 1], p1))
        if k % _TABLE_PER_STEP == 0:
            yield
    yield
    return t


def _mul2(a, b, q):
    # Generator -> a*G + b*Q (Jacobian); a, b in [0, n); q affine (x, y), unused when b == 0.
    tg = yield from _table(GX, GY)
    tq = (yield from _table(q[0], q[1])) if b else tg  # b == 0: tq is never read
    ab = a.to_bytes(32, "big")
    bb = b.to_bytes(32, "big")
    acc = _INF
    for i in range(_WINDOWS):
        for _ in range(_WBITS):  # cheap no-ops while acc is still infinity
            acc = _dbl(acc)
        sh = 6 - 2 * (i & 3)  # 4 windows per byte, the high bits first
        d = (ab[i >> 2] >> sh) & 3
        if d:
            acc = _add(acc, tg[d])
        d = (bb[i >> 2] >> sh) & 3
        if d:
            acc = _add(acc, tq[d])
        yield
    return acc


def _inverse(x, m):
    # Generator -> x^-1 mod m (m prime, x not 0 mod m) as x^(m-2), 32 exponent bits per step:
    # acc = acc^(2^32) * x^(next 32 bits), each pow() native and bounded.
    e = m - 2
    acc = 1
    shift = 256
    while shift:
        shift -= _EXP_BITS
        acc = _pow(acc, 1 << _EXP_BITS, m) * _pow(x, (e >> shift) & _EXP_MASK, m) % m
        yield
    return acc


def _scalar(v):
    # 32-byte big-endian bytes (or an int) -> int
    if isinstance(v, int):
        return v
    if len(v) != 32:
        raise ValueError("scalar must be 32 bytes")
    return int.from_bytes(v, "big")


def _finish(gen):
    # Runs a generator to its end -> its return value.
    try:
        while True:
            next(gen)
    except StopIteration as e:
        return e.value


class Verify:
    # Incremental ECDSA verification: step() does a bounded slice of work (at most
    # MAX_STEP_MULS field multiplications) and returns None while running, then True/False
    # (again on every later call); `result` holds the same, `steps` counts the calls that worked.
    def __init__(self, pub_xy, digest, r, s):
        if len(digest) != 32:
            raise ValueError("digest must be 32 bytes")
        r = _scalar(r)
        s = _scalar(s)
        self.result = None
        self.steps = 0
        self._gen = None
        if 0 < r < N and 0 < s < N:
            self._gen = self._run(pub_xy, int.from_bytes(digest, "big"), r, s)
        else:
            self.result = False

    def _run(self, q, e, r, s):
        ok = False
        if _on_curve(q[0], q[1]):
            w = yield from _inverse(s, N)
            R = yield from _mul2(e * w % N, r * w % N, q)
            x, _, z = R
            if z:
                # x(R) = x/z^2 < p < 2n, so x(R) mod n == r iff x(R) is r or r + n
                zz = z * z % P
                ok = x == r * zz % P or (r + N < P and x == (r + N) * zz % P)
        self.result = ok

    def step(self):
        gen = self._gen
        if gen is not None:
            self.steps += 1
            try:
                next(gen)
            except StopIteration:
                self._gen = None  # drops the tables and the generator's frame
        return self.result


def verify(pub_xy, digest, r, s):
    # Synchronous: runs every step -> bool.
    v = Verify(pub_xy, digest, r, s)
    while v.step() is None:
        pass
    return v.result


async def verify_async(pub_xy, digest, r, s):
    # -> bool, yielding to the event loop after every step.
    v = Verify(pub_xy, digest, r, s)
    while v.step() is None:
        await asyncio.sleep_ms(0)
    return v.result


def mul_g(k):
    # -> affine k*G (for tests: a test-side signer builds signatures with it); ValueError if
    # k*G is infinity (k == 0 mod n).
    X, Y, Z = _finish(_mul2(k % N, 0, None))
    if not Z:
        raise ValueError("k*G is infinity")
    zi = _pow(Z, P - 2, P)
    zi2 = zi * zi % P
    return X * zi2 % P, Y * (zi2 * zi % P) % P
