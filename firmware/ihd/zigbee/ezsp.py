# EZSP (Silicon Labs UG100) commands over an ASH link: frame headers, version negotiation,
# a lean command table for an end-device IHD (v8-v13 and v14+ layouts), one command in flight.
# SPDX-License-Identifier: MIT
#
# Headers: the first `version` command is sent legacy [seq, FC, id]; after it every frame uses
# the extended (v8+) header [seq, FC_lo, FC_hi=0x01, id lo, id hi]. Negotiation (herdsman
# style): legacy version(desired); if the NCP answers another supported version N, extended
# version(N). Responses are matched on seq + frame id; frames with FC 0x10 (async callback) or an
# unmatched seq go to the callback(name) Signal. Malformed frames are logged (rate-limited) and
# counted, never raised into a task.
#
# Receive path (docs/zigbee.md): incomingMessageHandler and messageSentHandler, the callbacks of
# every APS frame, are decoded without allocating into one reusable object each (named fields,
# no tuples): the frame is copied into a preallocated buffer and the message is a memoryview
# into it, one view per length, made the first time a length is seen.
import asyncio
import struct

from ihd.runtime import log
from ihd.runtime.aio import wait_ms
from ihd.runtime.counters import Counters
from ihd.runtime.events import Signal
from ihd.zigbee.ash import MAX_DATA, AshError
from ihd.zigbee.loglimit import LogLimit
from micropython import const

VERSION_MIN = const(8)  # extended header
VERSION_MAX = const(19)
VERSION_DESIRED = const(14)

# Frame ids (UG100; SDK ezsp-enum.h)
ID_VERSION = const(0x0000)
ID_ADD_ENDPOINT = const(0x0002)
ID_NOP = const(0x0005)
ID_NETWORK_INIT = const(0x0017)
ID_NETWORK_STATE = const(0x0018)
ID_STACK_STATUS_HANDLER = const(0x0019)
ID_START_SCAN = const(0x001A)
ID_NETWORK_FOUND_HANDLER = const(0x001B)
ID_SCAN_COMPLETE_HANDLER = const(0x001C)
ID_JOIN_NETWORK = const(0x001F)
ID_LEAVE_NETWORK = const(0x0020)
ID_FIND_AND_REJOIN_NETWORK = const(0x0021)
ID_GET_EUI64 = const(0x0026)
ID_GET_NODE_ID = const(0x0027)
ID_GET_NETWORK_PARAMETERS = const(0x0028)
ID_SEND_UNICAST = const(0x0034)
ID_MESSAGE_SENT_HANDLER = const(0x003F)
ID_INCOMING_MESSAGE_HANDLER = const(0x0045)
ID_GET_CONFIGURATION_VALUE = const(0x0052)
ID_SET_CONFIGURATION_VALUE = const(0x0053)
ID_SET_POLICY = const(0x0055)
ID_INVALID_COMMAND = const(0x0058)
ID_SET_INITIAL_SECURITY_STATE = const(0x0068)
ID_ZIGBEE_KEY_ESTABLISHMENT_HANDLER = const(0x009B)
ID_GET_VALUE = const(0x00AA)
ID_SET_VALUE = const(0x00AB)
ID_GENERATE_CBKE_KEYS_283K1 = const(0x00E8)
ID_GENERATE_CBKE_KEYS_HANDLER_283K1 = const(0x00E9)
ID_CALCULATE_SMACS_283K1 = const(0x00EA)
ID_CALCULATE_SMACS_HANDLER_283K1 = const(0x00EB)
ID_GET_CERTIFICATE_283K1 = const(0x00EC)
ID_CLEAR_TEMPORARY_DATA_MAYBE_STORE_LINK_KEY_283K1 = const(0x00EE)

# Frame control (ezsp-protocol.h)
_FC_RESPONSE = const(0x80)
_FC_OVERFLOW = const(0x01)
_FC_TRUNCATED = const(0x02)
_FC_ASYNC_CB = const(0x10)
_FC_SYNC_CB = const(0x08)
_FCH_VERSION_1 = const(0x01)

