# Zigbee install codes (Zigbee 3.0 / SE 1.2 "Installation Code"): CRC check and derivation of
# the preconfigured trust-centre link key = AES-MMO hash (Matyas-Meyer-Oseas, Zigbee spec B.6)
# of the code with its CRC-16 appended little-endian. See docs/joining.md.
# SPDX-License-Identifier: MIT
#
# The code is a secret shared with the trust centre (the installer registers it with the Comms
# Hub): it is provisioned to flash, shown to the installer on the Status screen until the
# device has joined, and never logged.
import struct

from ihd.runtime import atomic
from micropython import const

PATH = "/flash/install_code"
_SIZES = (6, 8, 12, 16)  # code lengths without the CRC (Zigbee 3.0 / SE 1.2)
_ECB = const(1)
_BLOCK = const(16)


class InstallCodeError(ValueError):
    pass


# CRC-16/X-25 (ITU-T x^16+x^12+x^5+1, reflected, init and final XOR 0xFFFF), as the Zigbee
# install code CRC (SiLabs AN1089).
def crc16(data):
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


# Bytes of an install code from text: hex with optional spaces / dashes / colons, 6, 8, 12 or 16
# bytes of code, with or without the trailing CRC. -> code + CRC (validated when given).
def parse(text):
    h = text.replace(" ", "").replace("-", "").replace(":", "")
    try:
        raw = bytes.fromhex(h)
    except ValueError:
        raise InstallCodeError("not hex") from None
    if len(raw) in _SIZES:
        return with_crc(raw)
    check(raw)
    return raw


def with_crc(code):
    if len(code) not in _SIZES:
        raise InstallCodeError("bad length %d" % len(code))
    return bytes(code) + struct.pack("<H", crc16(code))


# Raises InstallCodeError unless `full` is a code of a valid length followed by its CRC.
def check(full):
    n = len(full) - 2
    if n not in _SIZES:
        raise InstallCodeError("bad length %d" % len(full))
    if struct.unpack_from("<H", full, n)[0] != crc16(full[:n]):
        raise InstallCodeError("CRC mismatch")


# AES-MMO hash (Zigbee spec B.6): pad M || 0x80 || 0.. || bit length (u16 BE) to whole blocks;
# h0 = 0; h_j = E(key=h_{j-1}, M_j) XOR M_j. Messages shorter than 2^16 bits only.
def aes_mmo(msg):
    import cryptolib  # here, so the module imports on hosts without it (CPython)

    n = len(msg)
    total = (n + 1 + 2 + _BLOCK - 1) // _BLOCK * _BLOCK
    buf = bytearray(total)
    buf[:n] = msg
    buf[n] = 0x80
    struct.pack_into(">H", buf, total - 2, n * 8)
    h = bytearray(_BLOCK)
    for off in range(0, total, _BLOCK):
        blk = bytes(buf[off : off + _BLOCK])
        out = cryptolib.aes(bytes(h), _ECB).encrypt(blk)
        for i in range(_BLOCK):
            h[i] = out[i] ^ blk[i]
    return bytes(h)


# Link key (16 bytes) from code + CRC (as parse() returns it); the CRC is checked first.
def link_key(full):
    check(full)
    return aes_mmo(full)


# "83FE D340 7A93 9723 A5C6 39B2 6916 D505 C3B5": the form printed on labels (Status screen).
def text(full):
    h = "".join("%02X" % b for b in full)
    return " ".join(h[i : i + 4] for i in range(0, len(h), 4))


def load(path=PATH):
    raw = atomic.read(path)
    if not raw:
        return None
    try:
        check(raw)
    except InstallCodeError:
        return None
    return raw


def store(full, path=PATH):
    check(full)
    atomic.write(path, bytes(full))
