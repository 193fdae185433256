# OTA files both ways with zigpy 2.4 (the referee): our files, unsigned and signed, parse with
# zigpy.ota.image.parse_ota_image and re-serialize byte for byte; a file zigpy builds
# (OTAImageHeader/SubElement/OTAImage) is accepted by the firmware's verifier (CPython via the
# shim, and on the unix port through `apply --unix-flash`). The ECDSA P-256 signature element
# 0xF102 (host_tools/ota/signing.py) is checked with `cryptography` directly, from the bytes:
# key id, r, s at the file's end, over every byte but the last 64. The build / inspect / apply
# CLI end to end (more CLI cases: test_ota_cli.py).
#
# Tests that need the firmware to accept signed images (the verifier with 0xF102 and trusted
# keys): test_signed_files[*] (its firmware check), test_firmware_accepts_zigpy_file,
# test_cli_build_inspect_apply.
import hashlib
import os
import subprocess
import sys

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from zigpy.ota import image as Z

from host_tools import paths, upy_shim
from host_tools.ota import cli, signing
from host_tools.ota import fileformat as FF

upy_shim.install()

from ihd.ota import image as IM  # noqa: E402
from ihd.ota import trust as TR  # noqa: E402

V2 = 0x00020000
FILES = [("ihd/__init__.py", b"VERSION = 'x'\nFILE_VERSION = 0x00020000\n"),
         ("ihd/hello.py", b"WHO = 'zigpy'\n")]  # fmt: skip
KEYS = os.path.join(paths.TESTS, "ota_keys")
TEST_PEM = os.path.join(KEYS, "ota-test-p256.pem")
TEST_PUB = os.path.join(KEYS, "ota-test-p256.pub.pem")
OTHER_PEM = os.path.join(KEYS, "ota-other-p256.pem")
OTHER_PUB = os.path.join(KEYS, "ota-other-p256.pub.pem")
TEST_KEY = signing.load_private_key(TEST_PEM)
OTHER_KEY = signing.load_private_key(OTHER_PEM)


def _pub(path):
    # straight from cryptography, not through host_tools.ota.signing
    with open(path, "rb") as f:
        key = serialization.load_pem_public_key(f.read())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def _kid(pub):
    point = pub.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return hashlib.sha256(point).digest()[:8]