_TX_MAX = const(220)
_CMD_TIMEOUT_MS = const(5000)
_APS_OPTION_ENCRYPTION = const(0x0020)

# Fixed-size fields before the message LV (after the EZSP header)
_INCOMING_FIXED_13 = const(18)  # type, EmberApsFrame, lqi, rssi, sender, binding/address index
_INCOMING_FIXED_14 = const(30)  # type, EmberApsFrame, sl_zigbee_rx_packet_info_t
_SENT_FIXED_13 = const(16)  # type, dest, EmberApsFrame, tag u8, status u8
_SENT_FIXED_14 = const(20)  # status u32, type, dest, EmberApsFrame, tag u16

# Rate-limited log kinds
_L_SHORT = const(0)
_L_HEADER = const(1)
_L_TRUNCATED = const(2)
_L_UNKNOWN = const(3)
_L_OVERFLOW = const(4)
_L_KINDS = const(5)

# Layout letters, expanded per negotiated version into struct formats (all little-endian):
#   S status: EmberStatus/EzspStatus u8 before v14, sl_status_t u32 from v14
#   T message tag: u8 before v14, u16 from v14
#   A EmberApsFrame (11 B)  N EmberNetworkParameters (20 B)  R rxPacketInfo (18 B, v14+)
#   E EUI64 (8 B, little-endian as on the wire)
#   V LV bytes (u8 length + data); only as the last item
# name: (id, request v8-13, response v8-13[, request v14+, response v14+])
_CMDS = {
    "version": (ID_VERSION, "B", "BBH"),
    "addEndpoint": (ID_ADD_ENDPOINT, "BHHBBB", "S"),  # + cluster lists as a raw tail
    "nop": (ID_NOP, "", ""),
    "networkInit": (ID_NETWORK_INIT, "H", "S"),
    "networkState": (ID_NETWORK_STATE, "", "B"),
    "stackStatusHandler": (ID_STACK_STATUS_HANDLER, "", "S"),
    # Commissioning (docs/joining.md): active scan, join, rejoin.
    "startScan": (ID_START_SCAN, "BIB", "S"),
    # EmberZigbeeNetwork (channel, panId, extendedPanId, allowingJoin, stackProfile,
    # nwkUpdateId) + lastHopLqi, lastHopRssi
    "networkFoundHandler": (ID_NETWORK_FOUND_HANDLER, "", "BH8sBBBBb"),
    "scanCompleteHandler": (ID_SCAN_COMPLETE_HANDLER, "", "BS"),
    "joinNetwork": (ID_JOIN_NETWORK, "BN", "S"),
    "leaveNetwork": (ID_LEAVE_NETWORK, "", "S", "B", "S"),
    "findAndRejoinNetwork": (ID_FIND_AND_REJOIN_NETWORK, "BI", "S", "BIBB", "S"),
    "getEui64": (ID_GET_EUI64, "", "E"),
    "getNodeId": (ID_GET_NODE_ID, "", "H"),
    "getNetworkParameters": (ID_GET_NETWORK_PARAMETERS, "", "SBN"),
    "sendUnicast": (ID_SEND_UNICAST, "BHATV", "SB"),
    "messageSentHandler": (ID_MESSAGE_SENT_HANDLER, "", "BHATSV", "", "SBHATV"),
    "incomingMessageHandler": (ID_INCOMING_MESSAGE_HANDLER, "", "BABbHBBV", "", "BARV"),
    "getConfigurationValue": (ID_GET_CONFIGURATION_VALUE, "B", "SH"),
    "setConfigurationValue": (ID_SET_CONFIGURATION_VALUE, "BH", "S"),
    "setPolicy": (ID_SET_POLICY, "BB", "S"),
    # v14+: bellows expects u32, the SDK host reads one byte; the reason is byte 0 either way.
    "invalidCommand": (ID_INVALID_COMMAND, "", "B"),
    "setInitialSecurityState": (ID_SET_INITIAL_SECURITY_STATE, "H16s16sB8s", "S"),
    "zigbeeKeyEstablishmentHandler": (ID_ZIGBEE_KEY_ESTABLISHMENT_HANDLER, "", "EB"),
    # CBKE, crypto suite 2 (sect283k1): cert 74 B, ephemeral public key 37 B, SMACs 16 B
    "getCertificate283k1": (ID_GET_CERTIFICATE_283K1, "", "S74s"),
    "generateCbkeKeys283k1": (ID_GENERATE_CBKE_KEYS_283K1, "", "S"),
    "generateCbkeKeysHandler283k1": (ID_GENERATE_CBKE_KEYS_HANDLER_283K1, "", "S37s"),
    "calculateSmacs283k1": (ID_CALCULATE_SMACS_283K1, "B74s37s", "S"),
    "calculateSmacsHandler283k1": (ID_CALCULATE_SMACS_HANDLER_283K1, "", "S16s16s"),
    "clearTemporaryDataMaybeStoreLinkKey283k1": (
        ID_CLEAR_TEMPORARY_DATA_MAYBE_STORE_LINK_KEY_283K1,
        "B",
        "S",
    ),
    "getValue": (ID_GET_VALUE, "B", "SV"),
    "setValue": (ID_SET_VALUE, "BV", "S"),
}
_NAMES = {}
for _n, _e in _CMDS.items():
    _NAMES[_e[0]] = _n

