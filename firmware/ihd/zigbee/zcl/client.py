# ZCL endpoint logic over the NCP: TSNs, request/response correlation with timeout + retries,
# command/report dispatch, automatic Default Response, a local attribute store answering Read /
# Write / Discover Attributes. SPDX-License-Identifier: MIT
# Wiring: ncp.messages.connect(zcl.handle_incoming). Malformed input is logged (rate-limited) +
# counted (counters "zcl.*"), answered with a Default Response where the spec wants one, and
# never raised.
#
# Receive path and lifetimes (docs/zigbee.md "Receive path"). Nothing is allocated per received
# frame up to decoded attribute records:
# - A frame that answers a pending request is copied into that request's own slot (a small
#   preallocated pool, one Frame + Records each); a Read Attributes Response is decoded into the
#   slot's Records right in the callback. The awaiting coroutine reads it later: the slot is not
#   reused before the request returns. What request() / read_records() return stays valid until
#   the caller's next `await` (the slot goes back to the pool when the request returns; only a
#   new request, i.e. another task running, can refill it). f.detach() makes a copy to keep.
#   command(), read_attributes() & co. return detached results (they allocate anyway).
# - Every other frame (reports, cluster commands, requests to our attributes) goes through one
#   reusable Frame and is handled synchronously: the Frame and its Records are valid only during
#   the handler call. A handler's coroutine runs later, so it must not use the frame (the client
#   hands its own bookkeeping a detached copy).
# Allocating on purpose: sending anything (Default Responses, replies), cluster-command args
# dicts, string/array/float values, long ints (on 32-bit ports), log lines (rate-limited).
#
# Before any payload is decoded: every frame goes through the gate (set_gate(fn),
# fn(frame, response) -> bool on header fields only: node, src_ep, cluster, secured, ...;
# response: it answers one of our pending requests); a refused frame is dropped, counted
# (rx_gated), logged rate-limited and never answered (a refused answer leaves the request
# waiting, so a forged unencrypted one cannot pre-empt the real one). A
# Report Attributes for a cluster nobody handles is not decoded at all. Decoding itself is
# bounded (types.py "Bounded decoding"). No Default Response answers a broadcast or multicast
# frame (ZCL r7 2.5.12.2: only a unicast command gets one).
import asyncio
import time

from ihd.runtime import counters, log
from ihd.zigbee.loglimit import LogLimit
from ihd.zigbee.zcl import clusters as CL
from ihd.zigbee.zcl import foundation as F
from ihd.zigbee.zcl import frame as FR
from ihd.zigbee.zcl import types as T
from ihd.zigbee.zcl.types import DecodeError, EncodeError
from micropython import const

_TAG = "zcl"
SE_PROFILE = const(0x0109)
TIMEOUT_MS = const(5000)  # APS retries already cover ~1.5 s; sleepy meters answer slower
RETRIES = const(2)
_MAX_PAYLOAD = const(82)  # unfragmented APS payload with APS security; one-frame responses
_SEND_FAIL_BACKOFF_MS = const(500)
# Largest received ZCL frame (header included) kept: the largest an EZSP incomingMessageHandler
# can carry (its length is a u8). One 802.15.4 frame holds at most ~82 bytes of secured APS
# payload, but an NCP that reassembles APS fragments (and hansim's OTA hub with 128-byte
# blocks) hands up more; a frame-size limit below the EZSP one would silently drop those.
RX_MAX = const(255)
# Concurrent requests (about one per service task). Slots are made when first needed (about
# 1.1 KB each on a 32-bit port, 2 KB on 64-bit) and kept; beyond POOL a request waits for one.
POOL = const(6)

# Rate-limited log kinds
_L_SHORT = const(0)
_L_MALFORMED = const(1)
_L_TYPE = const(2)
_L_DR = const(3)
_L_OVERSIZE = const(4)
_L_MANY = const(5)
_L_GATED = const(6)
_L_UNSUP = const(7)
_L_KINDS = const(8)

# EmberIncomingMessageType (ezsp.IncomingMessage.msg_type): frames that were not sent to us alone
# (a Default Response never answers these)
_MSG_MULTICAST = const(2)
_MSG_BROADCAST_LOOPBACK = const(5)  # 2 multicast, 3 multicast loopback, 4 broadcast, 5 loopback

_COUNTERS = (
    "rx_frames",
    "rx_short",  # shorter than its ZCL header
    "rx_malformed",  # payload did not decode (truncated record, string past the end, ...)
    "rx_bad_type",  # attribute value with a data type other than the cluster table's
    "rx_unmatched",  # response with no request waiting for it
    "rx_unsup_cmd",  # answered UNSUP_*_COMMAND
    "rx_dr_error",  # Default Response with a non-SUCCESS status (but NOT_FOUND)
    "rx_dr_not_found",  # ... NOT_FOUND: the normal "none" to a Get (GetScheduledPrices, ...)
    "handler_errors",
    "tx_frames",
    "tx_errors",
    "dr_sent",
    "req_timeouts",  # one per attempt
    "req_failed",  # all attempts exhausted
    "internal_errors",
    "rx_oversize",  # longer than RX_MAX
    "rx_many_records",  # more attribute records than a Records object holds (rest: in chunks)
    "pool_waits",  # a request waited for a free pending slot
    "rx_gated",  # refused by the gate (set_gate) before its payload was decoded
    "dr_not_sent",  # a Default Response left out: the frame was a broadcast or multicast
)

