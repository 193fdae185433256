# ZCL endpoint logic over the NCP: TSNs, request/response correlation with timeout + retries,
# command/report dispatch, automatic Default Response, a local attribute store answering Read /
# Write / Discover Attributes. SPDX-License-Identifier: MIT
# Wiring: ncp.on_message = zcl.handle_incoming. Malformed input is logged + counted (counters
# "zcl.*"), answered with a Default Response where the spec wants one, and never raised.
import asyncio
import time

from ihd.runtime import counters, log
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

_COUNTERS = (
    "rx_frames",
    "rx_short",  # shorter than its ZCL header
    "rx_malformed",  # payload did not decode (truncated record, string past the end, ...)
    "rx_bad_type",  # attribute value with a data type other than the cluster table's
    "rx_unmatched",  # response with no request waiting for it
    "rx_unsup_cmd",  # answered UNSUP_*_COMMAND
    "rx_dr_error",  # Default Response with a non-SUCCESS status
    "handler_errors",
    "tx_frames",
    "tx_errors",
    "dr_sent",
    "req_timeouts",  # one per attempt
    "req_failed",  # all attempts exhausted
    "internal_errors",
)

# Global response commands: never answered, only matched to a pending request.
_GLOBAL_RSPS = (0x01, 0x04, 0x07, 0x09, 0x0B, 0x0D, 0x10, 0x12, 0x14, 0x16)


class Frame:
    # One received ZCL frame; payload (after the header) is copied out of the NCP buffer, so
    # the object may outlive handle_incoming().
    def __init__(self, msg, hdr, payload):
        self.node = msg.sender
        self.eui64 = msg.sender_eui64
        self.profile_id = msg.profile_id
        self.cluster = msg.cluster_id
        self.src_ep = msg.src_ep
        self.dst_ep = msg.dst_ep
        self.secured = msg.secured
        self.lqi = msg.lqi
        self.rssi = msg.rssi
        self.frame_type = hdr.frame_type
        self.manuf = hdr.manuf
        self.direction = hdr.direction
        self.disable_dr = hdr.disable_dr
        self.tsn = hdr.tsn
        self.cmd_id = hdr.cmd_id
        self.payload = payload
        self.args = None  # dict of decoded fields for cluster commands with a schema
        self.responded = False  # a specific response was sent: no automatic Default Response

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
    def __init__(self, node, cluster, tsn, direction, cmd_id, frame_type, rsp_cmd):
        self.node = node
        self.cluster = cluster
        self.tsn = tsn
        self.direction = direction
        self.cmd_id = cmd_id
        self.frame_type = frame_type
        self.rsp_cmd = rsp_cmd
        self.ev = asyncio.Event()
        self.rsp = None

    def matches(self, f):
        if self.rsp is not None or f.tsn != self.tsn or f.node != self.node:
            return False
        if f.cluster != self.cluster or f.direction == self.direction:
            return False
        if f.frame_type == FR.GLOBAL and f.cmd_id == F.DEFAULT_RESPONSE:
            # A Default Response names the command it answers.
            return len(f.payload) < 1 or f.payload[0] == self.cmd_id
        if self.rsp_cmd is None:
            return True
        return f.frame_type == self.frame_type and f.cmd_id == self.rsp_cmd


