"""Comms Hub OTA Upgrade server (cluster 0x0019 on node 0x0000, the hub's endpoint).

Serves the OTA file named in the scenario's `ota` section (docs/scenario-format.md "ota"):
answers QueryNextImage, ImageBlock and UpgradeEnd, sends ImageNotify at scenario times, and
behaves like a GB Comms Hub on a congested WAN/HAN when asked to: a per-block size cap (small
hub buffer), a hub-side buffer of N blocks refilled after a WAIT_FOR_DATA pause, scripted
WAIT_FOR_DATA episodes (with or without the MinimumBlockPeriod field), a MinimumBlockPeriod
rate limit, link-loss windows (requests dropped). Faults a certification test checks the device
against: UpgradeEndResponses with mismatched (or wildcard) identity fields, a Default Response
error in place of the UpgradeEndResponse, unsolicited UpgradeEndResponses at scenario times,
possibly from a spoofed short address. Every UpgradeEndResponse sent is listed in `status()`.
After a successful UpgradeEnd it reads the device's CurrentFileVersion back, as the hub does
for DCC (SR11.2 style), and reports the result in `status()` (control channel "status").
"""

from __future__ import annotations

import logging
import os
import struct
from typing import Any, Dict, List, Optional

from .clusters import OtaServer
from .simclock import iso_utc, to_zigbee
from .zcl import (
    FC_CLUSTER,
    READ_ATTRIBUTES,
    READ_ATTRIBUTES_RSP,
    Device,
    Request,
    header,
)

log = logging.getLogger("hansim.ota")

CLUSTER = 0x0019
SUCCESS = 0x00
ABORT = 0x95
WAIT_FOR_DATA = 0x97
NO_IMAGE_AVAILABLE = 0x98
UPGRADE_WAIT = 0xFFFFFFFF
ATTR_CURRENT_FILE_VERSION = 0x0002
UPGRADE_MODES = ("now", "absolute", "relative", "wait")
# ImageBlockResponse WAIT_FOR_DATA payload: status, CurrentTime, RequestTime, then
# MinimumBlockPeriod (u16) in the form with it (ZCL OTA rev 1.1 / ZCL 7, what zigpy 2.4.0's
# Ota.ImageBlockResponseCommand requires: minimum_block_period is a StructField required whenever
# status == WAIT_FOR_DATA, and deserializing the shorter form fails with "Data is too short").
# Silicon Labs' OTA server omits it unless built with its MinimumBlockPeriod option: "without".
WAIT_FORMS = ("with_min_block_period", "without")
_END_FIELDS = (("manufacturer_code", 0xFFFF), ("image_type", 0xFFFF), ("file_version", 0xFFFFFFFF))
_SPEC_KEYS = (
    "image",
    "build",
    "max_data_size",
    "min_block_period_ms",
    "wait_for_data",
    "buffer_blocks",
    "refill",
    "link_loss",
    "notify_at",
    "notify",
    "upgrade",
    "release_at",
    "readback_after",
    "abort_at_offset",
    "offer_any",
    "wait_form",
    "upgrade_end_response",
    "upgrade_end_error",
    "unsolicited_end",
)


def _end_field(v: Any, wildcard: int, where: str) -> Any:
    # an UpgradeEndResponse identity field: an integer, "wildcard" (0xFFFF / 0xFFFFFFFF: legal,
    # matches any) or "wrong" (the served image's value + 1, never the wildcard)
    from . import scenario as S

    if v in ("wildcard", "wrong"):
        return v
    return S.parse_int(v, where, 0, wildcard)


def _end_fields(d: Dict[str, Any], where: str) -> Dict[str, Any]:
    return {k: _end_field(d[k], w, "%s.%s" % (where, k)) for k, w in _END_FIELDS if k in d}