# Global response commands: never answered, only matched to a pending request.
_GLOBAL_RSPS = (0x01, 0x04, 0x07, 0x09, 0x0B, 0x0D, 0x10, 0x12, 0x14, 0x16)


class Frame:
    # A received ZCL frame. Receiving reuses preallocated Frames (see the top of this file):
    # load() copies the frame into this Frame's own buffer; payload (after the header) is a
    # memoryview into it, one view per (header, length), made the first time it is seen.
    # records: the Records decoded from a Read Attributes Response / Report Attributes.
    # detach() -> an independent copy (payload and eui64 as bytes) that may be kept.
    def __init__(self, cap=RX_MAX, max_records=F.MAX_RECORDS):
        self._raw = bytearray(cap)
        self._mv = memoryview(self._raw)
        self._views = {}
        self._eui = bytearray(8)
        self.records = F.Records(max_records) if cap else None
        self.node = 0
        self.eui64 = None
        self.profile_id = 0
        self.cluster = 0
        self.src_ep = 0
        self.dst_ep = 0
        self.secured = False
        self.lqi = 0
        self.rssi = 0
        self.msg_type = 0  # EmberIncomingMessageType: 0 unicast
        self.broadcast = False  # sent to a broadcast address or a group: no Default Response
        self.frame_type = FR.GLOBAL
        self.manuf = None
        self.direction = FR.C2S
        self.disable_dr = False
        self.tsn = 0
        self.cmd_id = 0
        self.payload = b""
        self.args = None  # dict of decoded fields for cluster commands with a schema
        self.responded = False  # a specific response was sent: no automatic Default Response

    def load(self, msg, hdr, buf):
        # buf: the whole ZCL frame (len <= cap, header already parsed into hdr). No allocation
        # once this (header, length) has been seen.
        k = len(buf)
        self._raw[:k] = buf
        po = hdr.payload_off
        key = (k - po) << 3 | po
        v = self._views.get(key)
        if v is None:
            v = self._mv[po:k]
            self._views[key] = v
        self.payload = v
        self.node = msg.sender
        e = msg.sender_eui64
        if e is None:
            self.eui64 = None
        else:
            self._eui[:] = e
            self.eui64 = self._eui
        self.profile_id = msg.profile_id
        self.cluster = msg.cluster_id
        self.src_ep = msg.src_ep
        self.dst_ep = msg.dst_ep
        self.secured = msg.secured
        self.lqi = msg.lqi
        self.rssi = msg.rssi
        # (a message object without msg_type, as test benches build them: unicast)
        t = getattr(msg, "msg_type", 0)
        self.msg_type = t
        self.broadcast = _MSG_MULTICAST <= t <= _MSG_BROADCAST_LOOPBACK
        self.frame_type = hdr.frame_type
        self.manuf = hdr.manuf
        self.direction = hdr.direction
        self.disable_dr = hdr.disable_dr
        self.tsn = hdr.tsn
        self.cmd_id = hdr.cmd_id
        self.args = None
        self.responded = False
        if self.records is not None:
            self.records.clear()

    def detach(self):
        # Allocates: a copy that stays valid (records are not copied: use the dict helpers).
        d = Frame(0)
        d.node = self.node
        d.eui64 = None if self.eui64 is None else bytes(self.eui64)
        d.profile_id = self.profile_id
        d.cluster = self.cluster
        d.src_ep = self.src_ep
        d.dst_ep = self.dst_ep
        d.secured = self.secured
        d.lqi = self.lqi
        d.rssi = self.rssi
        d.msg_type = self.msg_type
        d.broadcast = self.broadcast
        d.frame_type = self.frame_type
        d.manuf = self.manuf
        d.direction = self.direction
        d.disable_dr = self.disable_dr
        d.tsn = self.tsn
        d.cmd_id = self.cmd_id
        d.payload = bytes(self.payload)
        d.args = self.args
        d.responded = self.responded
        return d

    def default_status(self):
        # Status byte if this is a Default Response, else None.
        if self.frame_type == FR.GLOBAL and self.cmd_id == F.DEFAULT_RESPONSE:
            if len(self.payload) >= 2:
                return self.payload[1]
            return F.MALFORMED_COMMAND
        return None

    def __repr__(self):
        return "Frame(0x%04x ep%d cl=0x%04x %s cmd=0x%02x tsn=%d)" % (
            self.node,
            self.src_ep,
            self.cluster,
            "cl" if self.frame_type else "gl",
            self.cmd_id,
            self.tsn,
        )


