# ZCL client over a fake NCP: Default Response rules, UNSUP_* answers, request/response
# correlation with retries, read_attributes, local attribute store, reports, malformed input.
import asyncio

import fwtest
from ihd.zigbee.zcl import client as ZC
from ihd.zigbee.zcl import clusters as CL
from ihd.zigbee.zcl import foundation as F
from ihd.zigbee.zcl import types as T

PORTABLE = True

H = bytes.fromhex
METER = 0x1234
GCS09 = H("09000000000000804a371c00206ec61f00020000")
CS01B_RSP_PAYLOAD = H("00d012130000c0aa7f01")


class Msg:
    def __init__(self, data, cluster, sender=METER, src_ep=1, dst_ep=1, profile_id=0x0109):
        self.sender = sender
        self.sender_eui64 = None
        self.profile_id = profile_id
        self.cluster_id = cluster
        self.src_ep = src_ep
        self.dst_ep = dst_ep
        self.aps_options = 0
        self.secured = True
        self.lqi = 255
        self.rssi = -40
        self.payload = memoryview(bytearray(data))


class FakeNcp:
    def __init__(self):
        self.sent = []  # (node, cluster, src_ep, dst_ep, bytes, profile_id)
        self.responder = None  # fn(zcl, node, cluster, frame) called on every send
        self.status = 0
        self.zcl = None

    async def send_unicast(self, node_id, cluster_id, src_ep, dst_ep, payload, profile_id=0x0109):
        self.sent.append((node_id, cluster_id, src_ep, dst_ep, bytes(payload), profile_id))
        if self.responder is not None:
            self.responder(self.zcl, node_id, cluster_id, bytes(payload))
        return self.status


def setup():
    ncp = FakeNcp()
    z = ZC.Zcl(ncp, local_ep=1)
    ncp.zcl = z
    return ncp, z


async def settle():
    for _ in range(4):
        await asyncio.sleep_ms(0)


def frames(ncp):
    return [s[4] for s in ncp.sent]


def test_gcs09_handler_and_default_response_byte_for_byte():
    async def main():
        ncp, z = setup()
        got = []
        z.on_command(CL.DEVICE_MGMT, CL.DM_PUBLISH_COT, CL.S2C, lambda f, a: got.append(a))
        z.handle_incoming(Msg(GCS09, CL.DEVICE_MGMT, src_ep=2, dst_ep=1))
        await settle()
        assert got[0]["proposed_tenancy_change_control"] == 0x200
        assert got[0]["issuer_event_id"] == 0x1C374A80
        assert ncp.sent == [(METER, 0x0708, 1, 2, H("00000b0000"), 0x0109)]

    fwtest.run(main())


def test_ddr_set_suppresses_success_but_not_errors():
    async def main():
        ncp, z = setup()
        z.on_command(CL.DEVICE_MGMT, 0, CL.S2C, lambda f, a: None)
        z.handle_incoming(Msg(H("190500") + GCS09[3:], CL.DEVICE_MGMT))
        await settle()
        assert ncp.sent == []
        z.on_command(CL.DEVICE_MGMT, 0, CL.S2C, lambda f, a: F.NOT_AUTHORIZED)
        z.handle_incoming(Msg(H("190600") + GCS09[3:], CL.DEVICE_MGMT))
        await settle()
        assert frames(ncp) == [H("0006 0b 00 7e".replace(" ", ""))]

    fwtest.run(main())


def test_async_handler_and_specific_reply_suppresses_default_response():
    async def main():
        ncp, z = setup()

        async def handler(f, a):
            await asyncio.sleep_ms(1)
            return F.NOT_FOUND

        z.on_command(CL.DEVICE_MGMT, CL.DM_GET_COT, CL.C2S, handler)
        z.handle_incoming(Msg(H("012200"), CL.DEVICE_MGMT))
        await asyncio.sleep_ms(20)
        assert frames(ncp) == [H("08220b008b")]
        del ncp.sent[:]

        def replying(f, a):  # a specific response instead of a Default Response
            z.reply_command(
                f,
                CL.DM_PUBLISH_COT,
                {
                    "provider_id": 0,
                    "issuer_event_id": 0x1C374A80,
                    "tariff_type": 0,
                    "implementation_time": 0x1FC66E20,
                    "proposed_tenancy_change_control": 0x200,
                },
            )

        z.on_command(CL.DEVICE_MGMT, CL.DM_GET_COT, CL.C2S, replying)
        z.handle_incoming(Msg(H("010000"), CL.DEVICE_MGMT))
        await settle()
        assert frames(ncp) == [H("19") + GCS09[1:]]

    fwtest.run(main())


