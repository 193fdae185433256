"""EZSP NCP emulation (EmberZNet), v13 and v14 frame layouts (ezsp-ash.md 2-3).

`EzspNcp.handle(frame)` takes one EZSP frame from ASH and queues the response (and any
callbacks it triggers, always after the response) through `send(bytes)`. The simulated HAN is
reached through `han`, an object with `deliver_from_ncp(dest, aps, payload) -> bool` and
`network_up(bool)`.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import trust
from .scenario import eui64_str

log = logging.getLogger("hansim.ezsp")

# frame ids
VERSION = 0x0000
ADD_ENDPOINT = 0x0002
NOP = 0x0005
GET_MFG_TOKEN = 0x000B
SET_MANUFACTURER_CODE = 0x0015
NETWORK_INIT = 0x0017
NETWORK_STATE = 0x0018
STACK_STATUS_HANDLER = 0x0019
START_SCAN = 0x001A
NETWORK_FOUND_HANDLER = 0x001B
SCAN_COMPLETE_HANDLER = 0x001C
JOIN_NETWORK = 0x001F
LEAVE_NETWORK = 0x0020
FIND_AND_REJOIN_NETWORK = 0x0021
PERMIT_JOINING = 0x0022
GET_EUI64 = 0x0026
GET_NODE_ID = 0x0027
GET_NETWORK_PARAMETERS = 0x0028
SEND_UNICAST = 0x0034
MESSAGE_SENT_HANDLER = 0x003F
INCOMING_MESSAGE_HANDLER = 0x0045
CUSTOM_FRAME = 0x0047
GET_CONFIGURATION_VALUE = 0x0052
SET_CONFIGURATION_VALUE = 0x0053
SET_POLICY = 0x0055
GET_POLICY = 0x0056
INVALID_COMMAND = 0x0058
SET_INITIAL_SECURITY_STATE = 0x0068
GET_CURRENT_SECURITY_STATE = 0x0069
ECHO = 0x0081
GET_VALUE = 0x00AA
SET_VALUE = 0x00AB
GENERATE_CBKE_KEYS_283K1 = 0x00E8
GENERATE_CBKE_KEYS_HANDLER_283K1 = 0x00E9
CALCULATE_SMACS_283K1 = 0x00EA
CALCULATE_SMACS_HANDLER_283K1 = 0x00EB
GET_CERTIFICATE_283K1 = 0x00EC
CLEAR_TEMPORARY_DATA_MAYBE_STORE_LINK_KEY_283K1 = 0x00EE

# Link quality and RSSI of every frame handed up (incomingMessageHandler): one steady link.
RX_LQI = 220

# EmberStatus (u8, v13) and the sl_status_t (u32, v14) we send for it
SUCCESS = 0x00
ERR_FATAL = 0x01
BAD_ARGUMENT = 0x02
DELIVERY_FAILED = 0x66
INVALID_CALL = 0x70
NETWORK_UP = 0x90
NETWORK_DOWN = 0x91
NOT_JOINED = 0x93
JOIN_FAILED = 0x94
_EMBER_TO_SL = {
    SUCCESS: 0x0000,
    ERR_FATAL: 0x0001,
    BAD_ARGUMENT: 0x0021,
    DELIVERY_FAILED: 0x0C02,
    INVALID_CALL: 0x0002,
    NETWORK_UP: 0x0015,
    NETWORK_DOWN: 0x0016,
    NOT_JOINED: 0x0017,
    # No documented sl_status for EMBER_JOIN_FAILED (ezsp-ash.md 6.7): the v14 simulation
    # reports a refused join as NOT_JOINED ("no network"); docs/joining.md.
    JOIN_FAILED: 0x0017,
}

# EzspStatus
EZSP_SUCCESS = 0x00
EZSP_ERROR_VERSION_NOT_SET = 0x30
EZSP_ERROR_INVALID_FRAME_ID = 0x31
EZSP_ERROR_INVALID_VALUE = 0x36
EZSP_ERROR_INVALID_ID = 0x37
EZSP_ERROR_INVALID_CALL = 0x38
_EZSP_TO_SL = {
    EZSP_SUCCESS: 0x0000,
    EZSP_ERROR_INVALID_ID: 0x0021,
    EZSP_ERROR_INVALID_VALUE: 0x0021,
    EZSP_ERROR_INVALID_CALL: 0x0002,
}

# EmberNetworkStatus
NO_NETWORK = 0
JOINED_NETWORK = 2

VALUE_VERSION_INFO = 0x11
VALUE_NODE_SHORT_ID = 0x0B
VALUE_FREE_BUFFERS = 0x03

STACK_TYPE_MESH = 2

# EmberApsOption: set in the apsFrame of incomingMessageHandler when the frame was
# APS-encrypted (the firmware reads it as `secured`: ihd/zigbee/ezsp.py)
APS_OPTION_ENCRYPTION = 0x0020

_DEFAULT_CONFIG = {
    0x01: 255,
    0x02: 16,
    0x03: 10,
    0x04: 2,
    0x05: 8,
    0x06: 4,
    0x07: 16,
    0x08: 8,
    0x0C: 2,
    0x0D: 5,
    0x10: 30,
    0x11: 6,
    0x12: 7680,
    0x13: 5,
    0x17: 0,
    0x18: 0,
    0x19: 2,
    0x1A: 7,
    0x1E: 4,
    0x29: 1,
    0x2A: 0,
    0x2B: 15,
    0x2D: 1,
    0x34: 16,
}


def aps_frame(
    profile: int, cluster: int, src_ep: int, dst_ep: int, options: int, group: int, seq: int
) -> bytes:
    return struct.pack("<HHBBHHB", profile, cluster, src_ep, dst_ep, options, group, seq)


class ApsFrame:
    def __init__(self, data: bytes):
        (
            self.profile,
            self.cluster,
            self.src_ep,
            self.dst_ep,
            self.options,
            self.group,
            self.seq,
        ) = struct.unpack_from("<HHBBHHB", data)

    def pack(self) -> bytes:
        return aps_frame(
            self.profile,
            self.cluster,
            self.src_ep,
            self.dst_ep,
            self.options,
            self.group,
            self.seq,
        )


class NcpConfig:
    def __init__(
        self,
        version: int = 13,
        eui64: bytes = bytes(8),
        node_id: int = 0xFFFE,
        pan_id: int = 0x1A62,
        extended_pan_id: bytes = bytes(8),
        channel: int = 15,
        node_type: int = 2,
        commissioned: bool = True,
        stack_version: Tuple[int, int, int, int] = (7, 4, 4, 0),
        build: int = 0,
    ):
        self.version = version
        self.eui64 = eui64  # little-endian wire order
        self.node_id = node_id
        self.pan_id = pan_id
        self.extended_pan_id = extended_pan_id
        self.channel = channel
        self.node_type = node_type
        self.commissioned = commissioned
        self.stack_version = stack_version
        self.build = build


class EzspNcp:
    def __init__(self, cfg: NcpConfig, send: Callable[[bytes], None], han: Any = None):
        self.cfg = cfg
        self.send = send
        self.han = han
        self.response_delay_s = 0.0  # slow_responses fault on the NCP itself
        self.counters = {"commands": 0, "invalid": 0, "unicasts": 0, "callbacks": 0}
        self.endpoints: Dict[int, Tuple[int, List[int], List[int]]] = {}
        self.cbke_n = 0
        self.cbke_stored = 0  # link keys stored by clearTemporaryDataMaybeStoreLinkKey283k1
        self.reset()

    # ---- state ----------------------------------------------------------------------------

    def reset(self) -> None:
        # NCP power cycle / RST: RAM state lost, NVM (commissioning) kept.
        self.version_set = False
        self.extended = False
        self.last_seq = 0
        self.network_up = False
        self.aps_seq = 0
        self.config = dict(_DEFAULT_CONFIG)
        self.config_locked = False
        self.policies: Dict[int, int] = {}
        self.values: Dict[int, bytes] = {}
        self.endpoints = {}
        self.security_state: Optional[bytes] = None
        self.cbke_eph: Optional[bytes] = None
        if self.han is not None:
            self.han.network_up(False)

    @property
    def v14(self) -> bool:
        return self.cfg.version >= 14

    def st(self, ember_status: int) -> bytes:
        if self.v14:
            return struct.pack("<I", _EMBER_TO_SL.get(ember_status, 0x0001))
        return bytes((ember_status,))

    def ezsp_st(self, ezsp_status: int) -> bytes:
        if self.v14:
            return struct.pack("<I", _EZSP_TO_SL.get(ezsp_status, 0x0001))
        return bytes((ezsp_status,))

    # ---- framing --------------------------------------------------------------------------

    def _frame(
        self, seq: int, frame_id: int, params: bytes, callback: bool, legacy: bool = False
    ) -> bytes:
        fc = 0x90 if callback else 0x80
        if legacy:
            return bytes((seq, fc, frame_id & 0xFF)) + params
        return bytes((seq, fc, 0x01)) + struct.pack("<H", frame_id) + params

    def _respond(self, seq: int, frame_id: int, params: bytes, legacy: bool) -> None:
        frame = self._frame(seq, frame_id, params, False, legacy)
        if self.response_delay_s > 0:
            asyncio.get_running_loop().call_later(self.response_delay_s, self.send, frame)
        else:
            self.send(frame)

    def callback(self, frame_id: int, params: bytes) -> None:
        if not self.version_set:
            return
        self.counters["callbacks"] += 1
        frame = self._frame(self.last_seq, frame_id, params, True)
        if self.response_delay_s > 0:
            # keep callbacks behind the delayed response they follow
            asyncio.get_running_loop().call_later(self.response_delay_s + 0.001, self.send, frame)
        else:
            self.send(frame)

    def handle(self, frame: bytes) -> None:
        if len(frame) < 3:
            return
        seq = frame[0]
        if frame[2] & 0x03 == 0x01 and len(frame) >= 5:
            legacy = False
            frame_id = frame[3] | frame[4] << 8
            params = frame[5:]
        else:
            legacy = True
            frame_id = frame[2]
            params = frame[3:]
        self.last_seq = seq
        self.counters["commands"] += 1
        if frame_id == VERSION:
            self._version(seq, params, legacy)
            return
        if not self.version_set:
            self._invalid(seq, EZSP_ERROR_VERSION_NOT_SET, legacy)
            return
        handler = self._handlers().get(frame_id)
        if handler is None:
            log.info("unknown EZSP frame id 0x%04x", frame_id)
            self._invalid(seq, EZSP_ERROR_INVALID_FRAME_ID, legacy)
            return
        try:
            result = handler(params)
        except (struct.error, IndexError, ValueError) as e:
            log.warning("bad params for 0x%04x: %s (%s)", frame_id, params.hex(), e)
            self._invalid(seq, EZSP_ERROR_INVALID_VALUE, legacy)
            return
        if isinstance(result, tuple):
            rsp, after = result
        else:
            rsp, after = result, None
        self._respond(seq, frame_id, rsp, legacy)
        if after is not None:
            after()

    def _invalid(self, seq: int, reason: int, legacy: bool) -> None:
        self.counters["invalid"] += 1
        params = struct.pack("<I", reason) if self.v14 else bytes((reason,))
        self._respond(seq, INVALID_COMMAND, params, legacy)

    def _version(self, seq: int, params: bytes, legacy: bool) -> None:
        desired = params[0] if params else 0
        ours = self.cfg.version
        if desired == ours:
            self.version_set = True
            self.extended = not legacy
        major, minor, patch, _special = self.cfg.stack_version
        stack = (major << 12) | (minor << 8) | (patch << 4)
        self._respond(seq, VERSION, struct.pack("<BBH", ours, STACK_TYPE_MESH, stack), legacy)

    def _handlers(self) -> Dict[int, Callable[[bytes], Any]]:
        return {
            NOP: lambda p: b"",
            ECHO: lambda p: p,
            GET_MFG_TOKEN: self._get_mfg_token,
            SET_MANUFACTURER_CODE: lambda p: self.st(SUCCESS) if self.v14 else b"",
            ADD_ENDPOINT: self._add_endpoint,
            NETWORK_INIT: self._network_init,
            NETWORK_STATE: self._network_state,
            JOIN_NETWORK: self._join_network,
            LEAVE_NETWORK: self._leave_network,
            FIND_AND_REJOIN_NETWORK: self._rejoin,
            PERMIT_JOINING: lambda p: self.st(SUCCESS),
            GET_EUI64: lambda p: self.cfg.eui64,
            GET_NODE_ID: lambda p: struct.pack("<H", self.cfg.node_id),
            GET_NETWORK_PARAMETERS: self._get_network_parameters,
            SEND_UNICAST: self._send_unicast,
            CUSTOM_FRAME: lambda p: self.st(INVALID_CALL) + b"\x00",
            GET_CONFIGURATION_VALUE: self._get_config,
            SET_CONFIGURATION_VALUE: self._set_config,
            SET_POLICY: self._set_policy,
            GET_POLICY: lambda p: (
                self.ezsp_st(EZSP_SUCCESS) + bytes((self.policies.get(p[0], 0),))
            ),
            SET_INITIAL_SECURITY_STATE: self._set_security,
            GET_CURRENT_SECURITY_STATE: lambda p: (
                self.st(SUCCESS) + struct.pack("<H", 0x0100) + bytes(8)
            ),
            GET_VALUE: self._get_value,
            SET_VALUE: self._set_value,
            START_SCAN: self._start_scan,
            GET_CERTIFICATE_283K1: lambda p: self.st(SUCCESS) + trust.certificate(self.cfg.eui64),
            GENERATE_CBKE_KEYS_283K1: self._generate_cbke_keys,
            CALCULATE_SMACS_283K1: self._calculate_smacs,
            CLEAR_TEMPORARY_DATA_MAYBE_STORE_LINK_KEY_283K1: self._clear_cbke,
        }

    # ---- command handlers -----------------------------------------------------------------

    def _get_mfg_token(self, p: bytes) -> bytes:
        token = p[0]
        if token == 0x01:  # MFG_STRING
            data = b"hansim".ljust(16, b"\x00")
        elif token == 0x02:  # MFG_BOARD_NAME
            data = b"hansim-ncp".ljust(16, b"\x00")
        else:
            data = b"\xff" * 8
        return bytes((len(data),)) + data

    def _add_endpoint(self, p: bytes) -> bytes:
        ep, profile, _dev, _ver, n_in, n_out = struct.unpack_from("<BHHBBB", p)
        clusters = struct.unpack_from("<%dH" % (n_in + n_out), p, 8)
        self.endpoints[ep] = (profile, list(clusters[:n_in]), list(clusters[n_in:]))
        return self.ezsp_st(EZSP_SUCCESS)

    def _network_init(self, p: bytes) -> Any:
        self.config_locked = True
        if not self.cfg.commissioned:
            return self.st(NOT_JOINED)
        return self.st(SUCCESS), self._bring_up

    @property
    def trust(self) -> Optional[trust.TrustCenter]:
        return getattr(self.han, "trust", None)

    def _hub_online(self) -> bool:
        tc = self.trust
        return tc is None or tc.hub_online

    def _bring_up(self) -> None:
        if not self._hub_online():  # parent / hub gone: the stack reports the network down
            self.callback(STACK_STATUS_HANDLER, self.st(NETWORK_DOWN))
            return
        self.network_up = True
        if self.han is not None:
            self.han.network_up(True)
        self.callback(STACK_STATUS_HANDLER, self.st(NETWORK_UP))

    def _network_state(self, p: bytes) -> bytes:
        return bytes((JOINED_NETWORK if self.network_up else NO_NETWORK,))

    def _join_network(self, p: bytes) -> Any:
        node_type = p[0]
        params = p[1:21]
        if len(params) == 20:
            self.cfg.extended_pan_id = params[:8]
            (self.cfg.pan_id,) = struct.unpack_from("<H", params, 8)
            self.cfg.channel = params[11]
        self.cfg.node_type = node_type
        self.config_locked = True
        if self.network_up:
            return self.st(INVALID_CALL)

        def joined() -> None:
            self.cfg.commissioned = True
            self._bring_up()

        tc = self.trust
        if tc is None or not tc.devices:
            return self.st(SUCCESS), joined  # no whitelist: any join succeeds (legacy)

        def checked() -> None:
            ok = (
                tc.hub_online
                and len(params) == 20
                and params[:8] == self.han.scn.extended_pan_id
                and tc.admits(self.cfg.eui64, self._preconfigured_key())
            )
            if ok:
                joined()
            else:  # v13 JOIN_FAILED, v14 NOT_JOINED (see _EMBER_TO_SL)
                self.callback(STACK_STATUS_HANDLER, self.st(JOIN_FAILED))

        return self.st(SUCCESS), checked

    def _preconfigured_key(self) -> Optional[bytes]:
        st = self.security_state
        if st is None or not struct.unpack_from("<H", st)[0] & 0x0100:  # HAVE_PRECONFIGURED_KEY
            return None
        return st[2:18]

    def _start_scan(self, p: bytes) -> Any:
        scan_type, mask, _duration = struct.unpack_from("<BIB", p)
        scn = getattr(self.han, "scn", None)

        def done() -> None:
            if scn is None:
                self.callback(SCAN_COMPLETE_HANDLER, bytes((11,)) + self.st(0))
                return
            if scan_type == 1 and self._hub_online() and mask >> scn.channel & 1:
                net = struct.pack(
                    "<BH8sBBBBb", scn.channel, scn.pan_id, scn.extended_pan_id, 1, 2, 0, 200, -50
                )
                self.callback(NETWORK_FOUND_HANDLER, net)
            self.callback(SCAN_COMPLETE_HANDLER, bytes((scn.channel,)) + self.st(0))

        return self.st(SUCCESS), done

    def _rejoin(self, p: bytes) -> Any:
        if not self.cfg.commissioned:
            return self.st(NOT_JOINED)
        return self.st(SUCCESS), self._bring_up

    def hub_gone(self) -> None:
        # The hub (parent / trust centre) disappeared: an end device loses its network.
        if self.network_up:
            self.network_up = False
            if self.han is not None:
                self.han.network_up(False)
            self.callback(STACK_STATUS_HANDLER, self.st(NETWORK_DOWN))

    # ---- CBKE (stand-in crypto shared with trust.KeyEstablishmentServer) -------------------

    def _generate_cbke_keys(self, p: bytes) -> Any:
        self.cbke_n += 1
        eph = self.cbke_eph = trust.ephemeral_key(self.cfg.eui64, 1000 + self.cbke_n)

        def done() -> None:
            self.callback(GENERATE_CBKE_KEYS_HANDLER_283K1, self.st(SUCCESS) + eph)

        return self.st(SUCCESS), done

    def _calculate_smacs(self, p: bytes) -> Any:
        initiator = bool(p[0])
        cert = p[1 : 1 + trust.CERT_LEN]
        partner_eph = p[1 + trust.CERT_LEN : 1 + trust.CERT_LEN + trust.PUBKEY_LEN]
        if len(partner_eph) != trust.PUBKEY_LEN:
            raise ValueError("short calculateSmacs283k1")
        if self.cbke_eph is None:
            return self.st(INVALID_CALL)
        me, partner = self.cfg.eui64, trust.cert_subject(cert)
        if initiator:
            macu, macv = trust.smacs(me, partner, self.cbke_eph, partner_eph)
        else:
            macu, macv = trust.smacs(partner, me, partner_eph, self.cbke_eph)

        def done() -> None:
            self.callback(CALCULATE_SMACS_HANDLER_283K1, self.st(SUCCESS) + macu + macv)

        return self.st(SUCCESS), done

    def _clear_cbke(self, p: bytes) -> bytes:
        if p[0]:
            self.cbke_stored += 1
        self.cbke_eph = None
        return self.st(SUCCESS)

    def _leave_network(self, p: bytes) -> Any:
        if not self.network_up:
            return self.st(INVALID_CALL)

        def left() -> None:
            self.network_up = False
            self.cfg.commissioned = False
            if self.han is not None:
                self.han.network_up(False)
            self.callback(STACK_STATUS_HANDLER, self.st(NETWORK_DOWN))

        return self.st(SUCCESS), left

    def _get_network_parameters(self, p: bytes) -> bytes:
        if not self.network_up:
            return self.st(NOT_JOINED) + bytes(21)
        params = self.cfg.extended_pan_id + struct.pack(
            "<HbBBHBI", self.cfg.pan_id, 8, self.cfg.channel, 0, 0x0000, 0, 1 << self.cfg.channel
        )
        return self.st(SUCCESS) + bytes((self.cfg.node_type,)) + params

    def _get_config(self, p: bytes) -> bytes:
        cid = p[0]
        if cid not in self.config:
            return self.ezsp_st(EZSP_ERROR_INVALID_ID) + b"\x00\x00"
        return self.ezsp_st(EZSP_SUCCESS) + struct.pack("<H", self.config[cid])

    def _set_config(self, p: bytes) -> bytes:
        cid, value = struct.unpack_from("<BH", p)
        if self.config_locked:
            return self.ezsp_st(EZSP_ERROR_INVALID_CALL)
        self.config[cid] = value
        return self.ezsp_st(EZSP_SUCCESS)

    def _set_policy(self, p: bytes) -> bytes:
        self.policies[p[0]] = p[1]
        return self.ezsp_st(EZSP_SUCCESS)

    def _set_security(self, p: bytes) -> bytes:
        if len(p) < 43:
            return self.st(BAD_ARGUMENT)
        self.security_state = p[:43]
        return self.st(SUCCESS)

    def _get_value(self, p: bytes) -> bytes:
        vid = p[0]
        if vid == VALUE_VERSION_INFO:
            major, minor, patch, special = self.cfg.stack_version
            data = struct.pack("<HBBBBB", self.cfg.build, major, minor, patch, special, 0xAA)
        elif vid == VALUE_NODE_SHORT_ID:
            data = struct.pack("<H", self.cfg.node_id)
        elif vid == VALUE_FREE_BUFFERS:
            data = b"\xf0"
        elif vid in self.values:
            data = self.values[vid]
        else:
            return self.ezsp_st(EZSP_ERROR_INVALID_ID) + b"\x00"
        return self.ezsp_st(EZSP_SUCCESS) + bytes((len(data),)) + data

    def _set_value(self, p: bytes) -> bytes:
        vid, n = p[0], p[1]
        self.values[vid] = p[2 : 2 + n]
        return self.ezsp_st(EZSP_SUCCESS)

    def _send_unicast(self, p: bytes) -> Any:
        msg_type = p[0]
        (dest,) = struct.unpack_from("<H", p, 1)
        aps = ApsFrame(p[3:14])
        if self.v14:
            (tag,) = struct.unpack_from("<H", p, 14)
            off = 16
        else:
            tag = p[14]
            off = 15
        n = p[off]
        payload = p[off + 1 : off + 1 + n]
        if len(payload) != n:
            raise ValueError("short message")
        self.counters["unicasts"] += 1
        if not self.network_up:
            return self.st(NETWORK_DOWN) + b"\x00"
        seq = self.aps_seq
        self.aps_seq = (self.aps_seq + 1) & 0xFF
        aps.seq = seq

        def sent(status: int) -> None:
            if self.v14:
                params = (
                    self.st(status)
                    + bytes((msg_type,))
                    + struct.pack("<H", dest)
                    + aps.pack()
                    + struct.pack("<H", tag)
                )
            else:
                params = (
                    bytes((msg_type,))
                    + struct.pack("<H", dest)
                    + aps.pack()
                    + bytes((tag, status))
                )
            self.callback(MESSAGE_SENT_HANDLER, params + bytes((len(payload),)) + payload)

        def after() -> None:
            if self.han is None:
                sent(DELIVERY_FAILED)
                return
            self.han.deliver_from_ncp(dest, aps, payload, sent)

        return self.st(SUCCESS) + bytes((seq,)), after

    def status(self) -> Dict[str, Any]:
        # The NCP as the device should see it (control channel "status": system tests' truth).
        c = self.cfg
        return {
            "network_up": self.network_up,
            "eui64": eui64_str(c.eui64),
            "node_id": "0x%04X" % c.node_id,
            "channel": c.channel,
            "pan_id": "0x%04X" % c.pan_id,
            "rx_lqi": RX_LQI,
        }

    # ---- callbacks driven by the HAN ------------------------------------------------------

    def incoming_message(
        self,
        sender: int,
        sender_eui64: bytes,
        aps: ApsFrame,
        payload: bytes,
        lqi: int = RX_LQI,
        rssi: int = -48,
    ) -> None:
        if not self.network_up:
            return
        if self.v14:
            info = (
                struct.pack("<H", sender)
                + sender_eui64
                + struct.pack("<BBBbI", 0xFF, 0xFF, lqi, rssi, 0)
            )
            params = bytes((0,)) + aps.pack() + info + bytes((len(payload),)) + payload + b"\x00"
        else:
            params = (
                bytes((0,))
                + aps.pack()
                + struct.pack("<BbHBB", lqi, rssi, sender, 0xFF, 0xFF)
                + bytes((len(payload),))
                + payload
            )
        self.callback(INCOMING_MESSAGE_HANDLER, params)
