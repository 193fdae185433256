# bellows 1.2.1 (a real EZSP host, peer code) against hansim over TCP and over a pty, v13 and v14.
import asyncio
import os
import struct
import subprocess
import sys

import bellows.types as t
import pytest
import zigpy.config as zconf
from bellows.ezsp import EZSP

from host_tools.hansim import scenario
from host_tools.hansim.sim import Simulator

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def _connect(path: str) -> "tuple[EZSP, list]":
    cfg = zconf.SCHEMA_DEVICE({zconf.CONF_DEVICE_PATH: path})
    ezsp = EZSP(cfg)
    callbacks: list = []
    ezsp.add_callback(lambda name, args: callbacks.append((name, args)))
    await asyncio.wait_for(ezsp.connect(use_thread=False), 15)
    return ezsp, callbacks


async def _wait_for(callbacks: list, name: str, timeout_s: float = 5.0) -> list:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while loop.time() < deadline:
        for n, args in callbacks:
            if n == name:
                callbacks.remove((n, args))
                return args
        await asyncio.sleep(0.01)
    raise AssertionError("no %s callback; got %r" % (name, [n for n, _ in callbacks]))


def _status_ok(status) -> bool:
    return t.sl_Status.from_ember_status(status) == t.sl_Status.OK


async def _session(sim: Simulator, path: str, version: int) -> None:
    scn = sim.scn
    ezsp, cbs = await _connect(path)
    try:
        assert ezsp.ezsp_version == version
        (eui64,) = await ezsp.getEui64()
        assert bytes(eui64.serialize()) == scn.ncp_eui64
        (node_id,) = await ezsp.getNodeId()
        assert node_id == scn.ncp_node_id
        status, _value = await ezsp.getConfigurationValue(t.EzspConfigId.CONFIG_STACK_PROFILE)
        assert _status_ok(status)
        (status,) = await ezsp.networkInit(t.EmberNetworkInitBitmask.NETWORK_INIT_NO_OPTIONS)
        assert _status_ok(status)
        (up,) = await _wait_for(cbs, "stackStatusHandler")
        assert t.sl_Status.from_ember_status(up) == t.sl_Status.NETWORK_UP
        (state,) = await ezsp.networkState()
        assert state == t.EmberNetworkStatus.JOINED_NETWORK

        esme = scn.meter("esme")
        # ZCL Read Attributes (Metering): CurrentSummationDelivered, UnitOfMeasure, Divisor,
        # MeteringDeviceType
        zcl = bytes((0x00, 0x21, 0x00)) + struct.pack("<4H", 0x0000, 0x0300, 0x0302, 0x0306)
        aps = t.EmberApsFrame(
            profileId=0x0109,
            clusterId=0x0702,
            sourceEndpoint=1,
            destinationEndpoint=esme.endpoint,
            options=t.EmberApsOption.APS_OPTION_RETRY,
            groupId=0,
            sequence=0,
        )
        status, aps_seq = await ezsp.sendUnicast(
            t.EmberOutgoingMessageType.OUTGOING_DIRECT, esme.node_id, aps, 0x42, zcl
        )
        assert _status_ok(status)
        sent = await _wait_for(cbs, "messageSentHandler")
        if version >= 14:
            st, _type, dest, sent_aps, tag, _msg = sent
        else:
            _type, dest, sent_aps, tag, st, _msg = sent
        assert _status_ok(st) and dest == esme.node_id and tag == 0x42
        assert sent_aps.sequence == aps_seq
        rx = await _wait_for(cbs, "incomingMessageHandler")
        if version >= 14:
            _type, rx_aps, sender, sender_eui64, *_rest, message = rx
            assert bytes(sender_eui64.serialize()) == esme.eui64
        else:
            _type, rx_aps, _lqi, _rssi, sender, _bi, _ai, message = rx
        assert sender == esme.node_id
        assert rx_aps.clusterId == 0x0702 and rx_aps.profileId == 0x0109
        assert rx_aps.sourceEndpoint == esme.endpoint and rx_aps.destinationEndpoint == 1
        assert message[:3] == bytes((0x18, 0x21, 0x01))  # S->C, TSN echoed, Read Attr Rsp
        recs = message[3:]
        # uint48 summation: the scenario's initial reading plus what was used since the start
        attr, st, typ = struct.unpack_from("<HBB", recs)
        assert (attr, st, typ) == (0x0000, 0, 0x25)
        summation = int.from_bytes(recs[4:10], "little")
        meter = sim.han.meters["esme"]
        expected = meter.summation(sim.clock.now())
        assert esme.initial_reading_wh <= summation <= expected
        assert expected - summation < 50  # a few Wh of simulated time at most
        assert recs[10:] == bytes.fromhex(
            "0003"
            "00"
            "30"
            "00"  # UnitOfMeasure kWh (enum8)
            "0203"
            "00"
            "22"
            "e80300"  # Divisor 1000 (uint24)
            "0603"
            "00"
            "18"
            "00"
        )  # MeteringDeviceType elec
    finally:
        await ezsp.disconnect()


@pytest.mark.parametrize("version", [13, 14])
def test_bellows_over_tcp(version):
    async def main():
        sim = Simulator(scenario.load("default"), speed=1, ezsp_version=version)
        where = await sim.start_tcp("127.0.0.1", 0)
        sim.start_background()
        try:
            await _session(sim, "socket://" + where.split()[1], version)
        finally:
            await sim.close()

    asyncio.run(main())


def test_bellows_over_pty_v14():
    async def main():
        sim = Simulator(scenario.load("default"), speed=1, ezsp_version=14)
        where = await sim.start_pty()
        sim.start_background()
        try:
            await _session(sim, where.split()[1], 14)
        finally:
            await sim.close()

    asyncio.run(main())


def test_cli_prints_one_listening_line():
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "host_tools.hansim",
            "--scenario",
            "default",
            "--pty",
            "--ezsp-version",
            "13",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("hansim listening pty /dev/"), line
        path = line.split()[3]

        async def main():
            ezsp, _cbs = await _connect(path)
            try:
                assert ezsp.ezsp_version == 13
                (node_id,) = await ezsp.getNodeId()
                assert node_id == 0x7A3C
            finally:
                await ezsp.disconnect()

        asyncio.run(main())
    finally:
        proc.terminate()
        proc.wait(5)


def test_bellows_survives_link_corruption():
    # --corrupt: seeded per-byte loss/bit flips both ways; ASH NAKs/retransmits recover.
    async def main():
        sim = Simulator(scenario.load("default"), speed=1, ezsp_version=13, corrupt=0.0)
        where = await sim.start_tcp("127.0.0.1", 0)
        sim.start_background()
        try:
            ezsp, _cbs = await _connect("socket://" + where.split()[1])
            try:
                sim.set_corruption(0.01)
                for _ in range(25):
                    (node_id,) = await asyncio.wait_for(ezsp.getNodeId(), 10)
                    assert node_id == sim.scn.ncp_node_id
            finally:
                sim.set_corruption(0.0)
                await ezsp.disconnect()
            assert sim.link.damaged > 0
            c = sim.ash.counters
            assert c["crc_errors"] + c["retransmits"] + c["out_of_seq"] > 0, c
        finally:
            await sim.close()

    asyncio.run(main())