_EXPAND = {
    "A": "HHBBHHB",
    "N": "8sHbBBHBI",
    "R": "H8sBBBbI",
    "E": "8s",
}

# Status values this host looks at (v13 EmberStatus / v14 sl_status_t)
SUCCESS = const(0)
_ST13 = (0x90, 0x91, 0x93)  # NETWORK_UP, NETWORK_DOWN, NOT_JOINED
_ST14 = (0x15, 0x16, 0x17)
# EmberInitialSecurityState bitmask of an install-code joiner (SDK EMBER_JOIN_PRECONFIG_KEY_
# BITMASK): STANDARD_SECURITY | HAVE_PRECONFIGURED_KEY | REQUIRE_ENCRYPTED_KEY
SECURITY_JOIN_PRECONFIG_KEY = const(0x0900)
SCAN_ACTIVE = const(1)
NODE_END_DEVICE = const(3)

# Config / policy / value ids used by the NCP service
CONFIG_STACK_PROFILE = const(0x0C)
CONFIG_SECURITY_LEVEL = const(0x0D)
CONFIG_APS_UNICAST_MESSAGE_COUNT = const(0x03)
CONFIG_ADDRESS_TABLE_SIZE = const(0x05)
CONFIG_KEY_TABLE_SIZE = const(0x1E)
POLICY_MESSAGE_CONTENTS_IN_CALLBACK = const(0x04)
DECISION_MESSAGE_TAG_ONLY_IN_CALLBACK = const(0x40)
VALUE_VERSION_INFO = const(0x11)

_COUNTER_NAMES = (
    "commands",
    "timeouts",
    "invalid_command",
    "link_errors",
    "callbacks",
    "unknown_frames",
    "malformed",
    "truncated",
    "trailing",
    "bad_header",
    "ncp_overflow",
    "ncp_truncated",
    "unmatched",
    "handler_errors",
)


def _u16(b, i):
    return b[i] | b[i + 1] << 8


class IncomingMessage:
    # incomingMessageHandler, one field order for v13 and v14+. One instance per Ezsp, refilled
    # for every frame: valid only during the callback Signal (ncp.messages). payload and
    # sender_eui64 are views of Ezsp-owned buffers: copy them (bytes(...)) to keep them.
    def __init__(self):
        self.msg_type = 0
        self.profile_id = 0
        self.cluster_id = 0
        self.src_ep = 0
        self.dst_ep = 0
        self.aps_options = 0
        self.secured = False  # APS encryption (aps_options & 0x0020)
        self.group_id = 0
        self.aps_seq = 0
        self.sender = 0
        # 8-byte bytearray (v14+, when not all 00/FF) or None
        self.sender_eui64 = None  # type: bytearray | None
        self.binding_index = 0
        self.address_index = 0
        self.lqi = 0
        self.rssi = 0
        self.payload = None  # type: memoryview | None  # the APS payload
        self._eui = bytearray(8)