def _upgrade(u: Any, where: str) -> Any:
    from . import scenario as S

    S._check_keys(u, ("mode", "delay"), where)
    mode = S._choice(u.get("mode", "now"), UPGRADE_MODES, where + ".mode")
    return mode, S.parse_duration(u.get("delay", 0), where + ".delay")


class OtaSpec:
    """The scenario's `ota` section, validated (times already absolute unix seconds)."""

    def __init__(self, d: Dict[str, Any], start_unix: float, where: str):
        from . import scenario as S

        S._check_keys(d, _SPEC_KEYS, where)
        self.image_path: Optional[str] = None
        self.build: Optional[Dict[str, Any]] = None
        if ("image" in d) == ("build" in d):
            raise S.ScenarioError("%s: give exactly one of `image` (path) or `build`" % where)
        if "image" in d:
            self.image_path = str(d["image"])
        else:
            b = d["build"]
            S._check_keys(
                b, ("version", "board", "source", "hw_min", "hw_max", "sign"), where + ".build"
            )
            from host_tools.ota import fileformat as FF

            try:
                version = FF.parse_version(S._get(b, "version", where + ".build"))
            except ValueError as e:
                raise S.ScenarioError("%s.build.version: %s" % (where, e)) from None
            board = S._choice(
                b.get("board", "unix"), tuple(FF.IMAGE_TYPES), where + ".build.board"
            )
            self.build = {
                "version": version,
                "board": board,
                "source": bool(b.get("source", True)),
                "hw_min": S.parse_int(b["hw_min"], where + ".build.hw_min", 0, 0xFFFF)
                if "hw_min" in b
                else None,
                "hw_max": S.parse_int(b["hw_max"], where + ".build.hw_max", 0, 0xFFFF)
                if "hw_max" in b
                else None,
                "sign": None,
            }
            if "sign" in b:
                # PEM private key the image is signed with; relative: to the working directory,
                # as `image` (hansim runs from the repository root under host_tools.simulate);
                # "dev": this checkout's development key (created on first use), the one
                # `simulate` makes the device trust.
                key = b["sign"]
                if key == "dev":
                    from host_tools.ota import signing

                    signing.dev_key()
                    key = signing.DEV_KEY
                if not isinstance(key, str) or not os.path.isfile(key):
                    raise S.ScenarioError(
                        "%s.build.sign: %r is not a file (a PEM private key)" % (where, key)
                    )
                self.build["sign"] = os.path.abspath(key)
        self.max_data_size = S.parse_int(
            d.get("max_data_size", 64), where + ".max_data_size", 1, 255
        )
        self.min_block_period_ms = S.parse_int(
            d.get("min_block_period_ms", 0), where + ".min_block_period_ms", 0, 0xFFFF
        )
        self.wait_for_data: List[Dict[str, float]] = []
        for i, w in enumerate(d.get("wait_for_data", [])):
            wh = "%s.wait_for_data[%d]" % (where, i)
            S._check_keys(w, ("at_offset", "delay"), wh)
            self.wait_for_data.append(
                {
                    "at_offset": S.parse_int(S._get(w, "at_offset", wh), wh + ".at_offset"),
                    "delay_s": S.parse_duration(S._get(w, "delay", wh), wh + ".delay"),
                }
            )
        self.buffer_blocks = S.parse_int(d.get("buffer_blocks", 0), where + ".buffer_blocks")
        self.refill_s = S.parse_duration(d.get("refill", "30s"), where + ".refill")
        self.link_loss: List[Any] = []
        for i, w in enumerate(d.get("link_loss", [])):
            wh = "%s.link_loss[%d]" % (where, i)
            S._check_keys(w, ("at", "duration"), wh)
            t0 = S.parse_time(S._get(w, "at", wh), start_unix, wh + ".at")
            self.link_loss.append((t0, t0 + S.parse_duration(S._get(w, "duration", wh), wh)))
        self.notify_at = [
            S.parse_time(t, start_unix, "%s.notify_at[%d]" % (where, i))
            for i, t in enumerate(d.get("notify_at", []))
        ]
        n = d.get("notify", {})
        S._check_keys(n, ("payload_type", "jitter"), where + ".notify")
        self.notify_payload_type = S.parse_int(n.get("payload_type", 3), where + ".notify", 0, 3)
        self.notify_jitter = S.parse_int(n.get("jitter", 100), where + ".notify.jitter", 1, 100)
        self.upgrade_mode, self.upgrade_delay_s = _upgrade(
            d.get("upgrade", {"mode": "now"}), where + ".upgrade"
        )
        self.release_at = (
            S.parse_time(d["release_at"], start_unix, where + ".release_at")
            if "release_at" in d
            else None
        )
        self.readback_after_s = S.parse_duration(
            d.get("readback_after", "2m"), where + ".readback_after"
        )
        # A misconfigured (or hostile) hub: offers the image to every query, whatever the
        # device's manufacturer, image type, version and hardware (tests the device's checks).
        self.offer_any = bool(d.get("offer_any", False))
        self.abort_at_offset = (
            S.parse_int(d["abort_at_offset"], where + ".abort_at_offset")
            if "abort_at_offset" in d
            else None
        )

        self.wait_form = S._choice(
            d.get("wait_form", WAIT_FORMS[0]), WAIT_FORMS, where + ".wait_form"
        )
        # Faults of the hub's UpgradeEnd handling (a certification test checks the device's):
        # the identity fields of its UpgradeEndResponses, ...
        er = d.get("upgrade_end_response", {})
        S._check_keys(er, tuple(k for k, _ in _END_FIELDS), where + ".upgrade_end_response")
        self.upgrade_end_response = _end_fields(er, where + ".upgrade_end_response")
        # ... a Default Response error instead of the UpgradeEndResponse, ...
        self.upgrade_end_error: Optional[Dict[str, int]] = None
        if "upgrade_end_error" in d:
            ee, ew = d["upgrade_end_error"], where + ".upgrade_end_error"
            S._check_keys(ee, ("status", "count"), ew)
            self.upgrade_end_error = {
                "status": S.parse_int(ee.get("status", ABORT), ew + ".status", 1, 0xFF),
                "count": S.parse_int(ee.get("count", 0), ew + ".count"),  # 0: every request
            }
        # ... and UpgradeEndResponses nobody asked for, possibly from another short address.
        self.unsolicited_end: List[Dict[str, Any]] = []
        for i, ue in enumerate(d.get("unsolicited_end", [])):
            uw = "%s.unsolicited_end[%d]" % (where, i)
            S._check_keys(ue, ("at", "from", "endpoint", "aps_encrypted", "upgrade")
                          + tuple(k for k, _ in _END_FIELDS), uw)  # fmt: skip
            enc = ue.get("aps_encrypted", True)
            if not isinstance(enc, bool):
                raise S.ScenarioError("%s.aps_encrypted: true or false" % uw)
            mode, delay = _upgrade(ue.get("upgrade", {"mode": "now"}), uw + ".upgrade")
            self.unsolicited_end.append({
                "at_unix": S.parse_time(S._get(ue, "at", uw), start_unix, uw + ".at"),
                "from": S.parse_int(ue.get("from", 0), uw + ".from", 0, 0xFFFF),
                "endpoint": S.parse_int(ue["endpoint"], uw + ".endpoint", 0, 255)
                if "endpoint" in ue else None,
                "aps_encrypted": enc,
                "mode": mode,
                "delay_s": delay,
                "fields": _end_fields(ue, uw),
            })  # fmt: skip
        self.unsolicited_end.sort(key=lambda e: e["at_unix"])

    def load_image(self) -> bytes:
        if self.image_path is not None:
            with open(self.image_path, "rb") as f:
                return f.read()
        from host_tools.ota import fileformat as FF

        b = self.build
        assert b is not None
        signed: Dict[str, Any] = {}
        if b["sign"] is not None:
            # contract with host_tools/ota/signing.py (load_private_key(path) -> a
            # `cryptography` private key) and fileformat.build_firmware_ota(sign_key=)
            from host_tools.ota import signing

            signed["sign_key"] = signing.load_private_key(b["sign"])
        return FF.build_firmware_ota(
            b["version"], b["board"], compiled=not b["source"], hw_min=b["hw_min"],
            hw_max=b["hw_max"], **signed,
        )  # fmt: skip