class Zcl:
    def __init__(self, ncp, local_ep=1, profile_id=SE_PROFILE, max_payload=_MAX_PAYLOAD):
        self.ncp = ncp
        self.local_ep = local_ep
        self.profile_id = profile_id
        self.max_payload = max_payload
        self.counters = counters.Counters("zcl", _COUNTERS)
        self._tsn = time.ticks_ms() & 0xFF  # avoid replaying TSNs right after a reboot
        self._pending = []
        self._handlers = {}  # (cluster << 9 | cmd_id << 1 | direction) -> fn
        self._report_handlers = {}  # cluster -> [fn]
        self._local = {}  # cluster -> {attr_id: [tid, value_or_getter, writable]}
        self._on_write = {}  # cluster -> fn(attr_id, value) -> status or None
        self._hdr = FR.Header()

    # ---------------- registration ----------------

    def on_command(self, cluster, cmd_id, direction, handler):
        # handler(frame, args) for a cluster command received with this direction bit
        # (clusters.S2C for commands from a server, e.g. PublishPrice). args = decoded dict (None
        # if the command has no schema). Return a status (None = SUCCESS) for the Default
        # Response, or a coroutine that returns one; call reply() to send a specific response.
        self._handlers[cluster << 9 | cmd_id << 1 | direction] = handler

    def on_report(self, cluster, handler):
        # handler(frame, attr_id, value) per type-checked record of a Report Attributes.
        self._report_handlers.setdefault(cluster, []).append(handler)

    def local_cluster(self, cluster, attrs, on_write=None):
        # Declares attributes hosted on our endpoint: attrs = ((attr_id, tid, value, writable),
        # ...), value may be a zero-argument getter. on_write(attr_id, value) -> status or None
        # is called before a remote write is stored.
        store = self._local.setdefault(cluster, {})
        for a, tid, v, w in attrs:
            store[a] = [tid, v, w]
        if on_write is not None:
            self._on_write[cluster] = on_write

    def set_local(self, cluster, attr_id, value):
        self._local[cluster][attr_id][1] = value

    def get_local(self, cluster, attr_id):
        v = self._local[cluster][attr_id][1]
        return v() if callable(v) else v

    # ---------------- sending ----------------

    def next_tsn(self):
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    @staticmethod
    def build(frame_type, direction, tsn, cmd_id, payload=b"", disable_dr=False, manuf=None):
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

    async def send(self, node, ep, cluster, cmd_id, payload=b"", frame_type=FR.CLUSTER,
                   direction=FR.C2S, disable_dr=True, manuf=None):  # fmt: skip
        # Fire-and-forget (new TSN, no waiting). -> True if the NCP accepted it.
        data = self.build(frame_type, direction, self.next_tsn(), cmd_id, payload, disable_dr,
                          manuf)  # fmt: skip
        return await self._send(node, ep, cluster, data)

    async def request(self, node, ep, cluster, cmd_id, payload=b"", frame_type=FR.CLUSTER,
                      direction=FR.C2S, disable_dr=False, manuf=None, rsp_cmd=None,
                      timeout_ms=TIMEOUT_MS, retries=RETRIES):  # fmt: skip
        # Sends and waits for the frame from (node, cluster) with our TSN and the opposite
        # direction: the command rsp_cmd (same frame type; any command if None) or a Default
        # Response naming cmd_id. Retries resend with the same TSN, so a late answer to an
        # earlier attempt still counts. -> Frame, or None after retries + 1 attempts.
        tsn = self.next_tsn()
        data = self.build(frame_type, direction, tsn, cmd_id, payload, disable_dr, manuf)
        p = _Pending(node, cluster, tsn, direction, cmd_id, frame_type, rsp_cmd)
        self._pending.append(p)
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
            self._pending.remove(p)

    async def command(self, node, ep, cluster, cmd_id, values=None, direction=FR.C2S,
                      rsp_cmd=None, disable_dr=False, manuf=None, timeout_ms=TIMEOUT_MS,
                      retries=RETRIES):  # fmt: skip
        # Cluster command encoded from the clusters.py schema; the answer's args are decoded
        # with its schema too (left None, logged + counted, if malformed).
        row = CL.command(cluster, direction, cmd_id)
        if row is None:
            raise EncodeError("no schema for 0x%04x/0x%02x" % (cluster, cmd_id))
        payload = CL.encode(row[2], values or {}, self.max_payload)
        rsp = await self.request(node, ep, cluster, cmd_id, payload, FR.CLUSTER, direction,
                                 disable_dr, manuf, rsp_cmd, timeout_ms, retries)  # fmt: skip
        if rsp is not None and rsp.frame_type == FR.CLUSTER:
            self._decode_args(rsp)
        return rsp

    async def read_attributes(self, node, ep, cluster, attr_ids, side=CL.SERVER, manuf=None,
                              timeout_ms=TIMEOUT_MS, retries=RETRIES):  # fmt: skip
        # -> {attr_id: value or foundation.AttrStatus}, or None without an answer. A Default
        # Response (e.g. UNSUPPORTED_CLUSTER) maps every id to its status; ids missing from the
        # response are absent; a type mismatch vs the cluster table gives INVALID_DATA_TYPE.
        payload = bytearray(2 * len(attr_ids))
        F.encode_read_attributes(payload, 0, attr_ids)
        rsp = await self.request(node, ep, cluster, F.READ_ATTRIBUTES, payload, FR.GLOBAL,
                                 FR.C2S if side == CL.SERVER else FR.S2C, False, manuf,
                                 F.READ_ATTRIBUTES_RSP, timeout_ms, retries)  # fmt: skip
        if rsp is None:
            return None
        out = {}
        st = rsp.default_status()
        if st is not None:
            s = F.attr_status(st)
            for a in attr_ids:
                out[a] = s
            return out
        try:
            for a, st, tid, v in F.iter_read_attributes_response(rsp.payload):
                if st != F.SUCCESS:
                    out[a] = F.attr_status(st)
                elif self._type_ok(cluster, a, tid, rsp.direction, rsp.node):
                    out[a] = v
                else:
                    out[a] = F.attr_status(F.INVALID_DATA_TYPE)
        except DecodeError as e:
            self._malformed(rsp, e)
        return out

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

    def reply(self, f, cmd_id, payload=b"", frame_type=FR.CLUSTER, disable_dr=True):
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
        # Never in answer to a Default Response. Sent with disable-default-response clear, as in
        # the GBCS GCS09 vector.
        if f.frame_type == FR.GLOBAL and f.cmd_id == F.DEFAULT_RESPONSE:
            return
        self.counters.inc("dr_sent")
        self.reply(f, F.DEFAULT_RESPONSE, bytes((f.cmd_id, status)), FR.GLOBAL, False)

    def _spawn(self, coro):
        asyncio.create_task(coro)

    # ---------------- receiving ----------------

    def handle_incoming(self, msg):
        # ncp.on_message callback. Never raises.
        try:
            self._incoming(msg)
        except Exception as e:  # last resort: a bug here must not take the NCP task down
            self.counters.inc("internal_errors")
            log.exc(_TAG, e, "incoming frame")

    def _incoming(self, msg):
        c = self.counters
        c.inc("rx_frames")
        if msg.profile_id == 0:  # ZDO is not ZCL
            return
        buf = msg.payload
        try:
            hdr = self._hdr.parse(buf)
        except DecodeError:
            c.inc("rx_short")
            log.warn(_TAG, "short frame (%d B) from 0x%04x", len(buf), msg.sender)
            return
        if hdr.frame_type > FR.CLUSTER:
            c.inc("rx_malformed")
            log.warn(_TAG, "reserved frame type from 0x%04x", msg.sender)
            return
        f = Frame(msg, hdr, bytes(buf[hdr.payload_off :]))
        for p in self._pending:
            if p.matches(f):
                p.rsp = f
                p.ev.set()
                return
        if f.frame_type == FR.GLOBAL:
            self._global(f)
        else:
            self._cluster(f)

    def _malformed(self, f, e):
        self.counters.inc("rx_malformed")
        log.warn(_TAG, "malformed %r: %s", f, e)

    def _type_ok(self, cluster, attr_id, tid, side, node):
        want = CL.attr_type(cluster, attr_id, side)
        if want is None or want == tid:
            return True
        self.counters.inc("rx_bad_type")
        log.warn(_TAG, "0x%04x cl 0x%04x attr 0x%04x: type 0x%02x, want 0x%02x", node, cluster,
                 attr_id, tid, want)  # fmt: skip
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
            self._spawn(self._await_handler(f, r))
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
                self.counters.inc("rx_dr_error")
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
        try:
            recs = list(F.iter_report_attributes(f.payload))
        except DecodeError as e:
            self._malformed(f, e)
            self.default_response(f, F.MALFORMED_COMMAND)
            return
        hs = self._report_handlers.get(f.cluster, ())
        for a, tid, v in recs:
            if not self._type_ok(f.cluster, a, tid, f.direction, f.node):
                continue
            for h in hs:
                try:
                    h(f, a, v)
                except Exception as e:
                    self.counters.inc("handler_errors")
                    log.exc(_TAG, e, "report handler %r", f)
        if not f.disable_dr:
            self.default_response(f, F.SUCCESS)

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
        try:
            ids = list(F.iter_read_attributes(f.payload))
        except DecodeError as e:
            self._malformed(f, e)
            self.default_response(f, F.MALFORMED_COMMAND)
            return
        buf, off = self._rsp_buf(f, F.READ_ATTRIBUTES_RSP)
        n = F.encode_read_attributes_response(buf, off, self._read_records(store, ids), True)
        self._send_rsp(f, buf, n)

    def _local_write(self, f):
        store = self._store(f)
        if store is None:
            return
        try:
            recs = list(F.iter_write_attributes(f.payload))
        except DecodeError as e:
            self._malformed(f, e)
            if f.cmd_id != F.WRITE_ATTRIBUTES_NO_RSP:
                self.default_response(f, F.MALFORMED_COMMAND)
            return
        results = []
        for a, tid, _ in recs:
            e = store.get(a)
            if e is None:
                st = F.UNSUPPORTED_ATTRIBUTE
            elif not e[2]:
                st = F.READ_ONLY
            elif e[0] != tid:
                st = F.INVALID_DATA_TYPE
            else:
                st = F.SUCCESS
            results.append([st, a])
        # Undivided: all or nothing.
        apply = f.cmd_id != F.WRITE_ATTRIBUTES_UNDIVIDED or all(r[0] == 0 for r in results)
        hook = self._on_write.get(f.cluster)
        for i, (a, _, v) in enumerate(recs):
            if not apply or results[i][0] != F.SUCCESS:
                continue
            st = None
            if hook is not None:
                try:
                    st = hook(a, v)
                except Exception as e:
                    log.exc(_TAG, e, "on_write 0x%04x", a)
                    st = F.FAILURE
            if st:
                results[i][0] = st
            else:
                store[a][1] = v
        if f.cmd_id == F.WRITE_ATTRIBUTES_NO_RSP:
            return
        buf, off = self._rsp_buf(f, F.WRITE_ATTRIBUTES_RSP)
        n = F.encode_write_attributes_response(buf, off, results)
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
