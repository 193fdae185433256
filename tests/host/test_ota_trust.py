# The device's trusted-key loading (firmware/ihd/ota/trust.py) against `cryptography`: the PEM
# public keys a vendor exports (`openssl ec -pubout`, cryptography's SubjectPublicKeyInfo) give
# the points and key ids cryptography computes; keys that are no P-256 point are skipped, never
# trusted; and the test signer numbers the firmware tests use match the committed PEM files.
import hashlib
import os
import re

from cryptography.hazmat.primitives import serialization as S
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from host_tools import paths, upy_shim

upy_shim.install()

from ihd.ota import p256, trust  # noqa: E402

KEYS = os.path.join(paths.TESTS, "ota_keys")


def _pub_pem(key):
    return key.public_key().public_bytes(S.Encoding.PEM, S.PublicFormat.SubjectPublicKeyInfo)


def _point(key):
    return key.public_key().public_bytes(S.Encoding.X962, S.PublicFormat.UncompressedPoint)


def _load_priv(name):
    with open(os.path.join(KEYS, name), "rb") as f:
        return S.load_pem_private_key(f.read(), None)


def test_pem_file_with_several_keys_and_foreign_ones(tmp_path):
    a = ec.generate_private_key(ec.SECP256R1())
    b = ec.generate_private_key(ec.SECP256R1())
    p384 = ec.generate_private_key(ec.SECP384R1())
    r = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    text = b"comment line\n" + _pub_pem(a) + _pub_pem(p384) + _pub_pem(r) + _pub_pem(b)
    f = tmp_path / "ota_keys.pem"
    f.write_bytes(text)
    bad_before = trust.stats.get("bad_key")
    keys = trust.load((), str(f))
    want = {hashlib.sha256(_point(k)).digest()[:8]: k for k in (a, b)}
    assert set(keys) == set(want)
    for kid, k in want.items():
        n = k.public_key().public_numbers()
        assert keys[kid] == (n.x, n.y)
    assert trust.stats.get("bad_key") == bad_before + 2  # the P-384 and the RSA key


def test_missing_unreadable_or_oversized_file_trusts_only_the_firmware_keys(tmp_path):
    a = ec.generate_private_key(ec.SECP256R1())
    frozen = (_point(a),)
    assert set(trust.load(frozen, str(tmp_path / "none.pem"))) == {p256.key_id(frozen[0])}
    big = tmp_path / "big.pem"
    big.write_bytes(_pub_pem(ec.generate_private_key(ec.SECP256R1())) * 60)
    assert set(trust.load(frozen, str(big))) == {p256.key_id(frozen[0])}
    binary = tmp_path / "bin.pem"
    binary.write_bytes(b"\xff\xfe\x00" * 10)
    assert set(trust.load(frozen, str(binary))) == {p256.key_id(frozen[0])}
    # a frozen entry that is no point on the curve is skipped
    off_curve = b"\x04" + bytes(31) + b"\x01" + bytes(31) + b"\x01"
    assert trust.load((off_curve,), None) == {}


def test_shipped_firmware_trusts_nobody():
    # A vendor adds their key; the reference build refuses every image until then.
    assert trust.MANUFACTURER_KEYS == ()


def test_firmware_test_signer_matches_the_committed_keys():
    with open(os.path.join(paths.TESTS, "firmware", "test_ota_helpers.py")) as f:
        src = f.read()
    for name, prefix in (("ota-test-p256.pem", "TEST"), ("ota-other-p256.pem", "OTHER")):
        k = _load_priv(name)
        d = int(re.search(prefix + r"_D = (0x[0-9A-Fa-f]+)", src).group(1), 16)
        pub = re.search(prefix + r'_PUB = bytes.fromhex\(\s*"([0-9a-f]+)"\s*"([0-9a-f]+)"', src)
        assert d == k.private_numbers().private_value
        assert bytes.fromhex(pub.group(1) + pub.group(2)) == _point(k)
        with open(os.path.join(KEYS, name.replace(".pem", ".pub.pem")), "rb") as f:
            assert trust.pem_points(f.read().decode()) == [_point(k)]