class _Pending:
    # One slot of the request pool: what is awaited, and the response storage (frame + records)
    # that the receive callback fills and the requesting coroutine reads.
    def __init__(self, cap, max_records):
        self.frame = Frame(cap, max_records)
        self.ev = asyncio.Event()
        self.busy = False
        self.rsp = None
        self.node = self.cluster = self.tsn = self.direction = self.cmd_id = 0
        self.frame_type = 0
        self.rsp_cmd = -1

    def arm(self, node, cluster, tsn, direction, cmd_id, frame_type, rsp_cmd):
        self.node = node
        self.cluster = cluster
        self.tsn = tsn
        self.direction = direction
        self.cmd_id = cmd_id
        self.frame_type = frame_type
        self.rsp_cmd = -1 if rsp_cmd is None else rsp_cmd
        self.rsp = None
        self.ev.clear()

    def matches(self, msg, hdr, buf):
        # On the header and the message, before anything is copied.
        if self.rsp is not None or hdr.tsn != self.tsn or msg.sender != self.node:
            return False
        if msg.cluster_id != self.cluster or hdr.direction == self.direction:
            return False
        if hdr.frame_type == FR.GLOBAL and hdr.cmd_id == F.DEFAULT_RESPONSE:
            # A Default Response names the command it answers.
            po = hdr.payload_off
            return len(buf) <= po or buf[po] == self.cmd_id
        if self.rsp_cmd < 0:
            return True
        return hdr.frame_type == self.frame_type and hdr.cmd_id == self.rsp_cmd