def test_unsupported_commands_are_answered():
    async def main():
        ncp, z = setup()
        z.handle_incoming(Msg(H("1977 42 00".replace(" ", "")), CL.PRICE))  # unknown cluster cmd
        z.handle_incoming(Msg(H("0078 11"), CL.PRICE))  # Discover Commands Received: unsupported
        z.handle_incoming(Msg(H("05 3412 79 00".replace(" ", "")), CL.PRICE))  # manuf cluster cmd
        z.handle_incoming(Msg(H("04 3412 7a 00".replace(" ", "")), CL.PRICE))  # manuf global
        z.handle_incoming(Msg(H("087b0b0081"), CL.PRICE))  # a Default Response: never answered
        await settle()
        assert frames(ncp) == [
            H("00770b4281"),
            H("08780b1182"),
            H("0c3412790b0083"),
            H("0c34127a0b0084"),
        ]
        assert z.counters.get("rx_unsup_cmd") == 4
        assert z.counters.get("rx_dr_error") == 1

    fwtest.run(main())


def test_request_matched_by_node_cluster_tsn_with_command_schema():
    async def main():
        ncp, z = setup()

        def respond(zcl, node, cluster, frame):
            tsn = frame[1]
            # noise first: other node, other TSN, same-direction frame
            zcl.handle_incoming(Msg(bytes((0x09, tsn, 3)) + CS01B_RSP_PAYLOAD, cluster, 0x9999))
            zcl.handle_incoming(Msg(bytes((0x19, tsn ^ 1, 3)) + CS01B_RSP_PAYLOAD, cluster))
            zcl.handle_incoming(Msg(bytes((0x01, tsn, 3)) + CS01B_RSP_PAYLOAD, cluster))
            zcl.handle_incoming(Msg(bytes((0x19, tsn, 3)) + CS01B_RSP_PAYLOAD, cluster))

        ncp.responder = respond
        rsp = await z.command(METER, 1, CL.PREPAYMENT, CL.PP_CONSUMER_TOP_UP,
                              {"originating_device": 0, "top_up_code": b"73950067887105178605"},
                              rsp_cmd=CL.PP_CONSUMER_TOP_UP_RSP, timeout_ms=200)  # fmt: skip
        assert rsp is not None and rsp.node == METER and rsp.cmd_id == 3
        assert rsp.args["top_up_value"] == 1250000 and rsp.args["credit_remaining"] == 25144000
        req = ncp.sent[0][4]
        assert req[0] == 0x01 and req[2:] == H("040014") + b"73950067887105178605"
        assert rsp.tsn == req[1]

    fwtest.run(main())


def test_retry_on_timeout_reuses_tsn_then_gives_up():
    async def main():
        ncp, z = setup()
        n = [0]

        def second_time(zcl, node, cluster, frame):
            n[0] += 1
            if n[0] == 2:
                zcl.handle_incoming(Msg(bytes((0x18, frame[1], 0x0B, frame[2], 0)), cluster))

        ncp.responder = second_time
        rsp = await z.request(METER, 1, CL.PREPAYMENT, 0x00, H("206ec61f02"), timeout_ms=30,
                              retries=2)  # fmt: skip
        assert rsp is not None and rsp.default_status() == F.SUCCESS
        assert len(ncp.sent) == 2 and ncp.sent[0][4] == ncp.sent[1][4]
        assert z.counters.get("req_timeouts") == 1
        ncp.responder = None
        rsp = await z.request(METER, 1, CL.PREPAYMENT, 0x00, H("206ec61f02"), timeout_ms=20,
                              retries=1)  # fmt: skip
        assert rsp is None and len(ncp.sent) == 4
        assert z.counters.get("req_failed") == 1 and z.pending() == 0

    fwtest.run(main())


def test_send_failure_is_retried_not_raised():
    async def main():
        ncp, z = setup()
        ncp.status = 0x66
        rsp = await z.request(METER, 1, CL.PRICE, 0, H("00"), timeout_ms=10, retries=1)
        assert rsp is None and z.counters.get("tx_errors") == 2

    fwtest.run(main())


