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


def header(version, total, mfr=MFR, itype=ITYPE, hw=None, hv=0x0100, magic=0x0BEEF11E):
    fc = 0
    opt = b""
    if hw is not None:
        fc |= 4
        opt = struct.pack("<HH", hw[0], hw[1])
    hs = b"test" + bytes(28)
    return (
        struct.pack("<IHHHHHIH", magic, hv, 56 + len(opt), fc, mfr, itype, version, 2)
        + hs
        + struct.pack("<I", total)
        + opt
    )


def sub(tag, data):
    return struct.pack("<HI", tag, len(data)) + data


def ota(payload, version, digest=True, hmac_key=None, **kw):
    body = sub(0, payload)
    trailer = (38 if digest else 0) + (38 if hmac_key else 0)
    h0 = header(version, 0, **kw)
    total = len(h0) + len(body) + trailer
    covered = header(version, total, **kw) + body
    out = covered
    if digest:
        out += sub(0xF100, hashlib.sha256(covered).digest())
    if hmac_key:
        out += sub(0xF101, hmac(hmac_key, covered))
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