def check_signature(data, pub_path=TEST_PUB):
    # The signature element read from the raw bytes and verified by cryptography; -> key id.
    pub = _pub(pub_path)
    tag, length = int.from_bytes(data[-78:-76], "little"), int.from_bytes(data[-76:-72], "little")
    assert (tag, length) == (0xF102, 72)
    kid, r, s = data[-72:-64], data[-64:-32], data[-32:]
    assert kid == _kid(pub)
    der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
    pub.verify(der, data[:-64], ec.ECDSA(hashes.SHA256()))  # raises if it does not verify
    return kid


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def flash_image(path, files=(), trust=(TEST_PUB,)):
    # A device flash image as the unix board (and so `simulate`) makes it: board.storage() on
    # the unix port, with `files` ({path: bytes} under /flash) and the PEM of the `trust` keys
    # in the board's OTA_KEYS_FILE (where simulate provisions the keys the device trusts).
    files = dict(files)
    if trust:
        files["ota_keys.pem"] = b"".join(_read(p) for p in trust)
    script = (
        "import board, os, sys, binascii\n"
        "st, dev = board.storage()\n"
        "for line in sys.stdin.read().split():\n"
        "    name, _, hx = line.partition('=')\n"
        "    d = '/flash'\n"
        "    for part in name.split('/')[:-1]:\n"
        "        d += '/' + part\n"
        "        try:\n"
        "            os.mkdir(d)\n"
        "        except OSError:\n"
        "            pass\n"
        "    with open('/flash/' + name, 'wb') as f:\n"
        "        f.write(binascii.unhexlify(hx))\n"
        "st.umount()\ndev.close()\n"
    )
    feed = "\n".join("%s=%s" % (n, bytes(d).hex()) for n, d in files.items())
    env = dict(os.environ, MICROPYPATH=paths.micropypath("unix"), IHD_FLASH=str(path))
    r = subprocess.run([paths.micropython_exe(), "-c", script], input=feed, env=env,
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 0, r.stdout + r.stderr
    return path


def _verify(data, running=0x00010000, hw=0x0100, **kw):
    kw.setdefault("keys", TR.load((signing.sec1(TEST_KEY),)))
    v = IM.Verifier(FF.MANUFACTURER_CODE, FF.IMAGE_TYPES["unix"], running, hw, **kw)
    v.reset()
    for i in range(0, len(data), 48):
        if v.feed(data[i : i + 48]):
            return v.reason()
    return v.reason() if v.finish() else "ok"


def test_zigpy_parses_ours():
    data = FF.make_ota(FF.make_bundle(FILES, V2), V2, hw_min=0x0100, hw_max=0x01FF,
                       header_string="IHD test")  # fmt: skip
    img, rest = Z.parse_ota_image(data)
    assert rest == b"" and isinstance(img, Z.OTAImage)
    h = img.header
    assert h.upgrade_file_id == Z.OTAImageHeader.MAGIC_VALUE
    assert h.manufacturer_id == FF.MANUFACTURER_CODE and h.image_type == 0x0100
    assert h.file_version == V2 and h.image_size == len(data) and h.header_length == 60
    assert h.minimum_hardware_version == 0x0100 and h.maximum_hardware_version == 0x01FF
    tags = [int(s.tag_id) for s in img.subelements]
    assert tags == [0x0000, 0xF100]
    assert img.serialize() == data
    assert img.subelements[1].data == hashlib.sha256(data[: len(data) - 38]).digest()
    assert FF.parse_ota(data)["signature"] is None
    assert signing.verify_file(data, [TEST_KEY.public_key()]) == (signing.UNSIGNED, None)
    assert _verify(data) == "unsigned"
    assert _verify(data, allow_unsigned=True) == "ok"


_PAYLOADS = {
    "small": FF.make_bundle(FILES, V2),
    "large": FF.make_bundle(FILES + [("ihd/blob.bin", os.urandom(20000))], V2),
    "empty_bundle": FF.make_bundle([], V2),
}
_CASES = [
    # (id, payload, make_ota keywords, tags between 0x0000 and 0xF100)
    ("small", "small", {}, []),
    ("large_hw", "large", {"hw_min": 0x0100, "hw_max": 0x01FF}, []),
    ("hmac", "small", {"hmac_key": b"k" * 16}, []),
    ("extra", "large", {"extra_elements": [(0x0004, b"picture"), (0xF0FF, b"")]}, [4, 0xF0FF]),
    ("all", "empty_bundle", {"hmac_key": b"\x01" * 32, "extra_elements": [(0x0004, b"p" * 99)],
                             "destination": bytes.fromhex("0123456789abcdef")}, [4]),
]  # fmt: skip


@pytest.mark.parametrize("case", _CASES, ids=[c[0] for c in _CASES])
def test_signed_files(case):
    _, payload, kw, extra_tags = case
    data = FF.make_ota(_PAYLOADS[payload], V2, sign_key=TEST_KEY, **kw)
    # cryptography, from the bytes alone
    kid = check_signature(data)
    with pytest.raises(InvalidSignature):
        check_signature(data[:-1] + bytes((data[-1] ^ 1,)))
    # zigpy: same elements, total size, byte-for-byte re-serialization
    img, rest = Z.parse_ota_image(data)
    assert rest == b"" and img.serialize() == data and img.header.image_size == len(data)
    tags = [int(s.tag_id) for s in img.subelements]
    want = [0x0000] + extra_tags + [0xF100] + ([0xF101] if kw.get("hmac_key") else []) + [0xF102]
    assert tags == want
    assert len(img.subelements[-1].data) == 72
    i = tags.index(0xF100)
    before = len(img.header.serialize()) + sum(len(s.serialize()) for s in img.subelements[:i])
    assert img.subelements[i].data == hashlib.sha256(data[:before]).digest()
    # ours: parse_ota and verify_file
    sig = FF.parse_ota(data)["signature"]
    assert sig["key_id"] == kid and sig["signed_end"] == len(data) - 64
    assert sig["offset"] == len(data) - 78
    assert sig["r"] == int.from_bytes(data[-64:-32], "big")
    assert sig["s"] == int.from_bytes(data[-32:], "big")
    assert signing.verify_file(data, [_pub(TEST_PUB)]) == (signing.VALID, kid)
    assert signing.verify_file(data, [_pub(OTHER_PUB), _pub(TEST_PUB)]) == (signing.VALID, kid)
    assert signing.verify_file(data, [_pub(OTHER_PUB)]) == (signing.UNKNOWN, kid)
    assert signing.verify_file(data) == (signing.UNCHECKED, kid)
    # the firmware's verifier (CPython, through the shim): needs its 0xF102 support
    assert _verify(data, hmac_key=kw.get("hmac_key"), eui64=kw.get("destination")) == "ok"
    other = TR.load((signing.sec1(OTHER_KEY),))
    assert _verify(data, keys=other, eui64=kw.get("destination")) == "signed by an unknown key"


def test_signature_covers_every_byte_but_r_s():
    data = FF.make_ota(_PAYLOADS["small"], V2, hw_min=1, hw_max=2, sign_key=TEST_KEY)
    pubs = [_pub(TEST_PUB)]
    n = len(data)
    # header, payload, SHA-256 element, the signature element's tag, length, r, s
    for off in (0, 10, 52, 70, n - 100, n - 80, n - 76, n - 73, n - 64, n - 1):
        bad = bytearray(data)
        bad[off] ^= 0x40
        try:
            verdict = signing.verify_file(bytes(bad), pubs)[0]
        except FF.OtaFormatError:
            continue  # the flip broke the structure (a length): refused as well
        assert verdict == signing.BAD, off
        with pytest.raises(InvalidSignature):
            check_signature(bytes(bad))
    bad = bytearray(data)
    bad[n - 70] ^= 1  # key id: names another (unknown) key
    assert signing.verify_file(bytes(bad), pubs)[0] == signing.UNKNOWN
    # r = 0, s = 0, s = n: refused, not an exception
    for r, s in ((0, 1), (1, 0), (1, 2**256 - 1)):
        forged = data[:-64] + r.to_bytes(32, "big") + s.to_bytes(32, "big")
        assert signing.verify_file(forged, pubs)[0] == signing.BAD


def test_parse_refuses_anything_after_the_signature():
    data = FF.make_ota(_PAYLOADS["small"], V2, sign_key=TEST_KEY)
    for tail in (b"\0", b"x" * 6, FF.sub_element(0x0004, b"late")):
        with pytest.raises(FF.OtaFormatError, match="after the signature"):
            FF.parse_ota(data + tail)
    # a signature element of another length
    short = FF.make_ota(_PAYLOADS["small"], V2)
    with pytest.raises(FF.OtaFormatError, match="not 72"):
        FF.parse_ota(short + FF.sub_element(0xF102, bytes(71)))
    # garbage never escapes as struct.error / IndexError
    for junk in (b"", b"\x1e\xf1\xee\x0b", data[:55], data[:60], os.urandom(300)):
        with pytest.raises(FF.OtaFormatError):
            FF.parse_ota(junk)
    hdr = bytearray(data[:56])
    hdr[8:10] = (7).to_bytes(2, "little")  # field control: every optional field, length 56
    with pytest.raises(FF.OtaFormatError, match="header length"):
        FF.parse_ota(bytes(hdr))


def test_signing_keys(tmp_path):
    pub = _pub(TEST_PUB)
    point = signing.sec1(TEST_KEY)
    assert len(point) == 65 and point[0] == 4 and point == signing.sec1(pub)
    assert signing.key_id(TEST_KEY) == signing.key_id(pub) == _kid(pub)
    assert signing.key_id(OTHER_KEY) != signing.key_id(TEST_KEY)
    kid, r, s = signing.sign(b"message", TEST_KEY)
    assert kid == _kid(pub) and r > 0 and s > 0
    pub.verify(encode_dss_signature(r, s), b"message", ec.ECDSA(hashes.SHA256()))
    # several keys per PEM file; a private key block counts as its public half
    both = tmp_path / "both.pem"
    both.write_bytes(_read(TEST_PUB) + b"\n" + _read(OTHER_PEM))
    ids = [signing.key_id(k) for k in signing.load_public_keys(str(both))]
    assert ids == [signing.key_id(TEST_KEY), signing.key_id(OTHER_KEY)]
    # the firmware's trust loader reads the same .pub.pem and names the key by the same id
    assert list(TR.pem_points(_read(TEST_PUB).decode())) == [point]
    assert list(TR.load((point,))) == [signing.key_id(pub)]
    # bad keys: one-line errors
    p384 = tmp_path / "p384.pem"
    p384.write_bytes(signing.private_pem(ec.generate_private_key(ec.SECP384R1())))
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n")
    cases = [(str(tmp_path / "missing.pem"), "cannot read"), (TEST_PUB, "not a PEM private"),
             (str(p384), "not P-256"), (str(garbage), "not a PEM private"),
             (str(tmp_path), "cannot read")]  # fmt: skip
    for path, msg in cases:
        with pytest.raises(signing.KeyFileError, match=msg) as e:
            signing.load_private_key(path)
        assert "\n" not in str(e.value)
    for path, msg in [(TEST_PUB.replace(".pub", ".nope"), "cannot read"),
                      (os.path.join(paths.ROOT, "README.md"), "no PEM public key"),
                      (str(p384), "not P-256")]:  # fmt: skip
        with pytest.raises(signing.KeyFileError, match=msg):
            signing.load_public_keys(path)


def test_dev_key(tmp_path):
    path = str(tmp_path / "keys" / "dev-ota-p256.pem")
    key = signing.dev_key(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert signing.key_id(signing.dev_key(path)) == signing.key_id(key)  # kept, not replaced
    assert signing.load_public_keys(path[:-4] + ".pub.pem")[0].public_numbers() == (
        key.public_key().public_numbers()
    )
    data = FF.make_ota(_PAYLOADS["small"], V2, sign_key=key)
    assert signing.verify_file(data, [key.public_key()]) == (signing.VALID, signing.key_id(key))
    line = signing.firmware_line(key)
    assert signing.sec1(key).hex()[:66] in line and signing.key_id(key).hex() in line
    assert signing.DEV_KEY.startswith(os.path.join(paths.ROOT, "build"))


def zigpy_file(payload, version=V2, hw=None, sign_key=None):
    fc = Z.FieldControl(0)
    extra = {}
    if hw:
        fc = Z.FieldControl.HARDWARE_VERSIONS_PRESENT
        extra = dict(minimum_hardware_version=Z.HWVersion(hw[0]),
                     maximum_hardware_version=Z.HWVersion(hw[1]))  # fmt: skip
    hl = 56 + (4 if hw else 0)

    def header(size):
        return Z.OTAImageHeader(
            upgrade_file_id=Z.OTAImageHeader.MAGIC_VALUE, header_version=0x0100,
            header_length=hl, field_control=fc, manufacturer_id=FF.MANUFACTURER_CODE,
            image_type=0x0100, file_version=version, stack_version=2,
            header_string="zigpy built", image_size=size, **extra,
        )  # fmt: skip

    img = Z.SubElement(tag_id=Z.ElementTagId.UPGRADE_IMAGE, data=Z.LVBytes32(payload))
    size = hl + 6 + len(payload) + 6 + 32 + (78 if sign_key else 0)
    covered = header(size).serialize() + img.serialize()
    dig = Z.SubElement(
        tag_id=Z.ElementTagId(0xF100), data=Z.LVBytes32(hashlib.sha256(covered).digest())
    )
    elements = [img, dig]
    if sign_key:
        # zigpy carries the element; the signature over zigpy's bytes is made here
        head = (0xF102).to_bytes(2, "little") + (72).to_bytes(4, "little")
        head += signing.key_id(sign_key)
        r, s = signing.sign(covered + dig.serialize() + head, sign_key)[1:]
        sig = head[6:] + r.to_bytes(32, "big") + s.to_bytes(32, "big")
        elements.append(Z.SubElement(tag_id=Z.ElementTagId(0xF102), data=Z.LVBytes32(sig)))
    return Z.OTAImage(header=header(size), subelements=elements).serialize()


def test_firmware_accepts_zigpy_file(tmp_path):
    # Needs the firmware to accept signed images (the unix-port part too).
    unsigned = zigpy_file(FF.make_bundle(FILES, V2), hw=(0x0100, 0x0100))
    assert _verify(unsigned) == "unsigned"
    assert _verify(unsigned, allow_unsigned=True) == "ok"
    data = zigpy_file(FF.make_bundle(FILES, V2), hw=(0x0100, 0x0100), sign_key=TEST_KEY)
    assert check_signature(data) == signing.key_id(TEST_KEY)
    assert FF.parse_ota(data)["size_ok"]
    assert _verify(data) == "ok"
    assert _verify(data, hw=0x0200) == "wrong hardware"
    assert _verify(data, running=V2) == "not newer"
    bad = bytearray(data)
    bad[80] ^= 1
    assert _verify(bytes(bad)) == "bad digest"
    # on the unix port, through the local-update path (verify only), on a device image that
    # trusts the test key
    f = tmp_path / "zigpy.ota"
    f.write_bytes(data)
    flash = flash_image(tmp_path / "flash.img")
    before = flash.read_bytes()
    cmd = [sys.executable, "-m", "host_tools.ota", "apply", str(f), "--unix-flash", str(flash)]
    r = subprocess.run(cmd + ["--dry-run"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "verified" in r.stdout
    assert flash.read_bytes() == before


def test_cli_build_inspect_apply(tmp_path, capsys):
    # Needs the firmware to accept signed images.
    src = tmp_path / "tree"
    for rel, data in FILES:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_bytes(data)
    out = tmp_path / "fw.ota"
    assert cli.main(["build", "--version", "0.2.0.0", "--out", str(out), "--files", str(src),
                     "--hw-min", "0x0100", "--hw-max", "0x01FF",
                     "--sign", TEST_PEM]) == 0  # fmt: skip
    data = out.read_bytes()
    Z.parse_ota_image(data)
    check_signature(data)
    assert cli.main(["inspect", str(out), "--trust", TEST_PUB]) == 0
    text = capsys.readouterr().out
    assert "0x0BEEF11E" in text and "0.2.0.0" in text and "SHA-256 element: ok" in text
    assert "ihd/hello.py" in text and "0x0100 .. 0x01FF" in text
    assert "signature: valid (key id %s)" % signing.key_id(TEST_KEY).hex() in text
    flash = flash_image(tmp_path / "flash.img", {"keep.txt": b"kept"})
    assert cli.main(["apply", str(out), "--unix-flash", str(flash)]) == 0
    assert "activated" in capsys.readouterr().out
    # a second local update is refused until the first one has confirmed its health
    assert cli.main(["apply", str(out), "--unix-flash", str(flash)]) == 1
    bad = tmp_path / "bad.ota"
    bad.write_bytes(data[:-1] + bytes((data[-1] ^ 1,)))
    assert cli.main(["apply", str(bad), "--unix-flash", str(flash)]) == 1


@pytest.mark.parametrize("compiled", [True])
def test_build_from_firmware_tree(tmp_path, compiled):
    data = FF.build_firmware_ota(V2, "unix", compiled=compiled, sign_key=TEST_KEY)
    ver, entries, contents = FF.parse_bundle(FF.upgrade_image(data))
    paths = [e[0] for e in entries]
    assert ver == V2 and "main.py" not in paths and "ihd/ota/boot.mpy" in paths
    assert "board.py" in paths and "ihd/__init__.mpy" in paths
    assert b"\x00\x02\x00\x00" in contents["ihd/__init__.mpy"] or len(contents["ihd/__init__.mpy"])
    img, _ = Z.parse_ota_image(data)
    assert img.header.file_version == V2 and img.serialize() == data
    assert check_signature(data) == signing.key_id(TEST_KEY)
    print("bench: firmware OTA file %d B, %d files, %d blocks of 48 B" % (
        len(data), len(entries), (len(data) + 47) // 48))  # fmt: skip
