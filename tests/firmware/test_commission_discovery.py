# Meter discovery (discovery.py): Match_Desc_req for SE Metering servers unicast to the hub with
# the broadcast NWKAddrOfInterest, ESME / GPF told apart by MeteringDeviceType (mirrors too,
# water ignored), EUI64 by IEEE_addr_req when the NCP did not report it, and the result
# persisted so a reboot reads it back.
import asyncio
import os
import struct

import fwtest
from ihd.zigbee import discovery

PORTABLE = True

EUI_E = bytes([1, 1, 1, 1, 1, 1, 1, 1])
EUI_G = bytes([2, 2, 2, 2, 2, 2, 2, 2])


class Msg:
    def __init__(self, sender, cluster, payload, eui=None):
        self.sender = sender
        self.sender_eui64 = eui
        self.profile_id = 0
        self.cluster_id = cluster
        self.payload = memoryview(payload)


class Fake:
    # NCP + ZCL: three Metering servers answer (electric, mirrored gas, water)
    def __init__(self):
        self.disc = None
        self.sent = []
        self.types = {0x3E51: 0x00, 0x6A0C: 0x80, 0x7777: 0x02}

    async def send_unicast(self, node, cluster, src_ep, dst_ep, data, profile_id=0x0109,
                           aps_options=0x0160):  # fmt: skip
        self.sent.append((node, cluster, src_ep, dst_ep, bytes(data), profile_id, aps_options))
        asyncio.create_task(self._answer(cluster, bytes(data)))
        return 0

    async def _answer(self, cluster, data):
        await asyncio.sleep_ms(1)
        tsn = data[0]
        if cluster == 0x0006:
            for node, eui in ((0x3E51, EUI_E), (0x6A0C, None), (0x7777, None)):
                rsp = struct.pack("<BBHB", tsn, 0, node, 1) + b"\x01"
                self.disc.handle_zdo(Msg(node, 0x8006, rsp, eui))
            # a stale answer to another request is ignored
            self.disc.handle_zdo(Msg(0x1111, 0x8006, struct.pack("<BBHBB", tsn ^ 1, 0, 1, 1, 1)))
        elif cluster == 0x0001:
            (node,) = struct.unpack_from("<H", data, 1)
            rsp = struct.pack("<BB", tsn, 0) + EUI_G + struct.pack("<H", node)
            self.disc.handle_zdo(Msg(node, 0x8001, rsp))

    async def read_attributes(self, node, ep, cluster, ids):
        assert cluster == 0x0702 and ids == (0x0306,)
        return {0x0306: self.types[node]}


def test_discover_classify_and_persist():
    async def main():
        f = Fake()
        d = discovery.Discovery(f, f, collect_ms=50, timeout_ms=200)
        f.disc = d
        return f, d, await d.discover()

    f, d, found = fwtest.run(main())
    node, cluster, src_ep, dst_ep, data, profile, opts = f.sent[0]
    assert (node, cluster, src_ep, dst_ep, profile) == (0x0000, 0x0006, 0, 0, 0)
    assert not opts & 0x0020  # ZDO: NWK security only
    assert struct.unpack("<BHHBHB", data)[1:] == (0xFFFD, 0x0109, 1, 0x0702, 0)
    assert found == [
        {"name": "elec", "node": 0x3E51, "ep": 1, "eui64": "0101010101010101"},
        {"name": "gas", "node": 0x6A0C, "ep": 1, "eui64": "0202020202020202"},
    ]
    assert d.c.get("unknown_type") == 1  # the water meter
    # IEEE_addr_req only for the node whose EUI64 the NCP did not report (v13 style)
    assert [s[0] for s in f.sent if s[1] == 0x0001] == [0x6A0C]
    path = "disc_test.json"
    try:
        discovery.save(found, path)
        assert discovery.load(path) == found
        discovery.erase(path)
        assert discovery.load(path) is None
    finally:
        for p in (path, path + ".tmp"):
            try:
                os.remove(p)
            except OSError:
                pass


def test_kinds():
    assert discovery.kind_of(0) == "elec" and discovery.kind_of(1) == "gas"
    assert discovery.kind_of(0x80) == "gas" and discovery.kind_of(0x7F) == "elec"
    assert discovery.kind_of(2) is None


def test_a_stored_binding_that_is_no_meter_is_refused_whole():
    # The bindings file is CRC'd, but what it says is still checked: a record without a name or
    # with an EUI64 that is no hex text makes the file "unreadable" (rediscovery), not a crash.
    path = "disc_bad.json"
    try:
        for bad in ({"node": 1, "ep": 1}, {"name": "elec", "node": 1, "ep": 1, "eui64": "zz"}):
            discovery.save([bad], path)
            assert discovery.load(path) is None
    finally:
        for p in (path, path + ".tmp"):
            try:
                os.remove(p)
            except OSError:
                pass