def test_read_attributes_values_statuses_and_type_check():
    async def main():
        ncp, z = setup()

        def respond(zcl, node, cluster, frame):
            body = H("0004002a18fcff0104860703004104313233340000002315cd5b07")
            zcl.handle_incoming(Msg(bytes((0x18, frame[1], 0x01)) + body, cluster))

        ncp.responder = respond
        out = await z.read_attributes(METER, 1, CL.METERING, [0x0400, 0x0401, 0x0307, 0x0000])
        assert ncp.sent[0][4][2:] == H("000004010407030000")
        assert out[0x0400] == -1000
        assert out[0x0401] == F.attr_status(F.UNSUPPORTED_ATTRIBUTE)
        assert out[0x0307] == b"1234"
        assert out[0x0000] is F.attr_status(F.INVALID_DATA_TYPE)  # uint32 sent, uint48 declared
        assert z.counters.get("rx_bad_type") == 1

        ncp.responder = lambda zcl, n, c, fr: zcl.handle_incoming(
            Msg(bytes((0x18, fr[1], 0x0B, 0x00, 0xC3)), c)
        )
        out = await z.read_attributes(METER, 1, CL.METERING, [0x0400])
        assert out == {0x0400: F.attr_status(F.UNSUPPORTED_CLUSTER)}

        ncp.responder = lambda zcl, n, c, fr: zcl.handle_incoming(
            Msg(bytes((0x18, fr[1], 0x01)) + H("0004002a18fc"), c)
        )  # truncated int24
        out = await z.read_attributes(METER, 1, CL.METERING, [0x0400], timeout_ms=50)
        assert out == {} and z.counters.get("rx_malformed") == 1

    fwtest.run(main())


def test_write_attributes_and_configure_reporting_helpers():
    async def main():
        ncp, z = setup()
        ncp.responder = lambda zcl, n, c, fr: zcl.handle_incoming(
            Msg(bytes((0x18, fr[1], 0x04)) + H("880100"), c)
        )
        out = await z.write_attributes(METER, 1, CL.TIME, [(0, T.UTC, 5), (1, T.BITMAP8, 2)])
        assert out == {0: 0, 1: F.READ_ONLY}
        assert ncp.sent[-1][4][2:] == H("020000e20500000001001802")
        ncp.responder = lambda zcl, n, c, fr: zcl.handle_incoming(
            Msg(bytes((0x18, fr[1], 0x07, 0x00)), c)
        )
        out = await z.configure_reporting(
            METER, 1, CL.METERING, [F.reporting_record(0x0400, T.INT24, 5, 60, 10)]
        )
        assert out == [(0, None, None)]
        assert ncp.sent[-1][4][2:] == H("060000042a05003c000a0000")

    fwtest.run(main())


def test_reports_dispatch_type_checked_records_and_default_response():
    async def main():
        ncp, z = setup()
        got = []
        z.on_report(CL.METERING, lambda f, a, v: got.append((a, v)))
        rep = H("08100a00042ae8030000002301000000010025020000000000")
        z.handle_incoming(Msg(rep, CL.METERING))
        await settle()
        assert got == [(0x0400, 1000), (0x0001, 2)]  # 0x0000 as uint32: rejected and counted
        assert z.counters.get("rx_bad_type") == 1
        assert frames(ncp) == [H("00100b0a00")]
        z.handle_incoming(Msg(H("18110a00042ae8"), CL.METERING))  # truncated, DDR set
        await settle()
        assert frames(ncp)[-1] == H("00110b0a80") and len(got) == 2

    fwtest.run(main())


