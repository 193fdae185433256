"""The simulated home area network behind the NCP: routes APS frames between the NCP (the
firmware) and the simulated devices, fires scenario events, sends reports, applies faults,
records the pcap."""

from __future__ import annotations

import asyncio
import logging
import struct
from typing import Any, Callable, Dict, List, Optional

from . import ezsp as ez
from . import ota as ota_server
from . import zdo
from .clusters import (
    DeviceManagement,
    Messaging,
    Price,
    TimeServer,
    publish_change_command,
    publish_change_payload,
)
from .meters import MeterState, build_devices
from .pcap import PcapWriter
from .scenario import Scenario
from .simclock import SimClock, iso_utc
from .trust import KeyEstablishmentServer, TrustCenter
from .zcl import REPORT_ATTRIBUTES, Device, header

log = logging.getLogger("hansim.han")

RADIO_LATENCY_S = 0.015  # real seconds between a request and the device's answer
DELIVERY_FAIL_S = 0.8  # real seconds until messageSentHandler(DELIVERY_FAILED)
ZDO_PROFILE = 0x0000


class _Sender:
    # what send_to_ncp needs of a sender: a spoofed one has no simulated device behind it
    def __init__(self, node_id: int, eui64: bytes):
        self.node_id = node_id
        self.eui64 = eui64