class MessageSent:
    # messageSentHandler, one field order for all versions; reused like IncomingMessage.
    def __init__(self):
        self.status = 0
        self.msg_type = 0
        self.dest = 0
        self.profile_id = 0
        self.cluster_id = 0
        self.src_ep = 0
        self.dst_ep = 0
        self.aps_options = 0
        self.group_id = 0
        self.aps_seq = 0
        self.tag = 0
        # memoryview (empty with the tag-only policy the NCP service sets)
        self.message = None  # type: memoryview | None


class EzspError(Exception):
    pass


class EzspTimeout(EzspError):
    pass


class InvalidCommand(EzspError):
    def __init__(self, reason):
        super().__init__("invalidCommand 0x%02x" % reason)
        self.reason = reason


def _expand(layout, v14):
    # -> (struct format, its size, trailing LV?)
    has_v = layout.endswith("V")
    if has_v:
        layout = layout[:-1]
    out = "<"
    for ch in layout:
        if ch == "S":
            out += "I" if v14 else "B"
        elif ch == "T":
            out += "H" if v14 else "B"
        else:
            out += _EXPAND.get(ch, ch)
    return (out, struct.calcsize(out), has_v)


# name -> (id, request (fmt, size, lv), response (fmt, size, lv)) for one protocol version
def layout(name, v14):
    e = _CMDS[name]
    req, rsp = (e[3], e[4]) if v14 and len(e) > 3 else (e[1], e[2])
    return (e[0], _expand(req, v14), _expand(rsp, v14))