def test_local_attribute_store_read_write_discover():
    async def main():
        ncp, z = setup()
        offset = [4096]
        writes = []
        z.local_cluster(CL.BASIC, ((0x0000, T.UINT8, 3, False),
                                   (0x0005, T.CHARSTR, "PPMID", False),
                                   (0x0010, T.CHARSTR, "Hall", True)),
                        on_write=lambda a, v: writes.append((a, v)))  # fmt: skip
        z.local_cluster(CL.OTA, ((0x0001, T.UINT32, lambda: offset[0], False),
                                 (0x0006, T.ENUM8, 1, False)))  # fmt: skip
        z.handle_incoming(Msg(H("0001 00 0000 0500 0900".replace(" ", "")), CL.BASIC))
        # the OTA server reads our client attributes (direction S->C)
        z.handle_incoming(Msg(H("1802 00 0100 0600".replace(" ", "")), CL.OTA))
        await settle()
        assert frames(ncp) == [
            H("1801 01 00000020 03 05000042 055050 4d4944 090086".replace(" ", "")),
            H("1002 01 0100002300100000 06000030 01".replace(" ", "")),
        ]
        del ncp.sent[:]
        z.handle_incoming(Msg(H("0003 02 1000420458595a21 000020 07".replace(" ", "")), CL.BASIC))
        z.handle_incoming(Msg(H("0004 03 100042024142 000020 07".replace(" ", "")), CL.BASIC))
        z.handle_incoming(Msg(H("0005 0c 0000 10".replace(" ", "")), CL.BASIC))
        z.handle_incoming(Msg(H("0006 00 0000".replace(" ", "")), CL.TIME))  # not hosted
        await settle()
        assert frames(ncp) == [
            H("1803 04 880000"),  # 0x0010 written, 0x0000 read-only
            H("1804 04 880000"),  # undivided: nothing written
            H("1805 0d 01 000020 050042 100042".replace(" ", "")),
            H("08060b00c3"),
        ]
        assert z.get_local(CL.BASIC, 0x0010) == "XYZ!" and writes == [(0x0010, "XYZ!")]
        offset[0] = 8192
        assert z.get_local(CL.OTA, 0x0001) == 8192

    fwtest.run(main())


