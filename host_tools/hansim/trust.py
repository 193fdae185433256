"""The Comms Hub as trust centre (docs/joining.md, docs/scenario-format.md "trust_center").

* Device whitelist: EUI64 + install code. A joining NCP is admitted when the preconfigured key
  it was given (setInitialSecurityState) equals the AES-MMO hash of the whitelisted install code
  (+ CRC) for its EUI64.
* Hub availability (hub_offline event / control "hub"): while offline nothing is found by a
  scan, joins and rejoins fail and the joined NCP reports NETWORK_DOWN.
* Key Establishment server (cluster 0x0800, suite 2 = sect283k1) on the hub with stand-in
  crypto: the simulated NCP's CBKE commands and this server derive the same MACs from the two
  ephemeral "public keys" and the two EUI64s (SHA-256 instead of ECMQV; the firmware never sees
  the difference: it only moves opaque bytes). Faults: drop the first N EphemeralData requests
  (the initiator's wait times out), terminate the first N initiations (NO_RESOURCES + WaitTime).
"""

from __future__ import annotations

import hashlib
import logging
import struct
from typing import Any, Dict, List, Optional, Tuple

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from .zcl import T_MAP16, Cluster, Request

log = logging.getLogger("hansim.trust")

KE_CLUSTER = 0x0800
SUITE_283K1 = 0x0002
CERT_LEN = 74
PUBKEY_LEN = 37
_CERT_SUBJECT_OFF = 28  # 283k1 implicit certificate: subject EUI64 (big-endian) at 28..35

# TerminateKeyEstablishment status
KE_UNKNOWN_ISSUER = 0x01
KE_BAD_KEY_CONFIRM = 0x02
KE_BAD_MESSAGE = 0x03
KE_NO_RESOURCES = 0x04
KE_UNSUPPORTED_SUITE = 0x05
KE_INVALID_CERTIFICATE = 0x06


def crc16_x25(data: bytes) -> int:
    crc = 0xFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


def aes_mmo(msg: bytes) -> bytes:
    n = len(msg)
    total = (n + 3 + 15) // 16 * 16
    padded = msg + b"\x80" + bytes(total - n - 3) + struct.pack(">H", n * 8)
    h = bytes(16)
    for off in range(0, total, 16):
        blk = padded[off : off + 16]
        enc = Cipher(algorithms.AES(h), modes.ECB()).encryptor().update(blk)
        h = bytes(a ^ b for a, b in zip(enc, blk))
    return h


def parse_install_code(text: str) -> bytes:
    """Hex (spaces/dashes allowed), 6/8/12/16 bytes with or without the CRC -> code + CRC."""
    raw = bytes.fromhex(text.replace(" ", "").replace("-", "").replace(":", ""))
    if len(raw) in (6, 8, 12, 16):
        return raw + struct.pack("<H", crc16_x25(raw))
    if len(raw) - 2 not in (6, 8, 12, 16):
        raise ValueError("install code: 6, 8, 12 or 16 bytes (+2 CRC)")
    if struct.unpack_from("<H", raw, len(raw) - 2)[0] != crc16_x25(raw[:-2]):
        raise ValueError("install code: CRC mismatch")
    return raw


def link_key(code_with_crc: bytes) -> bytes:
    return aes_mmo(code_with_crc)


# ---- stand-in CBKE crypto shared by the simulated NCP and the KE server -------------------


def certificate(eui64_wire: bytes) -> bytes:
    """A 74-byte stand-in implicit certificate with the subject EUI64 where 283k1 puts it."""
    cert = bytearray(hashlib.sha256(b"cert" + eui64_wire).digest() * 3)[:CERT_LEN]
    cert[_CERT_SUBJECT_OFF : _CERT_SUBJECT_OFF + 8] = eui64_wire[::-1]
    return bytes(cert)


def cert_subject(cert: bytes) -> bytes:
    """-> subject EUI64 in wire (little-endian) order."""
    return bytes(cert[_CERT_SUBJECT_OFF : _CERT_SUBJECT_OFF + 8])[::-1]


def ephemeral_key(eui64_wire: bytes, n: int) -> bytes:
    return (b"\x03" + hashlib.sha256(b"eph%d" % n + eui64_wire).digest() * 2)[:PUBKEY_LEN]


def smacs(u_eui: bytes, v_eui: bytes, qeu: bytes, qev: bytes) -> Tuple[bytes, bytes]:
    """(MACU, MACV) for initiator U and responder V (the shape of SE 1.x C.4.2, not its math)."""
    z = hashlib.sha256(b"Z" + min(qeu, qev) + max(qeu, qev)).digest()
    macu = hashlib.sha256(z + b"\x02" + u_eui + v_eui + qeu + qev).digest()[:16]
    macv = hashlib.sha256(z + b"\x03" + v_eui + u_eui + qev + qeu).digest()[:16]
    return macu, macv


