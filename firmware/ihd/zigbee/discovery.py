# Meter discovery (docs/joining.md): ZDO Match_Desc for Smart Energy Metering servers, the
# EUI64 of each responder (IEEE_addr_req unless the NCP reported it), ESME or GPF by the
# Metering cluster's MeteringDeviceType, persisted to flash (runtime.atomic) so a reboot needs no
# rediscovery. SPDX-License-Identifier: MIT
import asyncio
import json
import struct

from ihd.runtime import atomic, clock, log
from ihd.runtime.aio import wait_ms
from ihd.runtime.counters import Counters
from micropython import const

_TAG = "disc"
PATH = "/flash/meters.json"
_ZDO_PROFILE = const(0x0000)
_MATCH_DESC_REQ = const(0x0006)
_MATCH_DESC_RSP = const(0x8006)
_IEEE_ADDR_REQ = const(0x0001)
_IEEE_ADDR_RSP = const(0x8001)
_BCAST_RX_ON = const(0xFFFD)  # NWKAddrOfInterest: all rx-on-when-idle devices
_SE_PROFILE = const(0x0109)
METERING = const(0x0702)
_DEVICE_TYPE = const(0x0306)
# ZDO goes with NWK security only: APS retry + route discovery, no APS encryption.
_APS_OPTIONS_ZDO = const(0x0140)
# MeteringDeviceType (bitmap8 on the wire): electric / gas, and their mirrors
_KIND = {0x00: "elec", 0x7F: "elec", 0x01: "gas", 0x80: "gas"}


def kind_of(device_type):
    return _KIND.get(device_type)


# -> [{"name", "node", "ep", "eui64" (hex or None)}] from the persisted file, or None
def load(path=PATH):
    raw = atomic.read(path)
    if not raw:
        return None
    try:
        doc = json.loads(raw)
        meters = doc["meters"]
        for m in meters:
            m["name"] = str(m["name"])
            m["node"] = int(m["node"])
            m["ep"] = int(m["ep"])
            if m.get("eui64"):
                bytes.fromhex(m["eui64"])  # ValueError for a value that is no EUI64 text
        return meters
    except (ValueError, KeyError, TypeError):
        log.warn(_TAG, "meters file unreadable: ignored")
        return None


def save(meters, path=PATH):
    atomic.write(path, json.dumps({"v": 1, "utc": clock.now(), "meters": meters}).encode())


def erase(path=PATH):
    import os

    for p in (path, path + ".tmp"):
        try:
            os.remove(p)
        except OSError:
            pass


class Discovery:
    # handle_zdo(msg) must see the NCP's incoming ZDO messages (app chains it before zcl).
    def __init__(self, ncp, zcl, hub=0x0000, collect_ms=4000, timeout_ms=5000):
        self.ncp = ncp
        self.zcl = zcl
        self.hub = hub
        self.collect_ms = collect_ms
        self.timeout_ms = timeout_ms
        self.c = Counters(_TAG, ("runs", "responses", "unknown_type", "no_eui64", "found"))
        self._tsn = 0x30
        self._rsps = []  # (cluster, node, sender_eui64, payload bytes)
        self._evt = asyncio.Event()

    def handle_zdo(self, msg):
        if msg.profile_id != _ZDO_PROFILE:
            return False
        if msg.cluster_id in (_MATCH_DESC_RSP, _IEEE_ADDR_RSP):
            # copies: msg, its payload and EUI64 are the NCP layer's, reused for the next frame
            eui = msg.sender_eui64
            self._rsps.append((msg.cluster_id, msg.sender, None if eui is None else bytes(eui),
                               bytes(msg.payload)))  # fmt: skip
            self._evt.set()
        return True

    def _next_tsn(self):
        self._tsn = (self._tsn + 1) & 0xFF
        return self._tsn

    async def _zdo(self, node, cluster, payload):
        return await self.ncp.send_unicast(node, cluster, 0, 0, payload, profile_id=_ZDO_PROFILE,
                                           aps_options=_APS_OPTIONS_ZDO)  # fmt: skip

    # -> [{"name", "node", "ep", "eui64"}] (possibly empty); one of each kind at most.
    async def discover(self):
        self.c.inc("runs")
        tsn = self._next_tsn()
        self._rsps = []
        # Match_Desc: SE profile, Metering as an input (server) cluster, no output clusters.
        # Unicast to the hub with the broadcast NWKAddrOfInterest (docs/joining.md).
        req = struct.pack("<BHHBHB", tsn, _BCAST_RX_ON, _SE_PROFILE, 1, METERING, 0)
        st = await self._zdo(self.hub, _MATCH_DESC_REQ, req)
        if st:
            log.warn(_TAG, "Match_Desc_req: 0x%x", st)
            return []
        await asyncio.sleep_ms(self.collect_ms)
        found = []
        for cluster, node, eui, p in self._rsps:
            if cluster != _MATCH_DESC_RSP or len(p) < 5 or p[0] != tsn or p[1] != 0:
                continue
            self.c.inc("responses")
            n = p[4]
            for ep in p[5 : 5 + n]:
                found.append((node, ep, eui))
        out = []
        seen = {}
        for node, ep, eui in found:
            kind = await self._kind(node, ep)
            if kind is None or kind in seen:
                continue
            if eui is None:
                eui = await self._eui64(node)
            seen[kind] = True
            out.append(
                {
                    "name": kind,
                    "node": node,
                    "ep": ep,
                    "eui64": "".join("%02x" % b for b in eui) if eui else None,
                }
            )
            log.info(_TAG, "%s meter at 0x%04x ep %d", kind, node, ep)
        self.c.inc("found", len(out))
        return out

    async def _kind(self, node, ep):
        got = await self.zcl.read_attributes(node, ep, METERING, (_DEVICE_TYPE,))
        v = got.get(_DEVICE_TYPE) if got else None
        kind = kind_of(v) if isinstance(v, int) else None
        if kind is None:
            self.c.inc("unknown_type")
            log.info(_TAG, "0x%04x ep %d: metering device type %r not used", node, ep, v)
        return kind

    async def _eui64(self, node):
        tsn = self._next_tsn()
        self._evt.clear()
        if await self._zdo(node, _IEEE_ADDR_REQ, struct.pack("<BHBB", tsn, node, 0, 0)):
            self.c.inc("no_eui64")
            return None
        for _ in range(3):
            for cluster, _node, _eui, p in self._rsps:
                if cluster == _IEEE_ADDR_RSP and len(p) >= 12 and p[0] == tsn and p[1] == 0:
                    return bytes(p[2:10])
            self._evt.clear()
            try:
                await wait_ms(self._evt.wait(), self.timeout_ms)
            except asyncio.TimeoutError:
                break
        self.c.inc("no_eui64")
        return None
