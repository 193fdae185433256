# NCP service against a fake NCP speaking real ASH + EZSP (tests/firmware/ashfakes.py):
# bring-up (v13 and v14), send_unicast matched to messageSentHandler by tag, incoming message
# delivery, and an unsolicited RSTACK mid-run -> re-initialisation without losing queued sends.
import asyncio
import struct

import fwtest
from ashfakes import FakeNcp, settle
from ihd.zigbee import ash, ezsp, ncp

PORTABLE = True


def make(version=14):
    f = FakeNcp(version)
    a = ash.Ash(f.to_host, f.from_host, t_ack_init_ms=200, t_rstack_ms=200)
    e = ezsp.Ezsp(a, cmd_timeout_ms=500)
    n = ncp.Ncp(e, network_up_timeout_ms=500, sent_timeout_ms=300, backoff_min_ms=20)
    return f, n


async def up(f, n):
    n.start()
    await n.wait_ready(3000)
    return n


def test_bring_up_v13_and_v14():
    async def main():
        for version in (13, 14):
            f, n = make(version)
            await up(f, n)
            s = n.status()
            assert s["state"] == ncp.ST_READY and s["ezsp_version"] == version
            assert s["stack_version"] == "7.4.1.0 build 321"
            assert s["eui64"] == bytes([1, 2, 3, 4, 5, 6, 7, 8]) and s["node_id"] == 0x4C21
            assert s["network_state"] == ncp.NET_JOINED and s["reset_count"] == 0
            fids = [fid for fid, _ in f.commands]
            # v13 NCP: legacy version(14) answered 13, then extended version(13)
            versions = [0x00, 0x00] if version == 13 else [0x00]
            assert fids == versions + [0xAA, 0x53, 0x53, 0x53, 0x55, 0x02, 0x26, 0x17, 0x18, 0x27,
                                       0x28]  # fmt: skip
            # the network it is on, for the Status screen (getNetworkParameters)
            assert s["channel"] == 15 and s["pan_id"] == 0x1A62
            cmds = dict(f.commands)
            assert cmds[0x55] == b"\x04\x40"  # messageSentHandler with the tag only
            assert cmds[0x17] == b"\x03\x00"  # networkInit bitmask
            ep = cmds[0x02]
            assert struct.unpack_from("<BHHBBB", ep) == (1, 0x0109, 0x0507, 0, 2, 8)
            assert struct.unpack_from("<10H", ep, 8) == (
                0x0000,
                0x0800,
                0x000A,
                0x0019,
                0x0700,
                0x0702,
                0x0703,
                0x0705,
                0x0708,
                0x0800,
            )
            assert f.resets == 1 and f.bad == 0
            n.stop()

    fwtest.run(main())


def test_send_unicast_matched_by_tag():
    async def main():
        for version in (13, 14):
            f, n = make(version)
            await up(f, n)
            r = await asyncio.gather(
                n.send_unicast(0x0000, 0x0702, 1, 1, b"\x00\x01\x00\x00\x00"),
                n.send_unicast(0x0000, 0x0700, 1, 1, b"\x00\x02\x00"),
            )
            assert r == [0, 0]
            tags = [u[0] for u in f.unicasts]
            assert len(set(tags)) == 2
            assert [(u[2], u[3]) for u in f.unicasts] == [
                (0x0702, b"\x00\x01\x00\x00\x00"),
                (0x0700, b"\x00\x02\x00"),
            ]
            f.sent_status = 0x0C02 if version >= 14 else 0x66  # DELIVERY_FAILED
            assert await n.send_unicast(0, 0x0702, 1, 1, b"\x00") == f.sent_status
            f.hold_sent = True  # no messageSentHandler: a timeout failure status
            assert await n.send_unicast(0, 0x0702, 1, 1, b"\x00") == ncp.SEND_TIMEOUT
            assert n.c.get("tx_ok") == 2 and n.c.get("tx_timeouts") == 1
            n.stop()

    fwtest.run(main())


