"""A small declarative ZCL server model.

A `Device` (one node) has endpoints; an `Endpoint` has server `Cluster`s. A cluster has an
attribute table (`Attr`: id, ZCL type id, fixed value or getter, writable, reportable) and a
per-cluster command handler registry (`cluster.on(cmd_id, fn)`), so behaviour such as
Prepayment ConsumerTopUp or the OTA server can be added later without touching this module:

    def top_up(req: Request) -> None:
        req.reply(0x03, payload)          # cluster-specific response (S->C)
    esme.cluster(0x0705).on(0x04, top_up)

A handler may call `req.reply(...)`, `req.default_response(status)` or neither (then a Default
Response SUCCESS is sent unless the request disabled it). Raising `ZclError(status)` sends a
Default Response with that status. Unregistered cluster commands get UNSUP_CLUSTER_COMMAND.

ZCL value encoding uses zigpy's foundation data types.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Dict, List, Optional, Tuple

import zigpy.zcl.foundation as f

# status codes
SUCCESS = 0x00
FAILURE = 0x01
MALFORMED_COMMAND = 0x80
UNSUP_CLUSTER_COMMAND = 0x81
UNSUP_GENERAL_COMMAND = 0x82
UNSUP_MANUF_CLUSTER_COMMAND = 0x83
UNSUP_MANUF_GENERAL_COMMAND = 0x84
INVALID_FIELD = 0x85
UNSUPPORTED_ATTRIBUTE = 0x86
INVALID_VALUE = 0x87
READ_ONLY = 0x88
NOT_FOUND = 0x8B
UNREPORTABLE_ATTRIBUTE = 0x8C
INVALID_DATA_TYPE = 0x8D
UNSUPPORTED_CLUSTER = 0xC3

# global commands
READ_ATTRIBUTES = 0x00
READ_ATTRIBUTES_RSP = 0x01
WRITE_ATTRIBUTES = 0x02
WRITE_UNDIVIDED = 0x03
WRITE_ATTRIBUTES_RSP = 0x04
WRITE_NO_RSP = 0x05
CONFIGURE_REPORTING = 0x06
CONFIGURE_REPORTING_RSP = 0x07
READ_REPORTING_CONFIG = 0x08
READ_REPORTING_CONFIG_RSP = 0x09
REPORT_ATTRIBUTES = 0x0A
DEFAULT_RESPONSE = 0x0B
DISCOVER_ATTRIBUTES = 0x0C
DISCOVER_ATTRIBUTES_RSP = 0x0D

FC_CLUSTER = 0x01
FC_MANUF = 0x04
FC_SERVER_TO_CLIENT = 0x08
FC_DISABLE_DEFAULT_RSP = 0x10

# ZCL types (ids)
T_BOOL, T_MAP8, T_MAP16, T_MAP32 = 0x10, 0x18, 0x19, 0x1B
T_U8, T_U16, T_U24, T_U32, T_U48 = 0x20, 0x21, 0x22, 0x23, 0x25
T_I8, T_I16, T_I24, T_I32 = 0x28, 0x29, 0x2A, 0x2B
T_ENUM8, T_ENUM16 = 0x30, 0x31
T_OCTSTR, T_STRING = 0x41, 0x42
T_UTC = 0xE2
T_EUI64 = 0xF0

ANALOG = set(range(0x20, 0x30)) | {0x38, 0x39, 0x3A, 0xE0, 0xE1, 0xE2}


class ZclError(Exception):
    def __init__(self, status: int):
        super().__init__("ZCL status 0x%02x" % status)
        self.status = status


def _pytype(type_id: int) -> Any:
    # zigpy's Python type for a ZCL data type id
    data_type: Any = f.DataType
    return data_type.from_type_id(type_id).python_type


def encode_value(type_id: int, value: Any) -> bytes:
    pytype = _pytype(type_id)
    if type_id in (T_OCTSTR, T_STRING) and isinstance(value, str):
        value = value.encode() if type_id == T_OCTSTR else value
    return pytype(value).serialize()


def decode_value(type_id: int, data: bytes) -> Tuple[Any, bytes]:
    pytype = _pytype(type_id)
    return pytype.deserialize(data)


def header(
    tsn: int,
    cmd: int,
    cluster_specific: bool,
    server_to_client: bool = True,
    disable_default_rsp: bool = False,
    manufacturer: Optional[int] = None,
) -> bytes:
    fc = FC_CLUSTER if cluster_specific else 0
    fc |= FC_SERVER_TO_CLIENT if server_to_client else 0
    fc |= FC_DISABLE_DEFAULT_RSP if disable_default_rsp else 0
    if manufacturer is not None:
        return bytes((fc | FC_MANUF,)) + struct.pack("<H", manufacturer) + bytes((tsn, cmd))
    return bytes((fc, tsn, cmd))


class Attr:
    def __init__(
        self,
        attr_id: int,
        type_id: int,
        value: Any = None,
        getter: Optional[Callable[[], Any]] = None,
        writable: bool = False,
        name: str = "",
    ):
        self.id = attr_id
        self.type = type_id
        self.value = value
        self.getter = getter
        self.writable = writable
        self.name = name

    def get(self) -> Any:
        return self.getter() if self.getter is not None else self.value


class Reporting:
    def __init__(
        self,
        attr_id: int,
        type_id: int,
        min_s: int,
        max_s: int,
        change: Any,
        dest: int,
        dest_ep: int,
        src_ep: int,
    ):
        self.attr_id = attr_id
        self.type = type_id
        self.min_s = min_s
        self.max_s = max_s
        self.change = change
        self.dest = dest
        self.dest_ep = dest_ep
        self.src_ep = src_ep
        self.last_value: Any = None
        self.last_sent = -1e18


class Request:
    """One received ZCL command addressed to a server cluster."""

    def __init__(
        self,
        cluster: Cluster,
        src: int,
        src_ep: int,
        fc: int,
        tsn: int,
        cmd: int,
        payload: bytes,
        manufacturer: Optional[int],
    ):
        self.cluster = cluster
        self.src = src
        self.src_ep = src_ep
        self.fc = fc
        self.tsn = tsn
        self.cmd = cmd
        self.payload = payload
        self.manufacturer = manufacturer
        self.responses: List[bytes] = []
        self.answered = False

    @property
    def disable_default_rsp(self) -> bool:
        return bool(self.fc & FC_DISABLE_DEFAULT_RSP)

    @property
    def now(self) -> float:
        return self.cluster.device.now()

    def reply(self, cmd: int, payload: bytes, cluster_specific: bool = True) -> None:
        self.answered = True
        self.responses.append(
            header(self.tsn, cmd, cluster_specific, True, disable_default_rsp=True) + payload
        )

    def default_response(self, status: int) -> None:
        self.answered = True
        self.responses.append(
            header(self.tsn, DEFAULT_RESPONSE, False, True, True) + bytes((self.cmd, status))
        )


Handler = Callable[[Request], None]


class Cluster:
    cluster_id = 0xFFFF
    name = "cluster"

    def __init__(self, device: Device, endpoint: int):
        self.device = device
        self.endpoint = endpoint
        self.attrs: Dict[int, Attr] = {}
        self.handlers: Dict[int, Handler] = {}
        self.reporting: Dict[int, Reporting] = {}
        self.setup()

    def setup(self) -> None:
        # subclasses declare attributes and handlers here
        pass

    # ---- declaration helpers ----
    def attr(
        self,
        attr_id: int,
        type_id: int,
        value: Any = None,
        getter: Optional[Callable[[], Any]] = None,
        writable: bool = False,
        name: str = "",
    ) -> Attr:
        a = Attr(attr_id, type_id, value, getter, writable, name)
        self.attrs[attr_id] = a
        return a

    def on(self, cmd: int, handler: Handler) -> None:
        self.handlers[cmd] = handler

    def remove_handler(self, cmd: int) -> None:
        self.handlers.pop(cmd, None)

    def value(self, attr_id: int) -> Any:
        return self.attrs[attr_id].get()

    def set_value(self, attr_id: int, value: Any) -> None:
        self.attrs[attr_id].value = value
        self.attrs[attr_id].getter = None

    # ---- dispatch ----
    def handle(self, req: Request) -> None:
        global_cmd = not (req.fc & FC_CLUSTER)
        if req.manufacturer is not None:
            req.default_response(
                UNSUP_MANUF_GENERAL_COMMAND if global_cmd else UNSUP_MANUF_CLUSTER_COMMAND
            )
            return
        if global_cmd:
            self._global(req)
            return
        if req.fc & FC_SERVER_TO_CLIENT:
            # a server->client command sent to a server cluster: not ours
            req.default_response(UNSUP_CLUSTER_COMMAND)
            return
        handler = self.handlers.get(req.cmd)
        if handler is None:
            req.default_response(UNSUP_CLUSTER_COMMAND)
            return
        try:
            handler(req)
        except ZclError as e:
            req.responses.clear()
            req.default_response(e.status)
            return
        except (struct.error, IndexError, ValueError):
            req.responses.clear()
            req.default_response(MALFORMED_COMMAND)
            return
        if not req.answered and not req.disable_default_rsp:
            req.default_response(SUCCESS)

    def _global(self, req: Request) -> None:
        cmd = req.cmd
        if cmd == READ_ATTRIBUTES:
            req.reply(READ_ATTRIBUTES_RSP, self._read(req.payload), cluster_specific=False)
        elif cmd in (WRITE_ATTRIBUTES, WRITE_UNDIVIDED, WRITE_NO_RSP):
            rsp = self._write(req.payload, undivided=cmd == WRITE_UNDIVIDED)
            if cmd != WRITE_NO_RSP:
                req.reply(WRITE_ATTRIBUTES_RSP, rsp, cluster_specific=False)
            else:
                req.answered = True
        elif cmd == CONFIGURE_REPORTING:
            req.reply(
                CONFIGURE_REPORTING_RSP, self._configure_reporting(req), cluster_specific=False
            )
        elif cmd == READ_REPORTING_CONFIG:
            req.reply(
                READ_REPORTING_CONFIG_RSP,
                self._read_reporting(req.payload),
                cluster_specific=False,
            )
        elif cmd == DISCOVER_ATTRIBUTES:
            start, count = struct.unpack_from("<HB", req.payload)
            ids = sorted(a for a in self.attrs if a >= start)
            out = bytearray((1 if len(ids) <= count else 0,))
            for a in ids[:count]:
                out += struct.pack("<HB", a, self.attrs[a].type)
            req.reply(DISCOVER_ATTRIBUTES_RSP, bytes(out), cluster_specific=False)
        elif cmd in (
            DEFAULT_RESPONSE,
            READ_ATTRIBUTES_RSP,
            WRITE_ATTRIBUTES_RSP,
            CONFIGURE_REPORTING_RSP,
            REPORT_ATTRIBUTES,
            DISCOVER_ATTRIBUTES_RSP,
        ):
            req.answered = True  # responses are never answered
        else:
            req.default_response(UNSUP_GENERAL_COMMAND)

    def read_record(self, attr_id: int) -> bytes:
        a = self.attrs.get(attr_id)
        if a is None:
            return struct.pack("<HB", attr_id, UNSUPPORTED_ATTRIBUTE)
        return struct.pack("<HBB", attr_id, SUCCESS, a.type) + encode_value(a.type, a.get())

    def _read(self, payload: bytes) -> bytes:
        out = bytearray()
        for i in range(0, len(payload) - 1, 2):
            (attr_id,) = struct.unpack_from("<H", payload, i)
            out += self.read_record(attr_id)
        return bytes(out)

    def _write(self, payload: bytes, undivided: bool) -> bytes:
        failures = bytearray()
        accepted: List[Tuple[Attr, Any]] = []
        data = payload
        while len(data) >= 3:
            attr_id, type_id = struct.unpack_from("<HB", data)
            try:
                value, data = decode_value(type_id, data[3:])
            except (KeyError, ValueError):
                failures += struct.pack("<BH", INVALID_DATA_TYPE, attr_id)
                break
            a = self.attrs.get(attr_id)
            if a is None:
                failures += struct.pack("<BH", UNSUPPORTED_ATTRIBUTE, attr_id)
            elif not a.writable:
                failures += struct.pack("<BH", READ_ONLY, attr_id)
            elif a.type != type_id:
                failures += struct.pack("<BH", INVALID_DATA_TYPE, attr_id)
            else:
                accepted.append((a, value))
        if not (undivided and failures):
            for a, value in accepted:
                a.value = value
                a.getter = None
        return bytes(failures) if failures else b"\x00"

    def _configure_reporting(self, req: Request) -> bytes:
        failures = bytearray()
        data = req.payload
        while data:
            cfg, data = f.AttributeReportingConfig.deserialize(data)
            if cfg.direction != 0:
                continue  # timeout-period records: accepted, nothing to do
            a = self.attrs.get(cfg.attrid)
            if a is None:
                status = UNSUPPORTED_ATTRIBUTE
            elif a.type != cfg.datatype:
                status = INVALID_DATA_TYPE
            elif a.type in (T_OCTSTR, T_STRING):
                status = UNREPORTABLE_ATTRIBUTE
            else:
                status = SUCCESS
            if status or a is None:
                failures += struct.pack("<BBH", status, 0, cfg.attrid)
                continue
            if cfg.max_interval == 0xFFFF:
                self.reporting.pop(cfg.attrid, None)
                continue
            change = getattr(cfg, "reportable_change", None)
            self.reporting[cfg.attrid] = Reporting(
                cfg.attrid,
                a.type,
                cfg.min_interval,
                cfg.max_interval,
                change,
                req.src,
                req.src_ep,
                self.endpoint,
            )
        return bytes(failures) if failures else b"\x00"

    def _read_reporting(self, payload: bytes) -> bytes:
        out = bytearray()
        for i in range(0, len(payload) - 2, 3):
            direction, attr_id = struct.unpack_from("<BH", payload, i)
            r = self.reporting.get(attr_id)
            if r is None or direction != 0:
                out += struct.pack("<BBH", NOT_FOUND, direction, attr_id)
                continue
            out += struct.pack("<BBHBHH", SUCCESS, 0, attr_id, r.type, r.min_s, r.max_s)
            if r.type in ANALOG:
                out += encode_value(r.type, r.change or 0)
        return bytes(out)

    def due_reports(self, now: float) -> List[Tuple[Reporting, bytes]]:
        # (reporting config, Report Attributes record) for each report due at sim time `now`
        out = []
        for r in self.reporting.values():
            value = self.attrs[r.attr_id].get()
            since = now - r.last_sent
            if since < r.min_s:
                continue
            changed = False
            if r.last_value is not None and value != r.last_value:
                if r.type in ANALOG:
                    changed = abs(value - r.last_value) >= (r.change or 0) and bool(r.change)
                else:
                    changed = True
            periodic = r.max_s != 0 and since >= r.max_s
            if r.last_value is None or changed or periodic:
                r.last_value = value
                r.last_sent = now
                out.append(
                    (r, struct.pack("<HB", r.attr_id, r.type) + encode_value(r.type, value))
                )
        return out


class Device:
    """A simulated node. `now()` is simulated unix time. `send(dest, dest_ep, src_ep,
    cluster_id, zcl_bytes)` is set by the HAN and transmits an unsolicited frame."""

    profile_id = 0x0109

    def __init__(self, name: str, node_id: int, eui64: bytes, now: Callable[[], float]):
        self.name = name
        self.node_id = node_id
        self.eui64 = eui64  # little-endian wire order
        self.now = now
        self.endpoints: Dict[int, Dict[int, Cluster]] = {}
        self.send: Optional[Callable[[int, int, int, int, bytes], None]] = None
        self.tsn = 0x40
        self.offline_until = -1.0
        self.start_unix = 0.0  # scenario start (Time cluster LastSetTime)
        self.response_delay_s = 0.0

    def add_cluster(self, endpoint: int, cls: Callable[..., Cluster], *args: Any) -> Cluster:
        c = cls(self, endpoint, *args)
        self.endpoints.setdefault(endpoint, {})[c.cluster_id] = c
        return c

    def cluster(self, cluster_id: int, endpoint: Optional[int] = None) -> Cluster:
        for ep, clusters in sorted(self.endpoints.items()):
            if (endpoint is None or ep == endpoint) and cluster_id in clusters:
                return clusters[cluster_id]
        raise KeyError("%s has no cluster 0x%04x" % (self.name, cluster_id))

    def has_cluster(self, cluster_id: int) -> bool:
        return any(cluster_id in c for c in self.endpoints.values())

    def next_tsn(self) -> int:
        self.tsn = (self.tsn + 1) & 0xFF
        return self.tsn

    def handle_zcl(
        self, src: int, src_ep: int, dst_ep: int, cluster_id: int, data: bytes
    ) -> List[bytes]:
        # returns the ZCL frames to send back to (src, src_ep)
        if len(data) < 3:
            return []
        fc = data[0]
        manufacturer = None
        off = 1
        if fc & FC_MANUF:
            if len(data) < 5:
                return []
            (manufacturer,) = struct.unpack_from("<H", data, 1)
            off = 3
        tsn, cmd = data[off], data[off + 1]
        payload = data[off + 2 :]
        clusters = self.endpoints.get(dst_ep)
        if clusters is None:
            return []  # no such endpoint: the stack drops it
        cluster = clusters.get(cluster_id)
        if cluster is None:
            if fc & FC_SERVER_TO_CLIENT or (not fc & FC_CLUSTER and cmd == DEFAULT_RESPONSE):
                return []
            return [
                header(tsn, DEFAULT_RESPONSE, False, True, True)
                + bytes((cmd, UNSUPPORTED_CLUSTER))
            ]
        req = Request(cluster, src, src_ep, fc, tsn, cmd, payload, manufacturer)
        cluster.handle(req)
        return req.responses

    def push(
        self,
        dest: int,
        dest_ep: int,
        cluster_id: int,
        cmd: int,
        payload: bytes,
        endpoint: Optional[int] = None,
    ) -> None:
        # unsolicited cluster command server->client (e.g. PublishChangeOfTenancy)
        c = self.cluster(cluster_id, endpoint)
        frame = header(self.next_tsn(), cmd, True, True, False) + payload
        if self.send is not None:
            self.send(dest, dest_ep, c.endpoint, cluster_id, frame)

    def tick(self, now: float) -> None:
        if self.send is None:
            return
        for clusters in self.endpoints.values():
            for c in clusters.values():
                for r, record in c.due_reports(now):
                    frame = header(self.next_tsn(), REPORT_ATTRIBUTES, False, True, True) + record
                    self.send(r.dest, r.dest_ep, r.src_ep, c.cluster_id, frame)
