# ECDSA P-256 signing of OTA files, host side (docs/ota.md). The signature element, tag 0xF102,
# is the last element of the file: key id (8 B) || r (32 B) || s (32 B), r and s big-endian.
# It signs (ECDSA P-256 with SHA-256) every byte of the file but the final 64 (r || s): the
# header, every earlier element and the signature element's own tag, length and key id.
# key id = SHA-256(SEC1 uncompressed point 0x04 || X || Y)[:8]. The device's verifier is
# firmware/ihd/ota/image.py (trusted keys: firmware/ihd/ota/trust.py); `cryptography` is the
# reference here. Keys are PEM: PKCS8 (or SEC1 "EC PRIVATE KEY") private keys, unencrypted, and
# SubjectPublicKeyInfo public keys, any number per file.
from __future__ import annotations

import hashlib
import os
import re
import struct
from typing import List, Optional, Sequence, Tuple

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from host_tools import paths
from host_tools.ota import fileformat as FF

DEV_KEY = os.path.join(paths.BUILD, "keys", "dev-ota-p256.pem")

# verify_file() verdicts
VALID = "valid"
BAD = "bad"  # names a trusted key but does not verify (modified file, wrong signature)
UNSIGNED = "unsigned"
UNKNOWN = "unknown"  # signed by a key that is not among the trusted ones
UNCHECKED = "unchecked"  # signed, but no trusted key was given to check it against

_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.S)


class KeyFileError(FF.OtaFormatError):
    # A key file that is missing, unreadable or holds no P-256 key: a one-line message.
    pass