class Zcl:
    def __init__(self, ncp, local_ep=1, profile_id=SE_PROFILE, max_payload=_MAX_PAYLOAD,
                 pool=POOL, rx_max=RX_MAX, max_records=F.MAX_RECORDS):  # fmt: skip
        self.ncp = ncp
        self.local_ep = local_ep
        self.profile_id = profile_id
        self.max_payload = max_payload
        self.counters = counters.Counters("zcl", _COUNTERS)
        # the ms counter's low byte: avoid replaying TSNs right after a reboot
        self._tsn = time.ticks_diff(time.ticks_ms(), 0) & 0xFF
        self._pool = []  # _Pending slots, at most pool_max, made on first use
        self.pool_max = pool
        self._rx_max = rx_max
        self._max_records = max_records
        self._free = asyncio.Event()  # set when a slot is released
        self._rx = Frame(rx_max, max_records)  # every frame no request is waiting for
        self._lim = LogLimit(_L_KINDS)
        self._handlers = {}  # (cluster << 9 | cmd_id << 1 | direction) -> fn
        self._report_handlers = {}  # cluster -> [fn(frame, attr_id, value)]
        self._records_handlers = {}  # cluster -> [fn(frame, records)]
        self._local = {}  # cluster -> {attr_id: [tid, value_or_getter, writable]}
        self._on_write = {}  # cluster -> fn(attr_id, value) -> status or None
        self._hdr = FR.Header()
        self._gate = None  # fn(frame, response) -> bool, or None: every frame is decoded
        self._scratch = None  # Records for the rest of a report beyond Frame.records

    def set_gate(self, fn):
        # fn(frame, response) -> bool, called for every incoming frame after its header is read
        # and before any of its payload is decoded; response: the frame matched one of our
        # pending requests (same node, cluster, TSN and command). It may look at the
        # header fields only (node, eui64, src_ep, dst_ep, cluster, profile_id, secured,
        # broadcast, frame_type, direction, manuf, cmd_id) and must not allocate (receive path).
        # False: the frame is dropped, counted (rx_gated), logged (rate-limited), not answered.
        # None (the default): every frame passes.
        self._gate = fn

    # ---------------- registration ----------------

    def on_command(self, cluster, cmd_id, direction, handler):
        # handler(frame, args) for a cluster command received with this direction bit
        # (clusters.S2C for commands from a server, e.g. PublishPrice). args = decoded dict (None
        # if the command has no schema). Return a status (None = SUCCESS) for the Default
        # Response, or a coroutine that returns one; call reply() to send a specific response.
        self._handlers[cluster << 9 | cmd_id << 1 | direction] = handler

    def on_report(self, cluster, handler):
        # handler(frame, attr_id, value) per type-checked record of a Report Attributes. value as
        # types.decode() gives it (an int above 2**30 is a long int on a 32-bit port: a
        # zero-allocation consumer uses on_report_records()). frame: valid during the call only.
        self._report_handlers.setdefault(cluster, []).append(handler)

    def on_report_records(self, cluster, handler):
        # handler(frame, records) once per Report Attributes (foundation.Records, already
        # type-checked: a record with another type than the cluster table's has status
        # INVALID_DATA_TYPE). Both valid during the call only; nothing is allocated to call it.
        self._records_handlers.setdefault(cluster, []).append(handler)

    def local_cluster(self, cluster, attrs, on_write=None):
        # Declares attributes hosted on our endpoint: attrs = ((attr_id, tid, value, writable),
        # ...), value may be a zero-argument getter. on_write(attr_id, value) -> status or None
        # is called before a remote write is stored.
        store = self._local.setdefault(cluster, {})
        for a, tid, v, w in attrs:
            store[a] = [tid, v, w]
        if on_write is not None:
            self._on_write[cluster] = on_write

    def get_local(self, cluster, attr_id):
        v = self._local[cluster][attr_id][1]
        return v() if callable(v) else v

    # ---------------- sending ----------------

    def next_tsn(self):
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    @staticmethod
    def build(frame_type, direction, tsn, cmd_id, payload: "bytes | bytearray | memoryview" = b"",
              disable_dr=False, manuf=None):  # fmt: skip
        n = FR.header_len(manuf)
        b = bytearray(n + len(payload))
        FR.encode_header(b, 0, frame_type, direction, tsn, cmd_id, disable_dr, manuf)
        b[n:] = payload
        return b

    async def _send(self, node, ep, cluster, data, src_ep=None, profile_id=None):
        try:
            st = await self.ncp.send_unicast(
                node,
                cluster,
                self.local_ep if src_ep is None else src_ep,
                ep,
                data,
                profile_id=self.profile_id if profile_id is None else profile_id,
            )
        except Exception as e:
            self.counters.inc("tx_errors")
            log.exc(_TAG, e, "send to 0x%04x failed", node)
            return False
        if st:
            self.counters.inc("tx_errors")
            log.warn(_TAG, "send to 0x%04x cl 0x%04x: status 0x%02x", node, cluster, st)
            return False
        self.counters.inc("tx_frames")
        return True

    async def send(self, node, ep, cluster, cmd_id,
                   payload: "bytes | bytearray | memoryview" = b"", frame_type=FR.CLUSTER,
                   direction=FR.C2S, disable_dr=True, manuf=None):  # fmt: skip
        # Fire-and-forget (new TSN, no waiting). -> True if the NCP accepted it.
        data = self.build(frame_type, direction, self.next_tsn(), cmd_id, payload, disable_dr,
                          manuf)  # fmt: skip
        return await self._send(node, ep, cluster, data)

    def pending(self):
        # Number of requests waiting for an answer.
        n = 0
        for p in self._pool:
            if p.busy:
                n += 1
        return n

    async def _claim(self):
        while True:
            for p in self._pool:
                if not p.busy:
                    p.busy = True
                    return p
            if len(self._pool) < self.pool_max:  # allocates once per slot, on the request side
                p = _Pending(self._rx_max, self._max_records)
                p.busy = True
                self._pool.append(p)
                return p
            self.counters.inc("pool_waits")
            self._free.clear()
            await self._free.wait()

    def _release(self, p):
        p.busy = False
        p.rsp = None
        self._free.set()

    async def request(self, node, ep, cluster, cmd_id,
                      payload: "bytes | bytearray | memoryview" = b"", frame_type=FR.CLUSTER,
                      direction=FR.C2S, disable_dr=False, manuf=None, rsp_cmd=None,
                      timeout_ms=TIMEOUT_MS, retries=RETRIES):  # fmt: skip
        # Sends and waits for the frame from (node, cluster) with our TSN and the opposite
        # direction: the command rsp_cmd (same frame type; any command if None) or a Default
        # Response naming cmd_id. Retries resend with the same TSN, so a late answer to an
        # earlier attempt still counts. -> Frame, or None after retries + 1 attempts.
        # The Frame is the request slot's storage: valid until the caller's next await (use
        # f.detach() to keep it).
        tsn = self.next_tsn()
        data = self.build(frame_type, direction, tsn, cmd_id, payload, disable_dr, manuf)
        p = await self._claim()
        p.arm(node, cluster, tsn, direction, cmd_id, frame_type, rsp_cmd)
        try:
            for _ in range(retries + 1):
                if p.rsp is None and not await self._send(node, ep, cluster, data):
                    await asyncio.sleep_ms(_SEND_FAIL_BACKOFF_MS)
                    continue
                try:
                    await asyncio.wait_for(p.ev.wait(), timeout_ms / 1000)
                except asyncio.TimeoutError:
                    self.counters.inc("req_timeouts")
                    continue
                return p.rsp
            self.counters.inc("req_failed")
            log.warn(_TAG, "no answer: 0x%04x cl 0x%04x cmd 0x%02x", node, cluster, cmd_id)
            return None
        finally:
            self._release(p)

    async def command(self, node, ep, cluster, cmd_id, values=None, direction=FR.C2S,
                      rsp_cmd=None, disable_dr=False, manuf=None, timeout_ms=TIMEOUT_MS,
                      retries=RETRIES):  # fmt: skip
        # Cluster command encoded from the clusters.py schema; the answer's args are decoded
        # with its schema too (left None, logged + counted, if malformed). -> a detached Frame
        # (may be kept), or None.
        row = CL.command(cluster, direction, cmd_id)
        if row is None:
            raise EncodeError("no schema for 0x%04x/0x%02x" % (cluster, cmd_id))
        payload = CL.encode(row[2], values or {}, self.max_payload)
        rsp = await self.request(node, ep, cluster, cmd_id, payload, FR.CLUSTER, direction,
                                 disable_dr, manuf, rsp_cmd, timeout_ms, retries)  # fmt: skip
        if rsp is None:
            return None
        if rsp.frame_type == FR.CLUSTER:
            self._decode_args(rsp)
        return rsp.detach()

    async def read_records(self, node, ep, cluster, attr_ids, side=CL.SERVER, manuf=None,
                           timeout_ms=TIMEOUT_MS, retries=RETRIES):  # fmt: skip
        # Read Attributes -> foundation.Records (decoded and type-checked in the receive
        # callback, no allocation), or None without an answer. A Default Response (e.g.
        # UNSUPPORTED_CLUSTER) gives every id its status. The Records belong to the request
        # slot: valid until the caller's next await.
        payload = bytearray(2 * len(attr_ids))
        F.encode_read_attributes(payload, 0, attr_ids)
        rsp = await self.request(node, ep, cluster, F.READ_ATTRIBUTES, payload, FR.GLOBAL,
                                 FR.C2S if side == CL.SERVER else FR.S2C, False, manuf,
                                 F.READ_ATTRIBUTES_RSP, timeout_ms, retries)  # fmt: skip
        if rsp is None:
            return None
        rec = rsp.records
        st = rsp.default_status()
        if st is not None:
            rec.fill_status(attr_ids, st)
        return rec

    async def read_attributes(self, node, ep, cluster, attr_ids, side=CL.SERVER, manuf=None,
                              timeout_ms=TIMEOUT_MS, retries=RETRIES):  # fmt: skip
        # -> {attr_id: value or foundation.AttrStatus}, or None without an answer. A Default
        # Response (e.g. UNSUPPORTED_CLUSTER) maps every id to its status; ids missing from the
        # response are absent; a type mismatch vs the cluster table gives INVALID_DATA_TYPE.
        # Allocates the dict (and the values): read_records() is the allocation-free form.
        rec = await self.read_records(node, ep, cluster, attr_ids, side, manuf, timeout_ms,
                                      retries)  # fmt: skip
        if rec is None:
            return None
        out = rec.to_dict()
        if rec.more:
            if rec.buf is None:  # Default Response: every id
                s = F.attr_status(rec.status[0])
                for a in attr_ids:
                    out[a] = s
            else:
                self._more_read(rec, cluster, side, node, out)
        return out

    def _more_read(self, rec, cluster, side, node, out):
        # Records beyond the Records capacity (rare): the generator codec over the rest.
        try:
            for a, st, tid, v in F.iter_read_attributes_response(
                rec.buf, rec.stop, T.MAX_ELEMENTS - rec.elements
            ):
                if st != F.SUCCESS:
                    out[a] = F.attr_status(st)
                elif self._type_ok(cluster, a, tid, side, node):
                    out[a] = v
                else:
                    out[a] = F.attr_status(F.INVALID_DATA_TYPE)
        except DecodeError as e:
            self.counters.inc("rx_malformed")
            log.warn(_TAG, "malformed read rsp from 0x%04x: %s", node, e)

    async def write_attributes(self, node, ep, cluster, records, side=CL.SERVER, manuf=None,
                               timeout_ms=TIMEOUT_MS, retries=RETRIES):  # fmt: skip
        # records: ((attr_id, tid, value), ...). -> {attr_id: status} or None.
        buf = bytearray(self.max_payload)
        n = F.encode_write_attributes(buf, 0, records)
        rsp = await self.request(node, ep, cluster, F.WRITE_ATTRIBUTES, buf[:n], FR.GLOBAL,
                                 FR.C2S if side == CL.SERVER else FR.S2C, False, manuf,
                                 F.WRITE_ATTRIBUTES_RSP, timeout_ms, retries)  # fmt: skip
        if rsp is None:
            return None
        st = rsp.default_status()
        out = {}
        for r in records:
            out[r[0]] = F.SUCCESS if st is None else st
        if st is None:
            try:
                for st, a in F.iter_write_attributes_response(rsp.payload):
                    if a is not None:
                        out[a] = st
            except DecodeError as e:
                self._malformed(rsp, e)
        return out

    async def configure_reporting(self, node, ep, cluster, records, manuf=None,
                                  timeout_ms=TIMEOUT_MS, retries=RETRIES):  # fmt: skip
        # records: foundation.reporting_record(...) tuples. -> [(status, direction, attr_id)]
        # ([(SUCCESS, None, None)] when all succeeded), or None.
        buf = bytearray(self.max_payload)
        n = F.encode_configure_reporting(buf, 0, records)
        rsp = await self.request(node, ep, cluster, F.CONFIGURE_REPORTING, buf[:n], FR.GLOBAL,
                                 FR.C2S, False, manuf, F.CONFIGURE_REPORTING_RSP, timeout_ms,
                                 retries)  # fmt: skip
        if rsp is None:
            return None
        st = rsp.default_status()
        if st is not None:
            return [(st, None, None)]
        try:
            return list(F.iter_configure_reporting_response(rsp.payload))
        except DecodeError as e:
            self._malformed(rsp, e)
            return [(F.MALFORMED_COMMAND, None, None)]

    def reply(self, f, cmd_id, payload: "bytes | bytearray | memoryview" = b"",
              frame_type=FR.CLUSTER, disable_dr=True):  # fmt: skip
        # Specific response to frame f (same TSN, opposite direction); suppresses the automatic
        # Default Response. Sent in the background.
        f.responded = True
        data = self.build(frame_type, 1 - f.direction, f.tsn, cmd_id, payload, disable_dr,
                          f.manuf)  # fmt: skip
        self._spawn(self._send(f.node, f.src_ep, f.cluster, data, f.dst_ep, f.profile_id))

    def reply_command(self, f, cmd_id, values):
        row = CL.command(f.cluster, 1 - f.direction, cmd_id)
        if row is None:
            raise EncodeError("no schema")
        self.reply(f, cmd_id, CL.encode(row[2], values, self.max_payload))

    def default_response(self, f, status):
        # Never in answer to a Default Response, nor to a broadcast or multicast frame (ZCL r7
        # 2.5.12.2). Sent with disable-default-response clear, as in the GBCS GCS09 vector.
        if f.frame_type == FR.GLOBAL and f.cmd_id == F.DEFAULT_RESPONSE:
            return
        if f.broadcast:
            self.counters.inc("dr_not_sent")
            return
        self.counters.inc("dr_sent")
        self.reply(f, F.DEFAULT_RESPONSE, bytes((f.cmd_id, status)), FR.GLOBAL, False)

    def _spawn(self, coro):
        asyncio.create_task(coro)

    # ---------------- receiving ----------------

    def handle_incoming(self, msg):
        # ncp.messages listener. Never raises.
        try:
            self._incoming(msg)
        except Exception as e:  # last resort: a bug here must not take the NCP task down
            self.counters.inc("internal_errors")
            log.exc(_TAG, e, "incoming frame")

    def _incoming(self, msg):
        # The allocation-free path (docs/zigbee.md): header, match, one copy, record decoding.
        c = self.counters
        c.inc("rx_frames")
        if msg.profile_id == 0:  # ZDO is not ZCL
            return
        buf = msg.payload
        hdr = self._hdr
        if hdr.read(buf) < 0:
            c.inc("rx_short")
            if self._lim.ok(_L_SHORT):
                log.warn(_TAG, "short frame (%d B) from 0x%04x", len(buf), msg.sender)
            return
        if hdr.frame_type > FR.CLUSTER:
            c.inc("rx_malformed")
            if self._lim.ok(_L_MALFORMED):
                log.warn(_TAG, "reserved frame type from 0x%04x", msg.sender)
            return
        if len(buf) > len(self._rx._raw):
            c.inc("rx_oversize")
            if self._lim.ok(_L_OVERSIZE):
                log.warn(_TAG, "%d B frame from 0x%04x dropped", len(buf), msg.sender)
            return
        g = self._gate
        for p in self._pool:
            if p.busy and p.matches(msg, hdr, buf):
                f = p.frame
                f.load(msg, hdr, buf)
                if g is not None and not self._admit(g, f, True):
                    return  # e.g. unencrypted: the request waits on (or times out)
                if f.frame_type == FR.GLOBAL and f.cmd_id == F.READ_ATTRIBUTES_RSP:
                    self._decode_records(f, False)
                p.rsp = f
                p.ev.set()
                return
        f = self._rx
        f.load(msg, hdr, buf)  # (a copy: nothing of the payload is decoded yet)
        if g is not None and not self._admit(g, f, False):
            return
        if f.frame_type == FR.GLOBAL:
            self._global(f)
        else:
            self._cluster(f)

    def _admit(self, gate, f, response):
        # The gate's verdict; a gate that raises refuses (counted as a handler error).
        # response: f answers one of our requests (its sender is the node we asked).
        try:
            ok = gate(f, response)
        except Exception as e:
            self.counters.inc("handler_errors")
            log.exc(_TAG, e, "gate %r", f)
            ok = False
        if not ok:
            self.counters.inc("rx_gated")
            if self._lim.ok(_L_GATED):
                log.warn(_TAG, "%r refused before decoding", f)
        return ok

    def _decode_records(self, f, report):
        # f.payload -> f.records, type-checked against the cluster table. -> False if malformed
        # (counted + logged; the records before the fault stay usable).
        rec = f.records
        if report:
            ok = F.decode_attribute_records_into(rec, f.payload)
        else:
            ok = F.decode_read_attributes_response_into(rec, f.payload)
        if not ok:
            self.counters.inc("rx_malformed")
            if self._lim.ok(_L_MALFORMED):
                log.warn(_TAG, "malformed %r: %s", f, rec.error)
        if rec.more:
            self.counters.inc("rx_many_records")
            if self._lim.ok(_L_MANY):
                log.info(_TAG, "%r: more than %d records", f, rec.cap)
        st = rec.status
        for i in range(rec.n):
            if st[i] == F.SUCCESS and not self._type_ok(f.cluster, rec.attr[i], rec.tid[i],
                                                        f.direction, f.node):  # fmt: skip
                st[i] = F.INVALID_DATA_TYPE
        return ok

    def _malformed(self, f, e):
        self.counters.inc("rx_malformed")
        if self._lim.ok(_L_MALFORMED):
            log.warn(_TAG, "malformed %r: %s", f, e)

    def _type_ok(self, cluster, attr_id, tid, side, node):
        want = CL.attr_type(cluster, attr_id, side)
        if want is None or want == tid:
            return True
        self.counters.inc("rx_bad_type")
        if self._lim.ok(_L_TYPE):
            log.warn(_TAG, "0x%04x cl 0x%04x attr 0x%04x: type 0x%02x, want 0x%02x", node,
                     cluster, attr_id, tid, want)  # fmt: skip
        return False

    def _decode_args(self, f):
        row = CL.command(f.cluster, f.direction, f.cmd_id)
        if row is None:
            return True
        try:
            f.args = CL.decode(row[2], f.payload)
        except DecodeError as e:
            self._malformed(f, e)
            return False
        return True

    def _cluster(self, f):
        h = None
        if f.manuf is None:
            h = self._handlers.get(f.cluster << 9 | f.cmd_id << 1 | f.direction)
        if h is None:
            self.counters.inc("rx_unsup_cmd")
            if self._lim.ok(_L_UNSUP):
                log.info(_TAG, "unsupported %r", f)
            st = F.UNSUP_CLUSTER_COMMAND if f.manuf is None else F.UNSUP_MANUF_CLUSTER_COMMAND
            self.default_response(f, st)
            return
        if not self._decode_args(f):
            self.default_response(f, F.MALFORMED_COMMAND)
            return
        try:
            r = h(f, f.args)
        except Exception as e:
            self.counters.inc("handler_errors")
            log.exc(_TAG, e, "handler %r", f)
            self.default_response(f, F.FAILURE)
            return
        if r is not None and hasattr(r, "send"):  # coroutine (a generator on MicroPython)
            # It runs after this callback, when f holds another frame: finish on a copy.
            self._spawn(self._await_handler(f.detach(), r))
        else:
            self._finish(f, r)

    async def _await_handler(self, f, coro):
        try:
            st = await coro
        except Exception as e:
            self.counters.inc("handler_errors")
            log.exc(_TAG, e, "handler %r", f)
            st = F.FAILURE
        self._finish(f, st)

    def _finish(self, f, status):
        if status is None:
            status = F.SUCCESS
        if f.responded and status == F.SUCCESS:
            return
        if status != F.SUCCESS or not f.disable_dr:
            self.default_response(f, status)

    def _global(self, f):
        cmd = f.cmd_id
        if cmd in _GLOBAL_RSPS:
            st = f.default_status()
            if st:
                self.counters.inc("rx_dr_not_found" if st == F.NOT_FOUND else "rx_dr_error")
                if self._lim.ok(_L_DR):
                    log.info(_TAG, "default rsp 0x%02x to cmd 0x%02x from 0x%04x", st,
                             f.payload[0] if f.payload else -1, f.node)  # fmt: skip
            else:
                self.counters.inc("rx_unmatched")
            return
        if f.manuf is not None:
            self.counters.inc("rx_unsup_cmd")
            self.default_response(f, F.UNSUP_MANUF_GENERAL_COMMAND)
        elif cmd == F.REPORT_ATTRIBUTES:
            self._report(f)
        elif cmd == F.READ_ATTRIBUTES:
            self._local_read(f)
        elif cmd in (F.WRITE_ATTRIBUTES, F.WRITE_ATTRIBUTES_UNDIVIDED, F.WRITE_ATTRIBUTES_NO_RSP):
            self._local_write(f)
        elif cmd == F.DISCOVER_ATTRIBUTES:
            self._local_discover(f)
        else:
            self.counters.inc("rx_unsup_cmd")
            self.default_response(f, F.UNSUP_GENERAL_COMMAND)

    def _report(self, f):
        # All records are decoded (and checked) before any handler sees one: a malformed
        # report reaches no handler. A report nobody handles is not decoded at all.
        rh = self._records_handlers.get(f.cluster)
        hs = self._report_handlers.get(f.cluster)
        if not rh and not hs:
            if not f.disable_dr:
                self.default_response(f, F.SUCCESS)
            return
        if not self._decode_records(f, True):
            self.default_response(f, F.MALFORMED_COMMAND)
            return
        rec = f.records
        if rec.more and not self._rest(f, None):  # more records than Records holds (rare)
            self.default_response(f, F.MALFORMED_COMMAND)
            return
        for h in rh or ():
            try:
                h(f, rec)
            except Exception as e:
                self.counters.inc("handler_errors")
                log.exc(_TAG, e, "report handler %r", f)
        if hs:
            for i in range(rec.n):
                if rec.ok(i):
                    self._report_one(f, hs, rec.attr[i], rec.value(i))
            if rec.more:
                self._rest(f, hs)
        if not f.disable_dr:
            self.default_response(f, F.SUCCESS)

    def _rest(self, f, hs):
        # The records of a report after those f.records holds, chunk by chunk in a scratch
        # Records (no record list, whatever their number): hs None checks them (-> False if
        # malformed, counted + logged); else each type-checked value goes to the handlers hs.
        rec = f.records
        s = self._scratch
        if s is None:  # made on first use, then kept
            s = self._scratch = F.Records(rec.cap)
        off, left = rec.stop, T.MAX_ELEMENTS - rec.elements
        while True:
            if not F.decode_attribute_records_into(s, f.payload, off, left):
                self._malformed(f, s.error)
                return False
            if hs is not None:
                for i in range(s.n):
                    a = s.attr[i]
                    if self._type_ok(f.cluster, a, s.tid[i], f.direction, f.node):
                        self._report_one(f, hs, a, s.value(i))
            if not s.more:
                return True
            off, left = s.stop, left - s.elements

    def _report_one(self, f, hs, a, v):
        for h in hs:
            try:
                h(f, a, v)
            except Exception as e:
                self.counters.inc("handler_errors")
                log.exc(_TAG, e, "report handler %r", f)

    def _store(self, f):
        store = self._local.get(f.cluster)
        if store is None and f.cmd_id != F.WRITE_ATTRIBUTES_NO_RSP:
            self.default_response(f, F.UNSUPPORTED_CLUSTER)
        return store

    def _rsp_buf(self, f, cmd_id):
        buf = bytearray(self.max_payload)
        off = FR.encode_header(buf, 0, FR.GLOBAL, 1 - f.direction, f.tsn, cmd_id, True)
        return buf, off

    def _send_rsp(self, f, buf, n):
        f.responded = True
        data = bytes(buf[:n])
        self._spawn(self._send(f.node, f.src_ep, f.cluster, data, f.dst_ep, f.profile_id))

    def _read_records(self, store, ids):
        for a in ids:
            e = store.get(a)
            v = None
            if e is not None:
                v = e[1]() if callable(e[1]) else e[1]
            if e is None or (v is None and e[0] not in (T.OCTSTR, T.CHARSTR)):
                yield a, F.UNSUPPORTED_ATTRIBUTE, None, None
            else:
                yield a, F.SUCCESS, e[0], v

    def _local_read(self, f):
        store = self._store(f)
        if store is None:
            return
        if len(f.payload) & 1:  # {attrId u16}*: the only way to be malformed
            self._malformed(f, "read attributes: odd length")
            self.default_response(f, F.MALFORMED_COMMAND)
            return
        # ids streamed into the response, which ends when full (no list of up to 126 ids)
        ids = F.iter_read_attributes(f.payload)
        buf, off = self._rsp_buf(f, F.READ_ATTRIBUTES_RSP)
        n = F.encode_read_attributes_response(buf, off, self._read_records(store, ids), True)
        self._send_rsp(f, buf, n)

    @staticmethod
    def _write_status(store, a, tid):
        e = store.get(a)
        if e is None:
            return F.UNSUPPORTED_ATTRIBUTE
        if not e[2]:
            return F.READ_ONLY
        if e[0] != tid:
            return F.INVALID_DATA_TYPE
        return F.SUCCESS

    def _write_chunks(self, f, off, left):
        # The next chunk of Write Attributes records, decoded in place into f.records (no
        # allocation, any number of records). -> the offset of the chunk after it (-1: none).
        rec = f.records
        if not F.decode_attribute_records_into(rec, f.payload, off, left):
            return -2
        return rec.stop if rec.more else -1

    def _local_write(self, f):
        # Two passes over the records, decoded in place chunk by chunk (a frame of many
        # records allocates no record list): check them all, then store what may be stored
        # (undivided: all or nothing; a value is decoded only to be stored). The response
        # lists the failures that fit in one frame.
        store = self._store(f)
        if store is None:
            return
        no_rsp = f.cmd_id == F.WRITE_ATTRIBUTES_NO_RSP
        rec = f.records
        failed = 0
        off, left = 0, T.MAX_ELEMENTS
        while off >= 0:
            nxt = self._write_chunks(f, off, left)
            if nxt == -2:
                self._malformed(f, rec.error)
                if not no_rsp:
                    self.default_response(f, F.MALFORMED_COMMAND)
                return
            for i in range(rec.n):
                if self._write_status(store, rec.attr[i], rec.tid[i]):
                    failed += 1
            off, left = nxt, left - rec.elements
        apply = f.cmd_id != F.WRITE_ATTRIBUTES_UNDIVIDED or not failed
        hook = self._on_write.get(f.cluster)
        buf, start = self._rsp_buf(f, F.WRITE_ATTRIBUTES_RSP)
        room = (len(buf) - start) // 3
        fails = []
        off, left = 0, T.MAX_ELEMENTS
        while off >= 0:
            nxt = self._write_chunks(f, off, left)  # (checked in the first pass)
            for i in range(rec.n):
                a = rec.attr[i]
                st = self._write_status(store, a, rec.tid[i])
                if not st and apply:
                    v = rec.value(i)
                    if hook is not None:
                        try:
                            st = hook(a, v) or F.SUCCESS
                        except Exception as e:
                            log.exc(_TAG, e, "on_write 0x%04x", a)
                            st = F.FAILURE
                    if not st:
                        store[a][1] = v
                if st and len(fails) < room:
                    fails.append((st, a))
            off, left = nxt, left - rec.elements
        if no_rsp:
            return
        n = F.encode_write_attributes_response(buf, start, fails)
        self._send_rsp(f, buf, n)

    def _local_discover(self, f):
        store = self._store(f)
        if store is None:
            return
        try:
            start, max_n = F.decode_discover_attributes(f.payload)
        except DecodeError as e:
            self._malformed(f, e)
            self.default_response(f, F.MALFORMED_COMMAND)
            return
        ids = sorted(a for a in store if a >= start)
        buf, off = self._rsp_buf(f, F.DISCOVER_ATTRIBUTES_RSP)
        max_n = min(max_n, (len(buf) - off - 1) // 3)
        recs = [(a, store[a][0]) for a in ids[:max_n]]
        n = F.encode_discover_attributes_response(buf, off, len(ids) <= max_n, recs)
        self._send_rsp(f, buf, n)
