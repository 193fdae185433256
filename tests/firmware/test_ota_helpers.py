# Shared helpers for the OTA firmware tests (no tests here): a MicroPython-side builder of OTA
# files and bundles (mirrors host_tools/ota/fileformat.py, which tests/host checks against
# zigpy), a RAM flash mounted at /flash, and a scripted OTA server for a fake ZCL.
import hashlib
import struct

from ihd.ota import boot

MFR = 0xFFF1
ITYPE = 0x0100
RUNNING = 0x00010000
HW = 0x0100
ROOT = "/flash"
BLOCK_SIZE = 512
BLOCK_COUNT = 160


def bundle(files, version):
    man = bytearray()
    for path, data in files:
        p = path if isinstance(path, bytes) else path.encode()  # bytes: a raw (bad) path
        man += bytes((len(p),)) + p + struct.pack("<I", len(data)) + hashlib.sha256(data).digest()
    out = bytearray(b"IHB1" + struct.pack("<HHI", len(files), len(man), version))
    out += man
    for _, data in files:
        out += data
    return bytes(out)


def header(version, total, mfr=MFR, itype=ITYPE, hw=None, hv=0x0100, magic=0x0BEEF11E,
           dest=None):  # fmt: skip
    # dest: upgrade file destination (EUI64, wire order): a device-specific file
    fc = 0
    opt = b""
    if dest is not None:
        fc |= 2
        opt += dest
    if hw is not None:
        fc |= 4
        opt += struct.pack("<HH", hw[0], hw[1])
    hs = b"test" + bytes(28)
    return (
        struct.pack("<IHHHHHIH", magic, hv, 56 + len(opt), fc, mfr, itype, version, 2)
        + hs
        + struct.pack("<I", total)
        + opt
    )


def sub(tag, data):
    return struct.pack("<HI", tag, len(data)) + data


# The test signer (tests/ota_keys/ota-test-p256.pem; tests/host/test_ota_trust.py checks these
# numbers against the PEM files with `cryptography`) and the untrusted other key.
TEST_D = 0xE10CDFBBC9CF7CED5AB549297F1957CAE3E12366FC360A679CE6545A0BBC6DBE
TEST_PUB = bytes.fromhex(
    "04de3fb138a64d1ebf07d8ebb2299d321aecb5ec6a1d83eb9e2c4045882bcc1d84"
    "d5bedad107ffb9dcce2df65943e5da4772198fcce5be636827e464e4400b1616"
)
OTHER_D = 0xC26D9454AC1F6994DFEAF6F882BFABFA51A30F0F062A33977BB04394C3EA61AA
OTHER_PUB = bytes.fromhex(
    "04b2ee46baf83e9a12f8256176f4405bb6ae7793099612a35d62f39308795bfcec"
    "2e6a7dea63acae03c9485b86f9e1e638c8a40b7861d898d66f6a44a893832c99"
)
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def trusted_keys():
    # {key id: point}: what the device trusts in these tests (the test signer only).
    from ihd.ota import p256

    return {p256.key_id(TEST_PUB): p256.decode_point(TEST_PUB)}


def sign(message, d=TEST_D, pub=TEST_PUB, k=None):
    # -> the 72-byte signature element data: key id || r || s (docs/ota.md "Signature").
    # Test-side ECDSA on the firmware's own point arithmetic; cryptography is the referee
    # for the real signer (host_tools/ota/signing.py, tests/host/test_p256_referee.py).
    from ihd.ota import p256

    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    if k is None:
        k = int.from_bytes(hashlib.sha256(b"k" + message).digest(), "big") % (_N - 1) + 1
    r = p256.mul_g(k)[0] % _N
    s = pow(k, _N - 2, _N) * (e + r * d) % _N
    return p256.key_id(pub) + r.to_bytes(32, "big") + s.to_bytes(32, "big")


def ota(payload, version, digest=True, hmac_key=None, signed=True, signer=(TEST_D, TEST_PUB),
        **kw):  # fmt: skip
    # signed: append the 0xF102 signature element (last), by `signer` (d, public point).
    body = sub(0, payload)
    trailer = (38 if digest else 0) + (38 if hmac_key else 0) + (78 if signed else 0)
    h0 = header(version, 0, **kw)
    total = len(h0) + len(body) + trailer
    covered = header(version, total, **kw) + body
    out = covered
    if digest:
        out += sub(0xF100, hashlib.sha256(covered).digest())
    if hmac_key:
        out += sub(0xF101, hmac(hmac_key, covered))
    if signed:
        from ihd.ota import p256

        head = out + struct.pack("<HI", 0xF102, 72) + p256.key_id(signer[1])
        out = head + sign(head, signer[0], signer[1])[8:]
    return out


def hmac(key, msg):
    k = key + bytes(64 - len(key))
    i = hashlib.sha256(bytes(b ^ 0x36 for b in k))
    i.update(msg)
    o = hashlib.sha256(bytes(b ^ 0x5C for b in k))
    o.update(i.digest())
    return o.digest()


def app_files(version, marker="new"):
    # A tiny application tree: ihd package with its FILE_VERSION, plus a module to import.
    return [
        ("ihd/__init__.py", b"VERSION = '%s'\nFILE_VERSION = %d\n" % (marker.encode(), version)),
        ("ihd/hello.py", b"WHO = '%s'\n" % marker.encode()),
        ("drivers/blob.bin", bytes(range(256)) * 3),
    ]


def app_ota(version, marker="new", **kw):
    return ota(bundle(app_files(version, marker), version), version, **kw)


class Flash:
    # A RAM flash with littlefs mounted at /flash; reboot() = fresh mount over the same bytes.
    def __init__(self, data=None):
        from blockdev import RamBlockDev
        from ihd.runtime import storage

        self.dev = RamBlockDev(BLOCK_SIZE, BLOCK_COUNT, data)
        self.st = storage.mount(self.dev, ROOT)

    def reboot(self):
        # Power cut: the flash bytes as they are now (nothing flushed or closed first).
        snap = bytes(self.dev.data)
        self.umount()
        return Flash(snap)

    def umount(self):
        try:
            self.st.umount()
        except OSError:
            pass


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)


def selected_tree(root=ROOT):
    # What a boot would run: (slot, FILE_VERSION read from the slot) without touching sys.path.
    slot, rec = boot.decide(root)
    if slot == boot.FACTORY:
        return "factory", RUNNING
    d = boot.slot_dir(root, slot)
    with open(d + "/ihd/__init__.py") as f:
        src = f.read()
    v = int(src.split("FILE_VERSION = ")[1].split()[0])
    return boot.NAMES[slot], v
