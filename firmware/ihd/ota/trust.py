# The public keys an OTA image must be signed with (docs/ota.md "Trust"). An image is accepted
# only when its ECDSA P-256 signature element names one of these keys by key id and verifies.
#
# MANUFACTURER_KEYS is the vendor's provisioning point: the SEC1 uncompressed points (65 bytes,
# 0x04 || X || Y) of the keys the vendor signs releases with, frozen into the firmware. It ships
# empty: a reference build trusts nobody, so it refuses every image until a vendor adds their
# key (`python -m host_tools.ota keygen` prints the line to paste here). Never put a key whose
# private half is public (the test keys in tests/ota_keys/) in a build that leaves the bench.
#
# A board may also name a PEM file of public keys on its flash (`OTA_KEYS_FILE`; the unix board
# does, so the simulator and tests provision theirs without rebuilding). Whoever can write that
# file can already replace the firmware over USB, so it widens nothing for a local attacker;
# over the HAN it cannot be written.
import binascii

from ihd.ota import p256
from ihd.runtime import log
from ihd.runtime.counters import Counters

MANUFACTURER_KEYS = ()  # type: tuple

_TAG = "ota"
# DER SubjectPublicKeyInfo prefix of an uncompressed P-256 key: SEQUENCE { SEQUENCE { OID
# id-ecPublicKey, OID prime256v1 }, BIT STRING (66 bytes: 0 unused bits, then the point) }.
_SPKI_P256 = (
    b"\x30\x59\x30\x13\x06\x07\x2a\x86\x48\xce\x3d\x02\x01"  # id-ecPublicKey
    b"\x06\x08\x2a\x86\x48\xce\x3d\x03\x01\x07\x03\x42\x00"  # prime256v1, BIT STRING
)
_BEGIN = "-----BEGIN PUBLIC KEY-----"
_END = "-----END PUBLIC KEY-----"
_MAX_FILE = 8192  # a handful of keys; a larger file is refused, not read

stats = Counters("ota_keys", ("loaded", "bad_key"))


def pem_points(text):
    # -> [SEC1 point bytes] of the P-256 public keys in a PEM text; any other block is skipped.
    out = []
    i = 0
    while True:
        a = text.find(_BEGIN, i)
        if a < 0:
            return out
        b = text.find(_END, a)
        if b < 0:
            return out
        i = b + len(_END)
        try:
            der = binascii.a2b_base64("".join(text[a + len(_BEGIN) : b].split()))
        except ValueError:
            der = b""
        if len(der) == len(_SPKI_P256) + 65 and der[: len(_SPKI_P256)] == _SPKI_P256:
            out.append(der[len(_SPKI_P256) :])
        else:
            stats.inc("bad_key")
            log.warn(_TAG, "key file: a PUBLIC KEY block that is no P-256 key: skipped")


def load(points=MANUFACTURER_KEYS, path=None):
    # -> {key id (8 B): (x, y)} of every valid key in `points` and in the PEM file at `path`
    # (None: none). A bad key or an unreadable file is logged and counted, never fatal: the
    # device then trusts fewer keys, so it refuses more, never less.
    found = list(points)
    if path:
        try:
            with open(path) as f:
                text = f.read(_MAX_FILE + 1)
            if len(text) > _MAX_FILE:
                log.warn(_TAG, "key file %s larger than %d B: ignored", path, _MAX_FILE)
            else:
                found.extend(pem_points(text))
        except OSError:
            pass  # no file: the firmware's keys only
        except ValueError:
            stats.inc("bad_key")
            log.warn(_TAG, "key file %s is not text: ignored", path)
    keys = {}
    for sec1 in found:
        try:
            keys[p256.key_id(sec1)] = p256.decode_point(sec1)
            stats.inc("loaded")
        except ValueError:
            stats.inc("bad_key")
            log.warn(_TAG, "trusted key %s is not a P-256 point: skipped",
                     binascii.hexlify(bytes(sec1[:9])).decode())  # fmt: skip
    return keys