class OtaImageServer(OtaServer):
    """Replaces the hub's "no image" stub (clusters.OtaServer) when a scenario has `ota`."""

    def __init__(self, device: Device, endpoint: int, spec: Optional[OtaSpec] = None,
                 image: Optional[bytes] = None):  # fmt: skip
        self.spec = spec
        self.image = image
        self.mfr = self.itype = self.version = 0
        self.hw_min: Optional[int] = None
        self.hw_max: Optional[int] = None
        if image is not None:
            self._parse_header(image)
        self.counters: Dict[str, int] = {
            "queries": 0, "blocks": 0, "bytes": 0, "wait_for_data": 0, "dropped": 0,
            "notifies": 0, "aborts": 0, "readbacks": 0, "upgrade_end_responses": 0,
            "upgrade_end_errors": 0, "unsolicited_ends": 0,
        }  # fmt: skip
        self.upgrade_end: List[Dict[str, Any]] = []
        # every UpgradeEndResponse (or error in its place) the hub sent, in order
        self.upgrade_end_sent: List[Dict[str, Any]] = []
        self._unsolicited_done = 0
        self.readback: Optional[Dict[str, Any]] = None
        self.target: Optional[Any] = None  # (node, ep) of the downloading device
        self._wfd_done: List[int] = []
        self._buffered = 0
        self._refill_until = -1.0
        self._notified = 0
        self._readback_due: Optional[float] = None
        self._readback_tsn = -1
        self._released = False
        self.send_to: Optional[Any] = None  # fn() -> (node, ep) of the IHD (set by install)
        # fn(node, src_ep, cluster, frame, aps_encrypted): a frame to the IHD from another
        # short address (han.Han.inject; set by install)
        self.inject: Optional[Any] = None
        super().__init__(device, endpoint)

    def _parse_header(self, img: bytes) -> None:
        _, _, hl, fc, self.mfr, self.itype, self.version = struct.unpack_from("<IHHHHHI", img, 0)
        if fc & 0x0004:
            off = 56 + (1 if fc & 1 else 0) + (8 if fc & 2 else 0)
            self.hw_min, self.hw_max = struct.unpack_from("<HH", img, off)

    def setup(self) -> None:
        self.on(0x01, self._query_next_image)
        self.on(0x03, self._image_block)
        self.on(0x06, self._upgrade_end)

    # ---- helpers ---------------------------------------------------------------------------

    def _lost(self, req: Request) -> bool:
        now = req.now
        spec = self.spec
        if spec and any(a <= now < b for a, b in spec.link_loss):
            self.counters["dropped"] += 1
            req.answered = True  # nothing goes back: the frame was lost
            return True
        return False

    def handle(self, req: Request) -> None:
        # The device's Read Attributes Response to our read-back arrives here as a global
        # command; everything else is the ordinary cluster dispatch.
        if not req.fc & FC_CLUSTER and req.cmd == READ_ATTRIBUTES_RSP:
            req.answered = True
            self._readback_rsp(req)
            return
        super().handle(req)

    # ---- commands --------------------------------------------------------------------------

    def _query_next_image(self, req: Request) -> None:
        if self._lost(req):
            return
        self.counters["queries"] += 1
        fc, mfr, itype, cur = struct.unpack_from("<BHHI", req.payload)
        hw = struct.unpack_from("<H", req.payload, 9)[0] if fc & 1 else None
        img = self.image
        ok = img is not None and mfr == self.mfr and itype == self.itype and self.version > cur
        if ok and hw is not None and self.hw_min is not None:
            ok = self.hw_min <= hw <= (self.hw_max if self.hw_max is not None else 0xFFFF)
        if self.spec is not None and self.spec.offer_any:
            ok = True
        if not ok or img is None:
            req.reply(0x02, bytes((NO_IMAGE_AVAILABLE,)))
            return
        self.target = (req.src, req.src_ep)
        req.reply(
            0x02, struct.pack("<BHHII", SUCCESS, self.mfr, self.itype, self.version, len(img))
        )

    def _image_block(self, req: Request) -> None:
        if self._lost(req):
            return
        fc, mfr, itype, ver, off, max_size = struct.unpack_from("<BHHIIB", req.payload)
        img = self.image
        spec = self.spec
        now = req.now
        if img is None or (mfr, itype, ver) != (self.mfr, self.itype, self.version):
            req.reply(0x05, bytes((NO_IMAGE_AVAILABLE,)))
            return
        if spec and spec.abort_at_offset is not None and off >= spec.abort_at_offset:
            self.counters["aborts"] += 1
            req.reply(0x05, bytes((ABORT,)))
            return
        if spec:
            for i, w in enumerate(spec.wait_for_data):
                if i not in self._wfd_done and off >= w["at_offset"]:
                    self._wfd_done.append(i)
                    self._wait(req, now, w["delay_s"])
                    return
            if spec.buffer_blocks:
                if now < self._refill_until:
                    self._wait(req, now, self._refill_until - now)
                    return
                if self._buffered >= spec.buffer_blocks:
                    self._buffered = 0
                    self._refill_until = now + spec.refill_s
                    self._wait(req, now, spec.refill_s)
                    return
                self._buffered += 1
        cap = spec.max_data_size if spec else 64
        n = max(0, min(max_size, cap, len(img) - off))
        data = img[off : off + n]
        self.counters["blocks"] += 1
        self.counters["bytes"] += n
        req.reply(
            0x05,
            struct.pack("<BHHIIB", SUCCESS, mfr, itype, ver, off, n) + data,
        )

    def _wait(self, req: Request, now: float, delay_s: float) -> None:
        self.counters["wait_for_data"] += 1
        z = to_zigbee(now)
        payload = struct.pack("<BII", WAIT_FOR_DATA, z, z + max(1, int(delay_s)))
        if self.spec is None or self.spec.wait_form == "with_min_block_period":
            payload += struct.pack("<H", self.spec.min_block_period_ms if self.spec else 0)
        req.reply(0x05, payload)

    def _upgrade_end(self, req: Request) -> None:
        if self._lost(req):
            return
        st, mfr, itype, ver = struct.unpack_from("<BHHI", req.payload)
        now = req.now
        self.upgrade_end.append({"status": st, "file_version": ver, "utc": iso_utc(now)})
        if st != SUCCESS:
            return  # Default Response SUCCESS (Cluster.handle)
        self.target = (req.src, req.src_ep)
        err = self.spec.upgrade_end_error if self.spec else None
        if err is not None and (
            not err["count"] or self.counters["upgrade_end_errors"] < err["count"]
        ):
            # the hub refuses the end of the upgrade: a Default Response in place of the
            # UpgradeEndResponse (e.g. ABORT 0x95)
            self.counters["upgrade_end_errors"] += 1
            self.upgrade_end_sent.append({"utc": iso_utc(now), "kind": "error",
                                          "from": "0x%04X" % self.device.node_id,
                                          "status": err["status"]})  # fmt: skip
            req.default_response(err["status"])
            return
        ct, ut, when = self._upgrade_times(now)
        req.reply(0x07, self._end_response("response", now, ct, ut, real=(mfr, itype, ver)))
        if when is not None:
            self._readback_due = when + (self.spec.readback_after_s if self.spec else 120)

    def _end_response(
        self,
        kind: str,
        now: float,
        ct: int,
        ut: int,
        fields: Optional[Dict[str, Any]] = None,
        node: Optional[int] = None,
        aps_encrypted: bool = True,
        real: Optional[Any] = None,
    ) -> bytes:
        # The UpgradeEndResponse payload, recorded for status(). Identity fields: `real` (those
        # of the UpgradeEndRequest answered; else the image's) unless the scenario overrides
        # them: an integer, "wildcard" or "wrong".
        over = dict(self.spec.upgrade_end_response if self.spec else {})
        over.update(fields or {})
        ids = []
        for (key, wildcard), r in zip(_END_FIELDS, real or (self.mfr, self.itype, self.version)):
            v = over.get(key, r)
            if v == "wildcard":
                v = wildcard
            elif v == "wrong":
                v = (r + 1) % wildcard  # never the real value, never the wildcard
            ids.append(v)
        self.counters["upgrade_end_responses"] += 1
        self.upgrade_end_sent.append({
            "utc": iso_utc(now), "kind": kind,
            "from": "0x%04X" % (self.device.node_id if node is None else node),
            "aps_encrypted": aps_encrypted,
            "manufacturer_code": "0x%04X" % ids[0], "image_type": "0x%04X" % ids[1],
            "file_version": "0x%08X" % ids[2], "current_time": ct, "upgrade_time": ut,
        })  # fmt: skip
        return struct.pack("<HHIII", ids[0], ids[1], ids[2], ct, ut)

    def _upgrade_times(self, now: float, mode: Optional[str] = None, d: float = 0) -> Any:
        # -> (CurrentTime, UpgradeTime, sim time of the upgrade or None); mode None: the
        # section's `upgrade`
        z = to_zigbee(now)
        if mode is None:
            mode = self.spec.upgrade_mode if self.spec else "now"
            d = self.spec.upgrade_delay_s if self.spec else 0
            if mode == "wait" and self._released:
                mode = "now"
        if mode == "wait":
            return z, UPGRADE_WAIT, None
        if mode == "relative":
            return 0, int(d), now + d
        if mode == "absolute":
            return z, z + int(d), now + d
        return z, z, now

    # ---- time-driven: notify, release after "wait", read-back -------------------------------

    def notify_payload(self) -> bytes:
        pt = self.spec.notify_payload_type if self.spec else 3
        out = struct.pack("<BB", pt, self.spec.notify_jitter if self.spec else 100)
        if pt >= 1:
            out += struct.pack("<H", self.mfr)
        if pt >= 2:
            out += struct.pack("<H", self.itype)
        if pt >= 3:
            out += struct.pack("<I", self.version)
        return out

    def tick(self, now: float) -> None:
        spec = self.spec
        if spec is None or self.send_to is None:
            return
        node, ep = self.send_to()
        while self._notified < len(spec.notify_at) and spec.notify_at[self._notified] <= now:
            self._notified += 1
            self.counters["notifies"] += 1
            log.info("ImageNotify to 0x%04X at %s", node, iso_utc(now))
            self.device.push(node, ep, CLUSTER, 0x00, self.notify_payload(), self.endpoint)
        if spec.release_at is not None and not self._released and now >= spec.release_at:
            self._released = True
            if self.target is not None and any(e["status"] == SUCCESS for e in self.upgrade_end):
                ct, ut, when = self._upgrade_times(now)
                payload = self._end_response("release", now, ct, ut)
                self.device.push(self.target[0], self.target[1], CLUSTER, 0x07, payload,
                                 self.endpoint)  # fmt: skip
                self._readback_due = (when or now) + spec.readback_after_s
        while (self._unsolicited_done < len(spec.unsolicited_end)
               and spec.unsolicited_end[self._unsolicited_done]["at_unix"] <= now):  # fmt: skip
            self._unsolicited(spec.unsolicited_end[self._unsolicited_done], now, node, ep)
            self._unsolicited_done += 1
        if self._readback_due is not None and now >= self._readback_due:
            self._readback_due = now + max(60.0, spec.readback_after_s)  # retry until answered
            self.read_back(node, ep)

    def _unsolicited(self, ue: Dict[str, Any], now: float, node: int, ep: int) -> None:
        # An UpgradeEndResponse nobody asked for (unsolicited_end): from the hub, or from any
        # other short address through the HAN's injection (a spoofed sender).
        self.counters["unsolicited_ends"] += 1
        ct, ut, _ = self._upgrade_times(now, ue["mode"], ue["delay_s"])
        src = ue["from"]
        payload = self._end_response("unsolicited", now, ct, ut, ue["fields"], src,
                                     ue["aps_encrypted"])  # fmt: skip
        src_ep = self.endpoint if ue["endpoint"] is None else ue["endpoint"]
        log.info("unsolicited UpgradeEndResponse from 0x%04X to 0x%04X", src, node)
        if src == self.device.node_id and ue["aps_encrypted"]:
            frame = header(self.device.next_tsn(), 0x07, True, True, False) + payload
            if self.device.send is not None:
                self.device.send(node, ep, src_ep, CLUSTER, frame)
        elif self.inject is not None:
            frame = header(0x42, 0x07, True, True, False) + payload
            self.inject(src, src_ep, CLUSTER, frame, ue["aps_encrypted"])

    def read_back(self, node: int, ep: int) -> None:
        # Read Attributes of the client's CurrentFileVersion (direction server->client).
        self.counters["readbacks"] += 1
        self._readback_tsn = self.device.next_tsn()
        frame = header(self._readback_tsn, READ_ATTRIBUTES, False, True, False)
        frame += struct.pack("<H", ATTR_CURRENT_FILE_VERSION)
        if self.device.send is not None:
            self.device.send(node, ep, self.endpoint, CLUSTER, frame)

    def _readback_rsp(self, req: Request) -> None:
        p = req.payload
        if len(p) < 3:
            return
        attr, st = struct.unpack_from("<HB", p)
        if attr != ATTR_CURRENT_FILE_VERSION:
            return
        value = struct.unpack_from("<I", p, 4)[0] if st == 0 and len(p) >= 8 else None
        self.readback = {
            "utc": iso_utc(req.now),
            "status": st,
            "current_file_version": value,
            "expected": self.version,
            "upgraded": value == self.version,
        }
        self._readback_due = None
        log.info("read-back CurrentFileVersion: %r", self.readback)

    def status(self) -> Dict[str, Any]:
        return {
            "image_version": "0x%08X" % self.version if self.image is not None else None,
            "image_size": len(self.image) if self.image is not None else 0,
            "counters": dict(self.counters),
            "upgrade_end": list(self.upgrade_end),
            "upgrade_end_sent": list(self.upgrade_end_sent),
            "readback": self.readback,
        }


def parse_spec(d: Any, start_unix: float, where: str) -> Optional[OtaSpec]:
    return None if d is None else OtaSpec(d, start_unix, where)


def install(han: Any, scn: Any) -> Optional[OtaImageServer]:
    # Puts the image server on the hub's endpoint in place of the stub. -> the server, or None
    # (no `ota` section: the stub answers NO_IMAGE_AVAILABLE as before).
    spec = getattr(scn, "ota", None)
    if spec is None:
        return None
    hub: Device = han.hub
    ep = scn.comms_hub["endpoint"]
    srv = OtaImageServer(hub, ep, spec, spec.load_image())
    hub.endpoints.setdefault(ep, {})[CLUSTER] = srv
    srv.send_to = lambda: (han.ncp_node, han.ihd_endpoint())
    srv.inject = han.inject
    return srv