class Han:
    def __init__(self, scn: Scenario, clock: SimClock, pcap: Optional[PcapWriter] = None):
        self.scn = scn
        self.clock = clock
        self.pcap = pcap
        built = build_devices(scn, clock.now)
        self.devices: Dict[int, Device] = {d.node_id: d for d in built["devices"]}
        self.meters: Dict[str, MeterState] = {n: v[0] for n, v in built["meters"].items()}
        self.meter_devices: Dict[str, Device] = {n: v[1] for n, v in built["meters"].items()}
        self.hub: Device = built["hub"]
        self.trust = TrustCenter(scn.trust_center)  # docs/joining.md
        self.hub.add_cluster(scn.comms_hub["endpoint"], KeyEstablishmentServer, self.trust)
        self.ota = ota_server.install(self, scn)  # None: the hub stub (no image)
        for d in self.devices.values():
            d.send = self._device_sender(d)
        self.ezsp: Optional[ez.EzspNcp] = None
        self.up = False
        self.aps_counters: Dict[int, int] = {}
        self.fired: List[Dict[str, Any]] = []
        self._pending_events = list(scn.events)
        self._expiries: List[Any] = []  # (sim time, fn)
        self.on_ncp_reset: Optional[Callable[[], None]] = None
        self.on_corruption: Optional[Callable[[float], None]] = None
        self.counters = {
            "to_devices": 0,
            "from_devices": 0,
            "dropped_offline": 0,
            "dropped_down": 0,
            "reports": 0,
            "pushes": 0,
            "spoofs": 0,
            "messages": 0,
        }

    # ---- NCP side -------------------------------------------------------------------------

    def network_up(self, up: bool) -> None:
        self.up = up

    @property
    def ncp_node(self) -> int:
        return self.ezsp.cfg.node_id if self.ezsp else self.scn.ncp_node_id

    def ihd_endpoint(self) -> int:
        if self.ezsp and self.ezsp.endpoints:
            return min(self.ezsp.endpoints)
        return 1

    def _aps_counter(self, node: int) -> int:
        v = self.aps_counters.get(node, (node * 7) & 0xFF)
        self.aps_counters[node] = (v + 1) & 0xFF
        return v

    def _record(self, src: int, dst: int, aps: ez.ApsFrame, payload: bytes) -> None:
        if self.pcap is not None:
            self.pcap.aps_frame(
                self.clock.now(),
                src,
                dst,
                aps.src_ep,
                aps.dst_ep,
                aps.cluster,
                aps.profile,
                aps.seq,
                payload,
            )

    def offline(self, dev: Device) -> bool:
        return dev.offline_until > self.clock.now()

    def deliver_from_ncp(
        self, dest: int, aps: ez.ApsFrame, payload: bytes, sent: Callable[[int], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        self._record(self.ncp_node, dest, aps, payload)
        dev = self.devices.get(dest)
        if dev is None or self.offline(dev):
            self.counters["dropped_offline"] += 1
            loop.call_later(DELIVERY_FAIL_S, sent, ez.DELIVERY_FAILED)
            return
        self.counters["to_devices"] += 1
        sent(ez.SUCCESS)
        delay = RADIO_LATENCY_S + dev.response_delay_s
        loop.call_later(delay, self._process, dev, aps, payload)

    def _process(self, dev: Device, aps: ez.ApsFrame, payload: bytes) -> None:
        if aps.profile == ZDO_PROFILE and aps.dst_ep == 0 and aps.cluster == zdo.MATCH_DESC_REQ:
            for d, rsp in zdo.match_desc(self, payload):  # answered as if broadcast
                self.send_to_ncp(d, 0, 0, zdo.MATCH_DESC_RSP, rsp, ZDO_PROFILE)
            return
        if aps.profile == ZDO_PROFILE and aps.dst_ep == 0:
            rsp = self._zdo(dev, aps.cluster, payload)
            if rsp is not None:
                self.send_to_ncp(dev, 0, 0, aps.cluster | 0x8000, rsp, ZDO_PROFILE)
            return
        if aps.profile not in (0x0109, 0x0104):
            return
        for frame in dev.handle_zcl(self.ncp_node, aps.src_ep, aps.dst_ep, aps.cluster, payload):
            self.send_to_ncp(dev, aps.dst_ep, aps.src_ep, aps.cluster, frame, aps.profile)

    def send_to_ncp(
        self,
        dev: Device | _Sender,
        src_ep: int,
        dst_ep: int,
        cluster: int,
        payload: bytes,
        profile: int = 0x0109,
        aps_encrypted: Optional[bool] = None,
    ) -> None:
        # aps_encrypted None: as the real HAN, every SE-profile frame APS-encrypted with the
        # link key (EMBER_APS_OPTION_ENCRYPTION in the apsFrame the NCP reports), ZDO not.
        if not self.up or self.ezsp is None:
            self.counters["dropped_down"] += 1
            return
        if aps_encrypted is None:
            aps_encrypted = profile == 0x0109
        options = ez.APS_OPTION_ENCRYPTION if aps_encrypted else 0x0000
        aps = ez.ApsFrame(
            ez.aps_frame(
                profile, cluster, src_ep, dst_ep, options, 0, self._aps_counter(dev.node_id)
            )
        )
        self._record(dev.node_id, self.ncp_node, aps, payload)
        self.counters["from_devices"] += 1
        self.ezsp.incoming_message(dev.node_id, dev.eui64, aps, payload)

    def _device_sender(self, dev: Device) -> Callable[[int, int, int, int, bytes], None]:
        def send(dest: int, dest_ep: int, src_ep: int, cluster: int, frame: bytes) -> None:
            if dest != self.ncp_node or self.offline(dev):
                return
            self.send_to_ncp(dev, src_ep, dest_ep, cluster, frame)

        return send

    # ---- ZDO (just enough for discovery) --------------------------------------------------

    def _zdo(self, dev: Device, cluster: int, p: bytes) -> Optional[bytes]:
        if not p:
            return None
        tsn = p[0]
        if cluster == 0x0005:  # Active_EP_req
            eps = sorted(dev.endpoints)
            return struct.pack("<BBHB", tsn, 0, dev.node_id, len(eps)) + bytes(eps)
        if cluster == 0x0004 and len(p) >= 4:  # Simple_Desc_req
            ep = p[3]
            clusters = dev.endpoints.get(ep)
            if clusters is None:
                return struct.pack("<BBHB", tsn, 0x82, dev.node_id, 0)  # INVALID_EP
            ids = sorted(clusters)
            desc = struct.pack("<BHHBB", ep, dev.profile_id, 0x0500, 0, len(ids))
            desc += struct.pack("<%dH" % len(ids), *ids) + b"\x00"
            return struct.pack("<BBHB", tsn, 0, dev.node_id, len(desc)) + desc
        if cluster == 0x0001:  # IEEE_addr_req
            return struct.pack("<BB", tsn, 0) + dev.eui64 + struct.pack("<H", dev.node_id)
        if cluster == 0x0002:  # Node_Desc_req: 0x80 NOT_SUPPORTED
            return struct.pack("<BBH", tsn, 0x84, dev.node_id)
        return None

    # ---- time-driven behaviour ------------------------------------------------------------

    def tick(self) -> None:
        now = self.clock.now()
        while self._pending_events and self._pending_events[0]["at_unix"] <= now:
            ev = self._pending_events.pop(0)
            self.fire(ev)
        for t, fn in list(self._expiries):
            if t <= now:
                self._expiries.remove((t, fn))
                fn()
        if self.up:
            for dev in self.devices.values():
                if not self.offline(dev):
                    dev.tick(now)
            self.push_prices(now)
        if self.ota is not None and self.up:
            self.ota.tick(now)

    def fire(self, ev: Dict[str, Any]) -> None:
        now = self.clock.now()
        log.info("event %s at %s", ev["type"], iso_utc(now))
        self.fired.append(ev)
        kind = ev["type"]
        if kind in ("change_of_tenancy", "change_of_supplier"):
            if ev.get("push"):
                self.push_change(ev)
        elif kind == "price_change":
            self.meters[ev["meter"]].prices.change(ev["at_unix"], ev["unit_rate"], ev["schedule"])
            self.push_prices(now)
        elif kind == "ncp_reset":
            if self.on_ncp_reset is not None:
                self.on_ncp_reset()
        elif kind == "meter_offline":
            dev = self.meter_devices[ev["meter"]]
            dev.offline_until = now + ev["duration_s"]
        elif kind == "link_corruption":
            if self.on_corruption is not None:
                self.on_corruption(ev["rate"])
                if ev.get("duration_s"):
                    cb = self.on_corruption
                    self._expiries.append((now + ev["duration_s"], lambda: cb(0.0)))
        elif kind == "hub_offline":
            self.set_hub_online(False)
            self._expiries.append((now + ev["duration_s"], lambda: self.set_hub_online(True)))
        elif kind == "spoof":
            self.spoof(ev)
        elif kind == "hub_time":
            self.time_fault(ev)
        elif kind == "message":
            self.message(ev)
        elif kind == "slow_responses":
            self.set_slow(ev["target"], ev["delay_s"])
            if ev.get("duration_s"):
                target = ev["target"]
                self._expiries.append((now + ev["duration_s"], lambda: self.set_slow(target, 0.0)))

    def messaging(self) -> Messaging:
        ms = self.hub.cluster(Messaging.cluster_id)
        assert isinstance(ms, Messaging)
        return ms

    def message(self, ev: Dict[str, Any]) -> None:
        # `message` event: the hub's Messaging server pushes it to the IHD
        cmd, payload = self.messaging().event(ev, self.clock.now())
        self.counters["messages"] += 1
        self.hub.push(self.ncp_node, self.ihd_endpoint(), Messaging.cluster_id, cmd, payload)

    def time_server(self, device: str = "comms_hub") -> TimeServer:
        dev = self.hub if device == "comms_hub" else self.meter_devices[device]
        ts = dev.cluster(TimeServer.cluster_id)
        assert isinstance(ts, TimeServer)
        return ts

    def time_fault(self, ev: Dict[str, Any]) -> None:
        # `hub_time` event: that device's Time attribute only, never the network's clock
        ts = self.time_server(ev.get("device", "comms_hub"))
        ts.fault(ev.get("jump_s"), ev.get("set_unix"), ev.get("value"), bool(ev.get("reset")))
        v = ts.value(0x0000)
        log.info("%s Time attribute now %d (0x%08X)", ts.device.name, v, v)
        if ev.get("duration_s"):
            end = self.clock.now() + ev["duration_s"]
            self._expiries.append((end, lambda: ts.fault(reset=True)))

    def set_hub_online(self, online: bool) -> None:
        log.info("hub %s", "back online" if online else "offline")
        self.trust.hub_online = online
        if not online and self.ezsp is not None:
            self.ezsp.hub_gone()

    def set_slow(self, target: str, delay_s: float) -> None:
        if target == "ncp":
            if self.ezsp is not None:
                self.ezsp.response_delay_s = delay_s
        else:
            for dev in self.meter_devices.values():
                dev.response_delay_s = delay_s

    def push_prices(self, now: float) -> None:
        # Each meter's Price server pushes PublishPrice (and PublishBlockPeriod) to the IHD
        # when the price in force changes (a new period, a price change, a new block).
        for dev in self.meter_devices.values():
            if self.offline(dev) or not dev.has_cluster(Price.cluster_id):
                continue
            pc = dev.cluster(Price.cluster_id)
            assert isinstance(pc, Price)
            for cmd, payload in pc.tick_pushes(now):
                self.counters["pushes"] += 1
                dev.push(self.ncp_node, self.ihd_endpoint(), Price.cluster_id, cmd, payload)

    def push_change(self, ev: Dict[str, Any]) -> bool:
        dev = self.meter_devices[ev["meter"]]
        if not dev.has_cluster(DeviceManagement.cluster_id):
            return False
        dm = dev.cluster(DeviceManagement.cluster_id)
        assert isinstance(dm, DeviceManagement)
        now = self.clock.now()
        if ev["type"] == "change_of_tenancy":
            cmd, payload = 0x00, dm.tenancy_payload(now)
        else:
            cmd, payload = 0x01, dm.supplier_payload(now)
        if payload is None:
            return False
        self.counters["pushes"] += 1
        dev.push(self.ncp_node, self.ihd_endpoint(), DeviceManagement.cluster_id, cmd, payload)
        return True

    def inject(
        self,
        node: int,
        src_ep: int,
        cluster: int,
        frame: bytes,
        aps_encrypted: bool,
        eui64: Optional[bytes] = None,
    ) -> None:
        # Attack tests: one ZCL frame to the IHD as if from short address `node` (a rogue
        # device, or one using a real device's address). No simulated device is involved (the
        # meter at that address knows nothing of it). The sender EUI64 the NCP reports (v14):
        # `eui64`, else that of the device owning the address, else unknown (all FF).
        dev = self.devices.get(node)
        if eui64 is None:
            eui64 = dev.eui64 if dev is not None else b"\xff" * 8
        sender = _Sender(node, eui64)
        self.counters["spoofs"] += 1
        log.info("spoofed frame from 0x%04X ep %d cluster 0x%04X (%s)", node, src_ep, cluster,
                 "APS-encrypted" if aps_encrypted else "unencrypted")  # fmt: skip
        self.send_to_ncp(
            sender,
            src_ep,
            self.ihd_endpoint(),
            cluster,
            frame,
            aps_encrypted=aps_encrypted,
        )

    def spoof(self, ev: Dict[str, Any]) -> None:
        # The `spoof` event (scenario.Scenario._spoof): builds the frame, then inject().
        fr = ev["frame"]
        dev = self.devices.get(ev["node"])
        tsn = dev.next_tsn() if dev is not None else 0x42
        if fr["type"] in ("change_of_tenancy", "change_of_supplier"):
            cluster = DeviceManagement.cluster_id
            cmd = publish_change_command(fr)
            frame = header(tsn, cmd, True, True, False) + publish_change_payload(fr)
        elif fr["type"] == "report_attributes":
            cluster = fr["cluster"]
            frame = header(tsn, REPORT_ATTRIBUTES, False, True, True) + fr["records"]
        else:
            cluster, frame = fr["cluster"], fr["zcl"]
        self.inject(ev["node"], ev["endpoint"], cluster, frame, ev["aps_encrypted"], ev["eui64"])

    def spoof_change(
        self, ev: Dict[str, Any], node: int, endpoint: int, aps_encrypted: bool = True
    ) -> None:
        # Control channel "spoof": a PublishChangeOfTenancy/Supplier (the fields of a
        # change_of_tenancy / change_of_supplier event) from a rogue node, by default
        # APS-encrypted (a device holding a link key but not the meter).
        self.spoof({"node": node, "endpoint": endpoint, "eui64": bytes(range(8)),
                    "aps_encrypted": aps_encrypted, "frame": ev})  # fmt: skip

    def status(self) -> Dict[str, Any]:
        now = self.clock.now()
        return {
            "utc": iso_utc(now),
            "network_up": self.up,
            "devices": [
                {
                    "name": d.name,
                    "node_id": "0x%04X" % d.node_id,
                    "endpoints": sorted(d.endpoints),
                    "offline": self.offline(d),
                }
                for d in self.devices.values()
            ],
            "events_fired": len(self.fired),
            "events_pending": len(self._pending_events),
            "counters": dict(self.counters),
            "ota": self.ota.status() if self.ota is not None else None,
            "hub_time": self.time_server().value(0x0000),
            "messaging": self.messaging().status(),
        }