def test_incoming_message_delivery():
    async def main():
        for version in (13, 14):
            f, n = make(version)
            got = []

            def on_message(m, got=got):
                got.append(
                    (
                        m.sender,
                        m.sender_eui64,
                        m.profile_id,
                        m.cluster_id,
                        m.src_ep,
                        m.dst_ep,
                        m.aps_options,
                        m.secured,
                        m.lqi,
                        m.rssi,
                        bytes(m.payload),
                    )
                )

            n.messages.connect(on_message)
            await up(f, n)
            f.send_data(f.incoming(0x0000, 0x0702, b"\x18\x07\x01\x00\x00"))
            f.send_data(f.incoming(0x1234, 0x0000, b"\x00\x01", options=0x0000, profile=0))
            await asyncio.sleep_ms(20)
            assert got == [
                (
                    0x0000,
                    None,
                    0x0109,
                    0x0702,
                    1,
                    1,
                    0x0020,
                    True,
                    200,
                    -50,
                    b"\x18\x07\x01\x00\x00",
                ),
                (0x1234, None, 0x0000, 0x0000, 1, 1, 0x0000, False, 200, -50, b"\x00\x01"),
            ]
            assert n.c.get("rx") == 2
            n.stop()

    fwtest.run(main())


def test_unsolicited_rstack_reinit_keeps_queued_sends():
    async def main():
        f, n = make(14)
        await up(f, n)
        # One message accepted by the NCP but not yet confirmed when the NCP resets ...
        f.hold_sent = True
        inflight = asyncio.create_task(n.send_unicast(0, 0x0702, 1, 1, b"\x01"))
        await asyncio.sleep_ms(20)
        assert len(f.unicasts) == 1
        f.hold_sent = False
        f.commands.clear()
        f.reset_now(ash.RESET_POWER_ON)
        # ... and one queued by the application while the NCP is down.
        queued = asyncio.create_task(n.send_unicast(0, 0x0703, 1, 1, b"\x02"))
        assert await inflight == ncp.SEND_NCP_RESET
        assert await queued == 0
        assert n.reset_count == 1 and n.last_reset_code == ash.RESET_POWER_ON
        assert n.ready() and n.status()["network_state"] == ncp.NET_JOINED
        assert f.resets == 2  # RST again during re-initialisation
        assert [fid for fid, _ in f.commands][:2] == [0x00, 0xAA]  # full bring-up re-run
        assert f.unicasts[-1][2:] == (0x0703, b"\x02")
        assert n.c.get("bringups") == 2
        # An ASH ERROR frame is handled the same way.
        f.to_host.write(ash.encode(ash.ERROR, b"\x02\x51"))
        await settle()
        assert not n.ready()
        assert await n.send_unicast(0, 0x0702, 1, 1, b"\x03") == 0
        assert n.reset_count == 2 and n.last_reset_code == 0x51 and f.resets == 3
        n.stop()

    fwtest.run(main())


def test_bring_up_retries_when_ncp_silent():
    async def main():
        f, n = make(14)
        f.answer_rst = False
        n.ezsp.ash.t_rstack_ms = 10
        n.start()
        await asyncio.sleep_ms(150)
        assert not n.ready() and n.c.get("bringup_failures") >= 1
        f.answer_rst = True
        await n.wait_ready(3000)
        assert n.state == ncp.ST_READY
        n.stop()

    fwtest.run(main())


def test_changed_signal_follows_the_network():
    # ncp.changed (app.py -> the Status screen): up with the network's channel and PAN id,
    # then not ready at an NCP reset, then up again.
    async def main():
        f, n = make(14)
        seen = []
        n.changed.connect(lambda x: seen.append((x.ready(), x.channel, x.pan_id, x.reset_count)))
        await up(f, n)
        assert seen[-1] == (True, 15, 0x1A62, 0)
        f.reset_now(ash.RESET_POWER_ON)
        await settle()
        assert (False, 15, 0x1A62, 1) in seen  # the reset, before the bring-up re-ran
        await n.wait_ready(3000)
        await settle()
        assert seen[-1] == (True, 15, 0x1A62, 1)
        n.stop()

    fwtest.run(main())
