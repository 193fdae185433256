# hansim --pcap output dissected by tshark (Wireshark, peer code): no malformed frames, and the
# 802.15.4 / Zigbee NWK / APS / ZCL layers with cluster and command ids are all recognised.
import asyncio
import os
import shutil
import struct
import subprocess

import bellows.types as t
import pytest
import zigpy.config as zconf
from bellows.ezsp import EZSP

from host_tools.hansim import scenario
from host_tools.hansim.sim import Simulator

TSHARK = shutil.which("tshark")
pytestmark = pytest.mark.skipif(
    TSHARK is None and not os.environ.get("CI"),
    reason="tshark not installed (apt-get install -y tshark); required when CI is set",
)

# (cluster, dst endpoint, node, ZCL frame)
ESME, GPF, HUB = 0x1234, 0x2B7A, 0x0000
REQUESTS = [
    (0x0702, ESME, bytes((0x00, 0x01, 0x00)) + struct.pack("<3H", 0x0000, 0x0400, 0x0401)),
    (0x0700, ESME, bytes((0x01, 0x02, 0x00, 0x00))),  # GetCurrentPrice -> PublishPrice
    (0x0700, GPF, bytes((0x01, 0x03, 0x06)) + bytes(13)),  # GetTariffInformation
    (0x0708, ESME, bytes((0x01, 0x04, 0x00))),  # GetChangeOfTenancy -> Publish (advanced)
    (0x0708, GPF, bytes((0x01, 0x05, 0x01))),  # GetChangeOfSupplier -> Default Rsp NOT_FOUND
    (0x000A, HUB, bytes((0x00, 0x06, 0x00)) + struct.pack("<3H", 0x0000, 0x0001, 0x0007)),
    (0x0702, GPF, bytes((0x00, 0x07, 0x00)) + struct.pack("<3H", 0x0000, 0x0C01, 0x0300)),
    (0x0705, ESME, bytes((0x01, 0x08, 0x0C)) + bytes(16)),  # SetOverallDebtCap: UNSUP
    (
        0x0702,
        ESME,
        bytes(
            (0x00, 0x09, 0x06, 0x00, 0x00, 0x04, 0x2A, 0x01, 0x00, 0x3C, 0x00, 0x64, 0x00, 0x00)
        ),
    ),  # Configure Reporting InstantaneousDemand
    (0x0019, HUB, bytes((0x01, 0x0A, 0x01, 0x00)) + struct.pack("<HHI", 0x1234, 1, 2)),
]


async def _session(pcap_path: str) -> int:
    sim = Simulator(scenario.load("default"), speed=60, ezsp_version=13, pcap_path=pcap_path)
    where = await sim.start_tcp("127.0.0.1", 0)
    sim.start_background()
    cfg = zconf.SCHEMA_DEVICE({zconf.CONF_DEVICE_PATH: "socket://" + where.split()[1]})
    ezsp = EZSP(cfg)
    incoming = []
    ezsp.add_callback(
        lambda name, args: incoming.append(args) if name == "incomingMessageHandler" else None
    )
    try:
        await asyncio.wait_for(ezsp.connect(use_thread=False), 15)
        await ezsp.networkInit(t.EmberNetworkInitBitmask.NETWORK_INIT_NO_OPTIONS)
        sim.control({"cmd": "advance", "seconds": 4 * 3600})  # CoT now pending on the ESME
        for i, (cluster, node, zcl) in enumerate(REQUESTS):
            aps = t.EmberApsFrame(
                profileId=0x0109,
                clusterId=cluster,
                sourceEndpoint=1,
                destinationEndpoint=1,
                options=t.EmberApsOption(0x0140),
                groupId=0,
                sequence=0,
            )
            status, _seq = await ezsp.sendUnicast(
                t.EmberOutgoingMessageType.OUTGOING_DIRECT, node, aps, i, zcl
            )
            assert t.sl_Status.from_ember_status(status) == t.sl_Status.OK
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5
        # one answer per request plus at least one Report Attributes (InstantaneousDemand)
        while len(incoming) < len(REQUESTS) + 1 and loop.time() < deadline:
            await asyncio.sleep(0.02)
        return len(incoming)
    finally:
        await ezsp.disconnect()
        await sim.close()


def _tshark(*args: str) -> str:
    if TSHARK is None:
        pytest.fail("tshark missing with CI set: .ci/run must apt-get install -y tshark")
    return subprocess.run(
        [TSHARK, *args], check=True, capture_output=True, text=True, timeout=60
    ).stdout


def test_pcap_dissects_cleanly(tmp_path):
    path = str(tmp_path / "han.pcap")
    got = asyncio.run(_session(path))
    assert got >= len(REQUESTS) + 1
    fields = _tshark(
        "-r",
        path,
        "-T",
        "fields",
        "-E",
        "separator=|",
        "-e",
        "frame.protocols",
        "-e",
        "wpan.src16",
        "-e",
        "wpan.dst16",
        "-e",
        "zbee_nwk.src",
        "-e",
        "zbee_aps.cluster",
        "-e",
        "zbee_aps.profile",
        "-e",
        "zbee_zcl.cmd.tsn",
        "-e",
        "zbee_zcl.type",
        "-e",
        "_ws.malformed",
        "-e",
        "_ws.col.Info",
    )
    rows = [r.split("|") for r in fields.strip().splitlines()]
    assert len(rows) == 2 * len(REQUESTS) + (got - len(REQUESTS))
    for protos, src, dst, nwk_src, cluster, profile, tsn, ftype, malformed, info in rows:
        assert protos.startswith("wpan:zbee_nwk:zbee_aps:zbee_zcl"), protos
        assert malformed == "", rows
        assert profile == "0x0109" and cluster and tsn and ftype
        assert int(nwk_src, 16) == int(src, 16) and int(dst, 16) in (ESME, GPF, HUB, 0x7A3C)
        # every command (global and cluster-specific) has a name in the Info column
        assert info.startswith("ZCL") and "Unknown" not in info, info
    clusters = {int(r[4], 16) for r in rows}
    assert {0x0702, 0x0700, 0x0708, 0x000A, 0x0705, 0x0019} <= clusters
    verbose = _tshark("-r", path, "-V")
    assert "Malformed" not in verbose
    for text in (
        "Publish Price",
        "Publish Change of Tenancy",
        "Read Attributes Response",
        "Default Response",
        "Report Attributes",
        "Publish Tariff Information",
        "Not Found",
        "Unsupported Cluster Command",
    ):
        assert text.lower() in verbose.lower(), text