def test_malformed_input_is_counted_never_raised():
    async def main():
        import random

        ncp, z = setup()
        z.on_command(CL.DEVICE_MGMT, 1, CL.S2C, lambda f, a: None)
        z.on_command(CL.PREPAYMENT, 3, CL.S2C, lambda f, a: 1 // 0)  # a buggy handler
        z.local_cluster(CL.BASIC, ((0, T.UINT8, 3, True),))
        z.on_report(CL.METERING, lambda f, a, v: None)
        z.handle_incoming(Msg(H("09"), CL.DEVICE_MGMT))
        z.handle_incoming(Msg(b"", CL.DEVICE_MGMT))
        assert z.counters.get("rx_short") == 2
        # PublishChangeOfSupplier whose provider-name length runs past the end
        z.handle_incoming(Msg(H("090901") + bytes(21) + H("10414243"), CL.DEVICE_MGMT))
        await settle()
        assert frames(ncp)[-1] == H("00090b0180") and z.counters.get("rx_malformed") == 1
        z.handle_incoming(Msg(H("090a03") + CS01B_RSP_PAYLOAD, CL.PREPAYMENT))
        await settle()
        assert frames(ncp)[-1] == H("000a0b0301") and z.counters.get("handler_errors") == 1
        random.seed(5)
        clusters = (CL.DEVICE_MGMT, CL.PREPAYMENT, CL.BASIC, CL.METERING, CL.OTA)
        for i in range(400):
            data = bytes(random.getrandbits(8) for _ in range(random.randint(0, 30)))
            if data and i % 2:
                data = bytes((data[0] & 0x1B,)) + data[1:]  # mostly valid frame controls
            z.handle_incoming(Msg(data, clusters[i % len(clusters)]))
            if i % 50 == 0:
                await settle()
        await settle()
        assert z.counters.get("internal_errors") == 0
        assert z.counters.get("rx_frames") == 404

    fwtest.run(main())


# ---- receive-path storage and lifetimes (docs/zigbee.md "Receive path") ----


def _read_rsp(tsn, value):
    # Read Attributes Response: 0x0400 int24 = value
    v = value & 0xFFFFFF
    return bytes((0x18, tsn, 0x01, 0x00, 0x04, 0x00, 0x2A, v & 0xFF, (v >> 8) & 0xFF, v >> 16))


def test_read_records_and_default_response_statuses():
    async def main():
        ncp, z = setup()
        ncp.responder = lambda zcl, n, c, fr: zcl.handle_incoming(Msg(_read_rsp(fr[1], -7), c))
        rec = await z.read_records(METER, 1, CL.METERING, [0x0400])
        assert rec.n == 1 and rec.ok(0) and rec.value(0) == -7 and rec.get(0x0400) == -7
        ncp.responder = lambda zcl, n, c, fr: zcl.handle_incoming(
            Msg(bytes((0x18, fr[1], 0x0B, 0x00, 0xC3)), c)
        )
        rec = await z.read_records(METER, 1, CL.METERING, [0x0400, 0x0000])
        assert rec.n == 2 and not rec.ok(0) and rec.status[1] == F.UNSUPPORTED_CLUSTER
        assert rec.to_dict() == {a: F.attr_status(0xC3) for a in (0x0400, 0x0000)}

    fwtest.run(main())


def test_each_pending_request_keeps_its_own_answer():
    # Answers for several waiting requests arrive in one burst (before any requester runs),
    # followed by a report: each requester still reads its own answer.
    async def main():
        ncp, z = setup()
        z.on_report(CL.METERING, lambda f, a, v: None)
        frames_out = []
        ncp.responder = lambda zcl, n, c, fr: frames_out.append(fr)
        tasks = [asyncio.create_task(z.read_attributes(METER, 1, CL.METERING, [0x0400]))
                 for _ in range(4)]  # fmt: skip
        await settle()
        assert len(frames_out) == 4 and z.pending() == 4
        for fr in frames_out:
            z.handle_incoming(Msg(_read_rsp(fr[1], fr[1]), CL.METERING))
        z.handle_incoming(Msg(H("18770a00042a010000"), CL.METERING))
        got = []
        for t in tasks:  # (no await in comprehensions on MicroPython)
            got.append(await t)
        assert got == [{0x0400: fr[1]} for fr in frames_out]
        assert z.pending() == 0

    fwtest.run(main())


def test_request_pool_is_bounded_and_waits_for_a_free_slot():
    async def main():
        ncp = FakeNcp()
        z = ZC.Zcl(ncp, local_ep=1, pool=2)
        ncp.zcl = z
        frames_out = []
        ncp.responder = lambda zcl, n, c, fr: frames_out.append(fr)
        tasks = [asyncio.create_task(z.read_attributes(METER, 1, CL.METERING, [0x0400]))
                 for _ in range(3)]  # fmt: skip
        await settle()
        assert len(frames_out) == 2 and z.pending() == 2 and len(z._pool) == 2
        assert z.counters.get("pool_waits") == 1
        z.handle_incoming(Msg(_read_rsp(frames_out[0][1], 1), CL.METERING))
        await settle()
        assert len(frames_out) == 3  # the third got the freed slot
        for fr in frames_out[1:]:
            z.handle_incoming(Msg(_read_rsp(fr[1], 2), CL.METERING))
        got = []
        for t in tasks:  # (no await in comprehensions on MicroPython)
            got.append(await t)
        assert got == [{0x0400: 1}, {0x0400: 2}, {0x0400: 2}] and len(z._pool) == 2

    fwtest.run(main())


def test_request_frame_is_the_slot_and_command_result_is_detached():
    async def main():
        ncp, z = setup()

        def respond(zcl, node, cluster, frame):
            m = Msg(bytes((0x19, frame[1], 3)) + CS01B_RSP_PAYLOAD, cluster)
            m.sender_eui64 = bytearray(H("0102030405060708"))
            zcl.handle_incoming(m)
            m.sender_eui64[0] = 0xEE  # the NCP layer reuses its buffers

        ncp.responder = respond
        vals = {"originating_device": 0, "top_up_code": b"73950067887105178605"}
        rsp = await z.command(METER, 1, CL.PREPAYMENT, CL.PP_CONSUMER_TOP_UP, vals,
                              rsp_cmd=CL.PP_CONSUMER_TOP_UP_RSP)  # fmt: skip
        assert rsp not in [p.frame for p in z._pool] and rsp.eui64 == H("0102030405060708")
        payload = bytes(rsp.payload)
        # more traffic through the same slot: the detached result does not change
        r2 = await z.request(METER, 1, CL.PREPAYMENT, CL.PP_CONSUMER_TOP_UP, b"\x00",
                             rsp_cmd=CL.PP_CONSUMER_TOP_UP_RSP)  # fmt: skip
        assert r2 is z._pool[0].frame and isinstance(r2.payload, memoryview)
        r2d = r2.detach()
        await z.request(METER, 1, CL.PREPAYMENT, CL.PP_CONSUMER_TOP_UP, b"\x00",
                        rsp_cmd=CL.PP_CONSUMER_TOP_UP_RSP)  # fmt: skip
        assert bytes(rsp.payload) == payload and rsp.args["top_up_value"] == 1250000
        assert r2d.tsn != z._pool[0].frame.tsn and r2d.payload == payload

    fwtest.run(main())


def test_async_handler_finishes_on_a_copy_of_the_reused_frame():
    async def main():
        ncp, z = setup()

        async def handler(f, a):
            await asyncio.sleep_ms(5)
            return F.NOT_FOUND

        z.on_command(CL.DEVICE_MGMT, CL.DM_GET_COT, CL.C2S, handler)
        z.handle_incoming(Msg(H("012200"), CL.DEVICE_MGMT))
        # the next frame (another node, TSN) goes through the same receive Frame meanwhile
        z.handle_incoming(Msg(H("18440a00042a010000"), CL.METERING, sender=0x7777))
        await asyncio.sleep_ms(30)
        assert ncp.sent == [(METER, CL.DEVICE_MGMT, 1, 1, H("08220b008b"), 0x0109)]

    fwtest.run(main())


def test_oversized_frame_counted_and_dropped():
    async def main():
        ncp, z = setup()
        got = []
        z.on_report(CL.METERING, lambda f, a, v: got.append(a))
        body = H("18010a") + H("000420") + b"\x01" * 0  # one uint8 record...
        body += b"".join(bytes((i, 0x05, 0x20, 1)) for i in range(70))  # ...then 70: 286 B
        z.handle_incoming(Msg(body, CL.METERING))
        assert z.counters.get("rx_oversize") == 1 and got == []
        # more records than a Records holds (16) but within RX_MAX: all delivered
        body = H("18020a") + b"".join(bytes((i, 0x05, 0x20, i)) for i in range(30))
        z.handle_incoming(Msg(body, CL.METERING))
        assert got == [0x0500 | i for i in range(30)]
        assert z.counters.get("rx_many_records") == 1

    fwtest.run(main())


# ---- before decoding: the gate, reports nobody handles, bounded decoding; broadcasts ----

ATTACK_9 = H("18010acdab4800feff")  # Report Attributes: array of 65,534 "no data" elements


def test_gate_sees_the_header_and_refuses_before_decoding():
    async def main():
        ncp, z = setup()
        seen, got = [], []
        z.on_report(CL.METERING, lambda f, a, v: got.append(a))
        z.on_command(CL.DEVICE_MGMT, CL.DM_PUBLISH_COT, CL.S2C, lambda f, a: got.append(a))

        def gate(f, response):
            seen.append((f.node, f.src_ep, f.cluster, f.secured, f.cmd_id, f.records.n))
            return f.node == METER and not response

        z.set_gate(gate)
        rogue = 0x5555
        z.handle_incoming(Msg(ATTACK_9, CL.METERING, sender=rogue))
        z.handle_incoming(Msg(H("08100a00042ae8030000"), CL.METERING, sender=rogue))
        z.handle_incoming(Msg(GCS09, CL.DEVICE_MGMT, sender=rogue))  # would get a DR
        z.handle_incoming(Msg(H("0001 00 0000".replace(" ", "")), CL.BASIC, sender=rogue))
        await settle()
        assert got == [] and ncp.sent == []  # dropped: no handler, no response
        assert z.counters.get("rx_gated") == 4 and z.counters.get("rx_malformed") == 0
        assert seen[0] == (rogue, 1, CL.METERING, True, F.REPORT_ATTRIBUTES, 0)  # not decoded
        z.handle_incoming(Msg(H("18110a00042ae80300"), CL.METERING))
        z.handle_incoming(Msg(GCS09, CL.DEVICE_MGMT))
        await settle()
        assert got[0] == 0x0400 and len(got) == 2 and len(ncp.sent) == 1
        assert z.counters.get("rx_gated") == 4
        z.set_gate(None)  # back to the default: everything passes
        z.handle_incoming(Msg(H("18120a00042ae80300"), CL.METERING, sender=rogue))
        assert len(got) == 3

    fwtest.run(main())


def test_gate_also_judges_answers_to_our_requests():
    async def main():
        ncp, z = setup()
        calls = []

        def gate(f, response):
            calls.append(response)
            return response and f.secured  # answers pass when secured, nothing else

        z.set_gate(gate)
        ncp.responder = lambda zcl, n, c, fr: zcl.handle_incoming(Msg(_read_rsp(fr[1], -7), c))
        rec = await z.read_records(METER, 1, CL.METERING, [0x0400])
        assert rec is not None and rec.value(0) == -7 and z.counters.get("rx_gated") == 0
        assert calls == [True]

        # A forged unencrypted answer is dropped before decoding; the request keeps waiting
        # for the real one (here: none, so it times out).
        def forged(zcl, n, c, fr):
            m = Msg(_read_rsp(fr[1], 99), c)
            m.secured = False
            zcl.handle_incoming(m)

        ncp.responder = forged
        rec = await z.read_records(METER, 1, CL.METERING, [0x0400], timeout_ms=50, retries=0)
        assert rec is None and z.counters.get("rx_gated") == 1

    fwtest.run(main())


def test_gate_that_raises_refuses():
    async def main():
        ncp, z = setup()
        got = []
        z.on_report(CL.METERING, lambda f, a, v: got.append(a))
        z.set_gate(lambda f, response: 1 // 0)
        z.handle_incoming(Msg(H("08110a00042ae80300"), CL.METERING))
        await settle()
        assert got == [] and ncp.sent == [] and z.counters.get("rx_gated") == 1
        assert z.counters.get("handler_errors") == 1 and z.counters.get("internal_errors") == 0

    fwtest.run(main())


def test_report_nobody_handles_is_answered_not_decoded():
    async def main():
        ncp, z = setup()
        z.handle_incoming(Msg(H("08100a") + ATTACK_9[3:], CL.METERING))  # DDR clear
        z.handle_incoming(Msg(ATTACK_9, CL.METERING))  # DDR set
        await settle()
        assert frames(ncp) == [H("00100b0a00")]  # SUCCESS, as before; nothing was decoded
        assert z.counters.get("rx_malformed") == 0 and z._rx.records.n == 0

    fwtest.run(main())


def test_hostile_collections_are_malformed_and_cheap():
    # The same frames with a handler: counted malformed, answered MALFORMED_COMMAND, no handler
    # sees them, and each costs little (no 65,534-element tuple).
    import time

    async def main():
        ncp, z = setup()
        got = []
        z.on_report(CL.METERING, lambda f, a, v: got.append(a))
        z.on_report_records(CL.METERING, lambda f, rec: got.append(rec.n))
        many = H("18020a") + b"".join(bytes((i, 0xAB, 0x48, 0, 0xFE, 0xFF)) for i in range(24))
        deep = H("18030a cdab 48 480100 480100 480100 200100 07".replace(" ", ""))
        wide = H("18040a cdab 4c feff".replace(" ", "")) + H("2001") * 20
        lstr = H("18050a cdab 44 feff".replace(" ", "")) + b"x" * 60
        worst = 0
        for i, fr in enumerate((ATTACK_9, many, deep, wide, lstr)):
            t = time.ticks_us()
            z.handle_incoming(Msg(fr, CL.METERING))
            worst = max(worst, time.ticks_diff(time.ticks_us(), t))
            assert z.counters.get("rx_malformed") == i + 1
        await settle()
        assert got == [] and z.counters.get("internal_errors") == 0
        assert worst < 50000, worst  # us; a few hundred at most on the unix port
        # an error is answered even with disable-default-response set (ZCL r7 2.5.12.2)
        assert frames(ncp) == [bytes((0, tsn, 0x0B, 0x0A, 0x80)) for tsn in (1, 2, 3, 4, 5)]

    fwtest.run(main())


def _bcast(data, cluster, msg_type):
    m = Msg(data, cluster)
    m.msg_type = msg_type
    return m


def test_no_default_response_to_broadcast_or_multicast():
    # EmberIncomingMessageType: 0 unicast, 1 unicast reply, 2 multicast, 3 multicast loopback,
    # 4 broadcast, 5 broadcast loopback. ZCL r7 2.5.12.2: only a unicast command gets one.
    async def main():
        ncp, z = setup()
        z.on_command(CL.OTA, CL.OTA_IMAGE_NOTIFY, CL.S2C, lambda f, a: None)
        z.on_report(CL.METERING, lambda f, a, v: None)
        notify = H("0901 00 00 64".replace(" ", ""))  # ImageNotify, DDR clear, jitter 100
        for t in (2, 3, 4, 5):
            z.handle_incoming(_bcast(notify, CL.OTA, t))  # success: a DR would follow
            z.handle_incoming(_bcast(H("0902 42"), CL.OTA, t))  # unsupported cluster command
            z.handle_incoming(_bcast(H("0003 77"), CL.PRICE, t))  # unsupported global command
            z.handle_incoming(_bcast(H("08040a") + ATTACK_9[3:], CL.METERING, t))  # malformed
            z.handle_incoming(_bcast(H("08050a00042ae80300"), CL.METERING, t))  # report, DDR clr
        await settle()
        assert ncp.sent == [] and z.counters.get("dr_not_sent") == 20
        assert z.counters.get("dr_sent") == 0
        for t in (0, 1):  # unicast: answered as before
            z.handle_incoming(_bcast(notify, CL.OTA, t))
            z.handle_incoming(_bcast(H("0003 77"), CL.PRICE, t))
        await settle()
        assert frames(ncp) == [H("00010b0000"), H("08030b7782")] * 2
        # a handler's own replies still go out; the frame says what it was
        seen = []
        z.on_command(CL.OTA, CL.OTA_IMAGE_NOTIFY, CL.S2C, lambda f, a: seen.append(
            (f.msg_type, f.broadcast, f.detach().broadcast)))  # fmt: skip
        z.handle_incoming(_bcast(notify, CL.OTA, 4))
        z.handle_incoming(_bcast(notify, CL.OTA, 0))
        assert seen == [(4, True, True), (0, False, False)]

    fwtest.run(main())


def test_large_writes_and_reads_of_our_attributes_fit_one_response():
    # 84 write records (a 255-byte frame) that all fail: the response lists the failures that
    # fit in one frame (it raised EncodeError before); 126 ids read: the answer ends when full.
    async def main():
        ncp, z = setup()
        z.local_cluster(CL.BASIC, ((0x0000, T.UINT8, 3, False), (0x0010, T.CHARSTR, "Hall", True)))
        w = H("000102") + b"".join(bytes((i + 0x20, 0, 0x20, 7)) for i in range(63))
        z.handle_incoming(Msg(w, CL.BASIC))
        # undivided, one good record among many bad: nothing written, the failures answered
        u = H("000203") + H("1000 42 0158".replace(" ", "")) + bytes((0, 0, 0x20, 1)) * 40
        z.handle_incoming(Msg(u, CL.BASIC))
        z.handle_incoming(Msg(H("000300") + bytes(252), CL.BASIC))
        z.handle_incoming(Msg(H("000400") + bytes(3), CL.BASIC))  # odd length: malformed
        await settle()
        out = frames(ncp)
        assert z.counters.get("internal_errors") == 0 and len(out) == 4
        assert out[0][:3] == H("180104") and len(out[0]) == 3 + 3 * 26
        assert out[0][3:9] == H("862000 862100".replace(" ", ""))
        assert out[1] == H("180204") + H("880000") * 26 and z.get_local(CL.BASIC, 0x10) == "Hall"
        assert out[2][:3] == H("180301") and len(out[2]) <= 82
        assert out[2][3:8] == H("0000002003") and out[3] == H("08040b0080")
        assert z.counters.get("rx_malformed") == 1

    fwtest.run(main())


def test_report_beyond_records_capacity_is_checked_whole_and_allocates_nothing():
    # The records after the 16 a Records holds are checked (a malformed one anywhere: no
    # handler sees any) and delivered chunk by chunk, without a record list.
    from array import array

    async def main():
        ncp, z = setup()
        got = array("i", [0, 0])

        def on_value(f, a, v):
            got[0] += 1
            got[1] += v

        z.on_report(CL.METERING, on_value)
        body = H("18010a") + b"".join(bytes((i, 0x05, 0x20, i)) for i in range(40))
        z.handle_incoming(Msg(body[:-1], CL.METERING))  # the last value cut off
        await settle()
        assert got[0] == 0 and frames(ncp) == [H("00010b0a80")]
        z.handle_incoming(Msg(body, CL.METERING))  # warm-up (first sight of the length)
        assert got[0] == 40 and got[1] == sum(range(40))
        msg = Msg(body, CL.METERING)
        with fwtest.HeapLocked():
            z.handle_incoming(msg)
        assert got[0] == 80 and z.counters.get("internal_errors") == 0
        assert z.counters.get("rx_many_records") == 3

    fwtest.run(main())