def _read(path: str, what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise KeyFileError("cannot read %s %s: %s" % (what, path, e.strerror or e)) from None


def _check_p256(key, path: str):
    if not isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        raise KeyFileError("%s: not an EC key (%s)" % (path, type(key).__name__))
    if not isinstance(key.curve, ec.SECP256R1):
        raise KeyFileError("%s: EC key on %s, not P-256 (secp256r1)" % (path, key.curve.name))
    return key


def load_private_key(path: str) -> ec.EllipticCurvePrivateKey:
    # -> the P-256 private key in a PEM file (unencrypted); KeyFileError otherwise.
    data = _read(path, "private key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError("%s: encrypted private key (give an unencrypted PEM)" % path) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError("%s: not a PEM private key" % path) from None
    _check_p256(key, path)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def load_public_keys(path: str) -> List[ec.EllipticCurvePublicKey]:
    # -> every P-256 public key in a PEM file: PUBLIC KEY blocks (SubjectPublicKeyInfo), and the
    # public half of any PRIVATE KEY block. KeyFileError when there is none or one is no P-256.
    data = _read(path, "public key file")
    out: List[ec.EllipticCurvePublicKey] = []
    for m in _PEM_BLOCK.finditer(data):
        kind = m.group(1).decode()
        try:
            if kind == "PUBLIC KEY":
                key = serialization.load_pem_public_key(m.group(0))
            elif kind.endswith("PRIVATE KEY"):
                priv = serialization.load_pem_private_key(m.group(0), password=None)
                key = priv.public_key()
            else:
                continue
        except (TypeError, ValueError, UnsupportedAlgorithm):
            raise KeyFileError("%s: a %s block that does not load" % (path, kind)) from None
        _check_p256(key, path)
        assert isinstance(key, ec.EllipticCurvePublicKey)
        out.append(key)
    if not out:
        raise KeyFileError("%s: no PEM public key in it" % path)
    return out


def _public(key) -> ec.EllipticCurvePublicKey:
    return key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key


def sec1(pub) -> bytes:
    # -> the 65-byte SEC1 uncompressed point 0x04 || X || Y (a private key: its public half).
    return _public(pub).public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def key_id(pub) -> bytes:
    # -> 8 bytes: SHA-256 of the SEC1 uncompressed point, first 8 bytes.
    return hashlib.sha256(sec1(pub)).digest()[: FF.KEY_ID_LEN]


def sign(message: bytes, priv: ec.EllipticCurvePrivateKey) -> Tuple[bytes, int, int]:
    # -> (key id, r, s): ECDSA P-256 with SHA-256 over `message`.
    der = priv.sign(bytes(message), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return key_id(priv), r, s


def signature_element(prefix: bytes, priv: ec.EllipticCurvePrivateKey) -> bytes:
    # -> the 78-byte signature element that follows `prefix` (every byte of the file before
    # it): tag, length, key id, r, s; it signs prefix + tag + length + key id.
    head = struct.pack("<HI", FF.TAG_SIGNATURE, FF.SIG_DATA_LEN) + key_id(priv)
    _, r, s = sign(bytes(prefix) + head, priv)
    return head + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify_file(data: bytes, trusted_pubkeys: Sequence = ()) -> Tuple[str, Optional[bytes]]:
    # -> (verdict, key id or None). Verdicts: VALID, BAD, UNSIGNED, UNKNOWN (not a trusted
    # key), UNCHECKED (signed, no trusted keys given). Raises FF.OtaFormatError on a file that
    # does not parse (for instance bytes after the signature element).
    sig = FF.parse_ota(data)["signature"]
    if sig is None:
        return UNSIGNED, None
    kid = sig["key_id"]
    if not trusted_pubkeys:
        return UNCHECKED, kid
    candidates = [k for k in trusted_pubkeys if key_id(k) == kid]
    if not candidates:
        return UNKNOWN, kid
    message = bytes(data[: sig["signed_end"]])
    der = encode_dss_signature(sig["r"], sig["s"])
    for k in candidates:
        try:
            _public(k).verify(der, message, ec.ECDSA(hashes.SHA256()))
            return VALID, kid
        except InvalidSignature:
            pass
    return BAD, kid


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def private_pem(priv: ec.EllipticCurvePrivateKey) -> bytes:
    return priv.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def public_pem(pub) -> bytes:
    return _public(pub).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pub_path(path: str) -> str:
    # KEY.pem -> KEY.pub.pem (the public half beside it)
    base = path[:-4] if path.endswith(".pem") else path
    return base + ".pub.pem"


def write_key(path: str, priv: ec.EllipticCurvePrivateKey) -> str:
    # Writes the private key (mode 0600, refusing to overwrite) and its public half beside it
    # (KEY.pub.pem, also never overwritten). -> the public key's path.
    pub = pub_path(path)
    for p in (path, pub):
        if os.path.lexists(p):
            raise KeyFileError("%s exists: not overwriting it" % p)
    d = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(d, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem(priv))
        with open(pub, "xb") as f:
            f.write(public_pem(priv))
    except OSError as e:
        raise KeyFileError("cannot write %s: %s" % (e.filename or path, e.strerror or e)) from None
    return pub


def dev_key(path: str = DEV_KEY) -> ec.EllipticCurvePrivateKey:
    # -> the development signing key at `path` (default build/keys/dev-ota-p256.pem), created
    # (P-256, mode 0600, with its .pub.pem) when missing. For the bench and `make run`: a fresh
    # one per checkout, never a release key.
    # Under a lock: the tests start several simulations at once on a fresh checkout, and each
    # must find the one pair, whole.
    import fcntl

    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, ".dev-key.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            write_key(path, new_key())
        priv = load_private_key(path)
        if not os.path.exists(pub_path(path)):  # an earlier run stopped between the two
            with open(pub_path(path), "wb") as f:
                f.write(public_pem(priv))
        return priv


def dev_pub_file() -> str:
    # -> the PEM file of the development key's public half (the key created when missing):
    # what `make run`, `simulate` and the bench make the simulated device trust.
    dev_key()
    return pub_path(DEV_KEY)


def firmware_line(pub) -> str:
    # -> the entry to paste into firmware/ihd/ota/trust.py MANUFACTURER_KEYS (SEC1 point).
    h = sec1(pub).hex()
    return '    binascii.unhexlify(\n        "%s"\n        "%s"\n    ),  # key id %s' % (
        h[:66],
        h[66:],
        key_id(pub).hex(),
    )