class Ezsp:
    # Signals (runtime/events.py; the NCP service and the joining code connect):
    #   callback(name)  one Signal per callback frame name, payload its fields: for
    #                   incomingMessageHandler the reusable IncomingMessage, for
    #                   messageSentHandler the reusable MessageSent (named fields, no
    #                   allocation); for any other callback a tuple of its fields (LV data as a
    #                   memoryview). Valid only during the call.
    #   resets          payload: the code of an NCP reset / failure the ASH link reported.
    def __init__(self, ash, cmd_timeout_ms=_CMD_TIMEOUT_MS, name="ezsp"):
        self.ash = ash
        self.cmd_timeout_ms = cmd_timeout_ms
        self.c = Counters(name, _COUNTER_NAMES)
        self.resets = Signal(name)
        self._callbacks = {}  # callback frame name -> Signal, made by the first listener
        self.version = 0  # negotiated protocol version, 0 until negotiated
        self.stack_type = 0
        self.stack_version = 0  # u16 from version(), e.g. 0x7410 = 7.4.1.0
        self.tx_buf = bytearray(_TX_MAX)
        self._txmv = memoryview(self.tx_buf)
        self._lock = asyncio.Lock()  # one command in flight
        self._evt = asyncio.Event()
        self.seq = 0
        self._pend_seq = -1
        self._pend_id = -1
        self._result = ()  # type: tuple  # the response fields, set by _on_frame
        self._invalid = -1
        self._link_down = False
        self._extended = False
        self._lim = LogLimit(_L_KINDS)
        self.incoming = IncomingMessage()
        self.sent = MessageSent()
        self._rx = bytearray(MAX_DATA)  # copy of the callback frame the objects above view
        self._rx_mv = memoryview(self._rx)
        self._rx_views = {}  # (offset << 8 | length) -> view of _rx, made on first use
        self._set_version(VERSION_DESIRED)
        self.version = 0
        ash.frames.connect(self._on_frame)
        ash.resets.connect(self._on_ash_reset)

    def callback(self, name):
        # -> the Signal of callback frame `name` (KeyError for a name EZSP does not define)
        sig = self._callbacks.get(name)
        if sig is None:
            if name not in _CMDS:
                raise KeyError(name)
            sig = self._callbacks[name] = Signal("ezsp." + name, self.c, "handler_errors")
        return sig

    def _set_version(self, version):
        self.version = version
        self.v14 = version >= 14
        # Layouts expanded on first use, per version: a device uses about half of _CMDS, and
        # the whole table expanded is ~6 KB of the Pico's heap.
        self._tab = {}
        st = _ST14 if self.v14 else _ST13
        self.ST_NETWORK_UP = st[0]
        self.ST_NETWORK_DOWN = st[1]
        self.ST_NOT_JOINED = st[2]

    def _layout(self, name):
        # -> layout(name) for the negotiated version; allocates only the first time
        e = self._tab.get(name)
        if e is None:
            e = self._tab[name] = layout(name, self.v14)
        return e

    # ASH reset (RST/RSTACK) then version negotiation. Returns the negotiated version.
    async def connect(self, desired=VERSION_DESIRED):
        await self.ash.reset()
        return await self.negotiate(desired)

    async def negotiate(self, desired=VERSION_DESIRED):
        self.seq = 0
        self._extended = False
        self._set_version(desired)
        self.version = 0
        ver, stype, sver = await self.request("version", desired)
        if not VERSION_MIN <= ver <= VERSION_MAX:
            log.error("ezsp", "NCP speaks EZSP v%d, unsupported", ver)
            raise EzspError("unsupported EZSP version %d" % ver)
        self._extended = True
        self._set_version(ver)
        if ver != desired:
            ver2, stype, sver = await self.request("version", ver)
            if ver2 != ver:
                raise EzspError("version mismatch %d/%d" % (ver, ver2))
        self.stack_type = stype
        self.stack_version = sver
        log.info("ezsp", "EZSP v%d stack 0x%04x", ver, sver)
        return ver

    # Encode the header + parameters into the tx buffer; returns the frame length.
    def encode(self, seq, name, args, tail=None):
        fid, req, _ = self._layout(name)
        tx = self.tx_buf
        tx[0] = seq
        tx[1] = 0x00  # command, network 0, sleep mode idle
        if self._extended:
            tx[2] = _FCH_VERSION_1
            tx[3] = fid & 0xFF
            tx[4] = fid >> 8
            off = 5
        else:
            tx[2] = fid
            off = 3
        fmt, size, has_v = req
        if has_v:
            data = args[-1]
            args = args[:-1]
        if size:
            struct.pack_into(fmt, tx, off, *args)
        off += size
        if has_v:
            n = len(data)
            tx[off] = n
            tx[off + 1 : off + 1 + n] = data
            off += 1 + n
        if tail is not None:
            n = len(tail)
            tx[off : off + n] = tail
            off += n
        return off

    # Send one command and wait for its response -> tuple of response fields (LV data as bytes).
    # Raises EzspTimeout, InvalidCommand or EzspError (link down / NCP reset).
    async def request(self, name, *args, tail=None, timeout_ms=None):
        async with self._lock:
            seq = self.seq
            self.seq = (seq + 1) & 0xFF
            n = self.encode(seq, name, args, tail)
            self._pend_seq = seq
            self._pend_id = self._layout(name)[0]
            self._result = ()
            self._invalid = -1
            self._link_down = False
            self._evt.clear()
            self.c.inc("commands")
            try:
                await self.ash.send(self._txmv[:n])
                await wait_ms(self._evt.wait(), timeout_ms or self.cmd_timeout_ms)
            except asyncio.TimeoutError:
                self.c.inc("timeouts")
                log.warn("ezsp", "%s timed out", name)
                raise EzspTimeout(name) from None
            except AshError as e:
                self.c.inc("link_errors")
                raise EzspError("link: %s" % e) from None
            finally:
                self._pend_id = -1
            if self._link_down:
                self.c.inc("link_errors")
                raise EzspError("NCP reset during " + name)
            if self._invalid >= 0:
                self.c.inc("invalid_command")
                log.warn("ezsp", "%s -> invalidCommand 0x%02x", name, self._invalid)
                raise InvalidCommand(self._invalid)
            return self._result

    def _on_ash_reset(self, code):
        self._link_down = True
        if self._pend_id >= 0:
            self._evt.set()
        self.resets.emit(code)

    # Decode fields of `rsp` from mv[off:]; LV data copied (copy=True) or as a view.
    # Returns None (counted) if the frame is truncated.
    def _decode(self, rsp, mv, off, copy):
        fmt, size, has_v = rsp
        n = len(mv)
        if n - off < size:
            self.c.inc("truncated")
            return None
        vals = struct.unpack_from(fmt, mv, off) if size else ()
        off += size
        if has_v:
            if off >= n or off + 1 + mv[off] > n:
                self.c.inc("truncated")
                return None
            k = mv[off]
            data = mv[off + 1 : off + 1 + k]
            vals = vals + ((bytes(data) if copy else data),)
            off += 1 + k
        if off < n:
            # Tolerated (bellows does the same); a v14 incomingMessageHandler always has one.
            self.c.inc("trailing")
        return vals

    def _on_frame(self, mv):
        try:
            self._frame(mv)
        except Exception as e:  # malformed input must never reach the ASH task
            self.c.inc("malformed")
            log.exc("ezsp", e, "bad frame")

    def _frame(self, mv):
        n = len(mv)
        if self._extended:
            if n < 5:
                self.c.inc("truncated")
                if self._lim.ok(_L_SHORT):
                    log.warn("ezsp", "short frame (%d B)", n)
                return
            fch = mv[2]
            if fch & 0x03 != _FCH_VERSION_1 or fch & 0xFC:
                self.c.inc("bad_header")  # secure / padded / reserved bits: unsupported
                if self._lim.ok(_L_HEADER):
                    log.warn("ezsp", "unsupported FC_hi 0x%02x", fch)
                return
            fid = mv[3] | (mv[4] << 8)
            off = 5
        else:
            if n < 3:
                self.c.inc("truncated")
                if self._lim.ok(_L_SHORT):
                    log.warn("ezsp", "short frame (%d B)", n)
                return
            fid = mv[2]
            off = 3
        seq = mv[0]
        fc = mv[1]
        if not fc & _FC_RESPONSE:
            self.c.inc("bad_header")
            return
        if fc & _FC_OVERFLOW:
            self.c.inc("ncp_overflow")
            if self._lim.ok(_L_OVERFLOW):
                log.warn("ezsp", "NCP lost callbacks (overflow)")
        if fc & _FC_TRUNCATED:
            self.c.inc("ncp_truncated")
        if not fc & (_FC_ASYNC_CB | _FC_SYNC_CB) and self._pend_id >= 0 and seq == self._pend_seq:
            if fid == self._pend_id:
                name = _NAMES[fid]
                vals = self._decode(self._layout(name)[2], mv, off, True)
                if vals is None:
                    log.warn("ezsp", "truncated %s response", name)
                    return  # the command times out
                self._result = vals
                self._evt.set()
                return
            if fid == ID_INVALID_COMMAND and n > off:
                self._invalid = mv[off]
                self._evt.set()
                return
            self.c.inc("unmatched")
        name = _NAMES.get(fid)
        if name is None:
            self.c.inc("unknown_frames")
            if self._lim.ok(_L_UNKNOWN):
                log.info("ezsp", "unhandled frame 0x%04x", fid)
            return
        if fid == ID_INCOMING_MESSAGE_HANDLER:
            vals = self._incoming(mv, off)
        elif fid == ID_MESSAGE_SENT_HANDLER:
            vals = self._sent(mv, off)
        else:
            vals = self._decode(self._layout(name)[2], mv, off, False)
        if vals is None:
            if self._lim.ok(_L_TRUNCATED):
                log.warn("ezsp", "truncated %s", name)
            return
        self.c.inc("callbacks")
        sig = self._callbacks.get(name)
        if sig is not None:
            sig.emit(vals)

    # ---- allocation-free decoding of the per-APS-frame callbacks

    def _load(self, mv, lv):
        # Copies the frame into _rx, checks the LV at lv fits -> its length, or -1 (counted).
        n = len(mv)
        if lv >= n or lv + 1 + mv[lv] > n:
            self.c.inc("truncated")
            return -1
        if n <= len(self._rx):
            self._rx[:n] = mv
        else:  # only with an ASH max_data above MAX_DATA: a plain (allocating) copy
            self._rx = bytearray(mv)
            self._rx_mv = memoryview(self._rx)
            self._rx_views = {}
        k = mv[lv]
        if lv + 1 + k < n:
            # Tolerated (bellows does the same); a v14 incomingMessageHandler always has one.
            self.c.inc("trailing")
        return k

    def _view(self, start, k):
        key = start << 8 | k
        v = self._rx_views.get(key)
        if v is None:
            v = self._rx_mv[start : start + k]
            self._rx_views[key] = v
        return v

    def _incoming(self, mv, off):
        # -> self.incoming filled in, or None if truncated.
        v14 = self.v14
        lv = off + (_INCOMING_FIXED_14 if v14 else _INCOMING_FIXED_13)
        k = self._load(mv, lv)
        if k < 0:
            return None
        b = self._rx
        m = self.incoming
        m.msg_type = b[off]
        m.profile_id = _u16(b, off + 1)
        m.cluster_id = _u16(b, off + 3)
        m.src_ep = b[off + 5]
        m.dst_ep = b[off + 6]
        opts = _u16(b, off + 7)
        m.aps_options = opts
        m.secured = bool(opts & _APS_OPTION_ENCRYPTION)
        m.group_id = _u16(b, off + 9)
        m.aps_seq = b[off + 11]
        if v14:
            m.sender = _u16(b, off + 12)
            # EUI64 (as on the wire); all 00 or all FF: unknown
            e = m._eui
            z = 0
            f = 0xFF
            for i in range(8):
                x = b[off + 14 + i]
                e[i] = x
                z |= x
                f &= x
            m.sender_eui64 = None if z == 0 or f == 0xFF else e
            m.binding_index = b[off + 22]
            m.address_index = b[off + 23]
            m.lqi = b[off + 24]
            r = b[off + 25]
        else:
            m.lqi = b[off + 12]
            r = b[off + 13]
            m.sender = _u16(b, off + 14)
            m.sender_eui64 = None
            m.binding_index = b[off + 16]
            m.address_index = b[off + 17]
        m.rssi = r - 256 if r & 0x80 else r
        m.payload = self._view(lv + 1, k)
        return m

    def _sent(self, mv, off):
        # -> self.sent filled in, or None if truncated.
        v14 = self.v14
        lv = off + (_SENT_FIXED_14 if v14 else _SENT_FIXED_13)
        k = self._load(mv, lv)
        if k < 0:
            return None
        b = self._rx
        s = self.sent
        if v14:
            # sl_status_t u32; real codes are < 2**16 (a small int on every port)
            s.status = _u16(b, off) | _u16(b, off + 2) << 16
            off += 4
        s.msg_type = b[off]
        s.dest = _u16(b, off + 1)
        s.profile_id = _u16(b, off + 3)
        s.cluster_id = _u16(b, off + 5)
        s.src_ep = b[off + 7]
        s.dst_ep = b[off + 8]
        s.aps_options = _u16(b, off + 9)
        s.group_id = _u16(b, off + 11)
        s.aps_seq = b[off + 13]
        if v14:
            s.tag = _u16(b, off + 14)
        else:
            s.tag = b[off + 14]
            s.status = b[off + 15]
        s.message = self._view(lv + 1, k)
        return s