class TrustCenter:
    def __init__(self, spec: Optional[Dict[str, Any]]):
        spec = spec or {}
        self.devices: Dict[bytes, bytes] = {
            eui: link_key(code) for eui, code in spec.get("devices", [])
        }
        ke = spec.get("key_establishment", {})
        self.ke_drop_first = int(ke.get("drop_first", 0))
        self.ke_terminate_first = int(ke.get("terminate_first", 0))
        self.ke_wait_s = int(ke.get("wait_s", 2))
        self.ke_ephemeral_s = int(ke.get("ephemeral_data_generate_s", 2))
        self.ke_confirm_s = int(ke.get("confirm_key_generate_s", 2))
        self.hub_online = True
        self.admitted: List[bytes] = []
        self.key_established: List[bytes] = []
        self.counters = {"joins_ok": 0, "joins_refused": 0, "ke_ok": 0, "ke_failed": 0}

    def admits(self, eui64: bytes, preconfigured_key: Optional[bytes]) -> bool:
        want = self.devices.get(eui64)
        ok = want is not None and preconfigured_key == want
        self.counters["joins_ok" if ok else "joins_refused"] += 1
        if ok:
            self.admitted.append(eui64)
        log.info("trust centre %s %s", "admits" if ok else "refuses", eui64[::-1].hex(":"))
        return ok


class KeyEstablishmentServer(Cluster):
    """Cluster 0x0800 server on the hub (responder V)."""

    cluster_id = KE_CLUSTER
    name = "key_establishment"

    def __init__(self, device: Any, endpoint: int, tc: TrustCenter):
        self.tc = tc
        self.sessions: Dict[int, Dict[str, Any]] = {}
        self.n = 0
        super().__init__(device, endpoint)

    def setup(self) -> None:
        self.attr(0x0000, T_MAP16, SUITE_283K1, name="KeyEstablishmentSuite")
        self.on(0x00, self._initiate)
        self.on(0x01, self._ephemeral)
        self.on(0x02, self._confirm)
        self.on(0x03, self._terminate)

    def _term(self, req: Request, status: int, wait_s: Optional[int] = None) -> None:
        self.sessions.pop(req.src, None)
        self.tc.counters["ke_failed"] += 1
        wait = self.tc.ke_wait_s if wait_s is None else wait_s
        req.reply(0x03, struct.pack("<BBH", status, wait, SUITE_283K1))

    def _initiate(self, req: Request) -> None:
        p = req.payload
        suite, _eph_t, _conf_t = struct.unpack_from("<HBB", p)
        cert = p[4 : 4 + CERT_LEN]
        if suite != SUITE_283K1:
            self._term(req, KE_UNSUPPORTED_SUITE)
            return
        if len(cert) != CERT_LEN:
            self._term(req, KE_BAD_MESSAGE)
            return
        if self.tc.ke_terminate_first > 0:
            self.tc.ke_terminate_first -= 1
            self._term(req, KE_NO_RESOURCES)
            return
        u_eui = cert_subject(cert)
        self.sessions[req.src] = {"u": u_eui, "cert": cert}
        mine = certificate(self.device.eui64)
        req.reply(
            0x00,
            struct.pack("<HBB", SUITE_283K1, self.tc.ke_ephemeral_s, self.tc.ke_confirm_s) + mine,
        )

    def _ephemeral(self, req: Request) -> None:
        s = self.sessions.get(req.src)
        if s is None:
            self._term(req, KE_BAD_MESSAGE)
            return
        if self.tc.ke_drop_first > 0:
            self.tc.ke_drop_first -= 1
            req.answered = True  # "busy generating": never answers this one
            log.info("KE: dropping EphemeralDataRequest (fault)")
            return
        qeu = bytes(req.payload[:PUBKEY_LEN])
        if len(qeu) != PUBKEY_LEN:
            self._term(req, KE_BAD_MESSAGE)
            return
        self.n += 1
        qev = ephemeral_key(self.device.eui64, self.n)
        s["macu"], s["macv"] = smacs(s["u"], self.device.eui64, qeu, qev)
        req.reply(0x01, qev)

    def _confirm(self, req: Request) -> None:
        s = self.sessions.pop(req.src, None)
        if s is None or "macu" not in s:
            self._term(req, KE_BAD_MESSAGE)
            return
        if bytes(req.payload[:16]) != s["macu"]:
            self._term(req, KE_BAD_KEY_CONFIRM)
            return
        self.tc.counters["ke_ok"] += 1
        self.tc.key_established.append(s["u"])
        req.reply(0x02, s["macv"])

    def _terminate(self, req: Request) -> None:
        self.sessions.pop(req.src, None)
        req.answered = True
