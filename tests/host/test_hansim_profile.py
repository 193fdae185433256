# hansim Metering GetProfile server (the IHD's backfill source, docs/history.md "Backfill from
# the meter"), checked against zigpy's Metering definitions: the request the firmware encodes
# parses in zigpy's get_profile schema, hansim's GetProfileResponse parses in zigpy's
# GetProfileResponseSchema and in the firmware's own table to the same values; the intervals are
# the energy model's half-hours (newest first, complete half-hours only, at most
# PROFILE_MAX_PERIODS) and sum to the previous-day attributes hansim serves; statuses for an
# undefined / unsupported channel and for "no intervals"; a meter without a profile answers
# UNSUP_CLUSTER_COMMAND.
import json
import struct

import zigpy.types as zt
from zigpy.zcl.clusters.smartenergy import Metering

from host_tools import upy_shim
from host_tools.hansim import clusters as HC
from host_tools.hansim import scenario
from host_tools.hansim.energy import SLOT_S, day_bounds
from host_tools.hansim.meters import build_devices
from host_tools.hansim.simclock import ZIGBEE_EPOCH_UNIX

upy_shim.install()

from ihd.zigbee.zcl import clusters as CL  # noqa: E402
from ihd.zigbee.zcl import frame as FR  # noqa: E402

IHD = 0x7A3C
ESME, GPF = 0x1234, 0x2B7A
_REQ = Metering.server_commands[0x00].schema  # zigpy: get_profile (received by the server)
_RSP = Metering.client_commands[0x00].schema  # zigpy: get_profile_response


def _world(**over):
    with open(scenario.os.path.join(scenario.SCENARIO_DIR, "default.json")) as fh:
        d = json.load(fh)
    for m in d["meters"]:
        m.update(over)
    scn = scenario.from_dict(d, "default.json")
    t = [scn.start_unix + 7 * 3600 + 600]  # 13:10Z on the start day (January: GMT)
    built = build_devices(scn, lambda: t[0])
    devs = {dev.node_id: dev for dev in built["devices"]}
    return devs, built["meters"], t


def _ask(devs, node, channel, end_zb, n, tsn=7):
    # the firmware's own encoding of the request
    payload = CL.encode(
        CL.command(CL.METERING, FR.C2S, 0x00)[2],
        {"interval_channel": channel, "end_time": end_zb, "number_of_periods": n},
        16,
    )
    req, rest = _REQ.deserialize(payload)
    assert rest == b"" and (req.interval_channel, req.end_time, req.number_of_periods) == (
        channel,
        end_zb,
        n,
    )
    out = devs[node].handle_zcl(IHD, 1, 1, 0x0702, bytes((0x01, tsn, 0x00)) + payload)
    assert len(out) == 1
    frame = out[0]
    return frame[:3], frame[3:]


def _both(payload):
    z, rest = _RSP.deserialize(payload)
    assert rest == b""
    ours = CL.decode(CL.command(CL.METERING, FR.S2C, 0x00)[2], payload)
    assert ours["end_time"] == z.end_time and ours["status"] == z.status
    assert ours["profile_interval_period"] == z.profile_interval_period
    assert ours["number_of_periods_delivered"] == z.number_of_periods_delivered
    assert list(ours["intervals"]) == list(z.intervals)
    # and zigpy re-serializes it to the same bytes
    again = _RSP(
        end_time=z.end_time,
        status=z.status,
        profile_interval_period=z.profile_interval_period,
        number_of_periods_delivered=z.number_of_periods_delivered,
        intervals=[zt.uint24_t(v) for v in z.intervals],
    ).serialize()
    assert again == bytes(payload)
    return z


def test_get_profile_matches_zigpy_and_the_energy_model():
    devs, meters, t = _world()
    esme = meters["esme"][0]
    now_hh = int(t[0] // SLOT_S * SLOT_S)
    # the latest block (end time 0), and one ending at a given time, for each fuel
    for node, name in ((ESME, "esme"), (GPF, "gpf")):
        m = meters[name][0]
        latest = int(m.reading_time(t[0]) // SLOT_S * SLOT_S)
        hdr, payload = _ask(devs, node, 0, 0, 24)
        assert hdr[0] & 0x09 == 0x09 and hdr[1:] == bytes((7, 0x00))  # cluster, S->C, same TSN
        z = _both(payload)
        assert z.status == 0 and z.profile_interval_period == 2
        assert z.number_of_periods_delivered == HC.PROFILE_MAX_PERIODS  # a real ESME's limit
        assert z.end_time + ZIGBEE_EPOCH_UNIX == latest  # complete half-hours only
        for k, v in enumerate(z.intervals):
            assert v == m.interval_units(latest - (k + 1) * SLOT_S)  # newest first
    end = now_hh - 5 * 3600 + 17  # mid-slot: the block ending at/before it
    z = _both(_ask(devs, ESME, 0, end - ZIGBEE_EPOCH_UNIX, 3)[1])
    assert z.end_time + ZIGBEE_EPOCH_UNIX == end - 17 and z.number_of_periods_delivered == 3
    # a future end time: the latest block, never an incomplete half-hour
    z = _both(_ask(devs, ESME, 0, now_hh + 86400 - ZIGBEE_EPOCH_UNIX, 1)[1])
    assert z.end_time + ZIGBEE_EPOCH_UNIX == now_hh
    # the intervals of yesterday (a local day, GMT in January) sum to PreviousDay (0x0403)
    a, b = day_bounds(t[0], 1)
    z = _both(_ask(devs, ESME, 0, int(b) - ZIGBEE_EPOCH_UNIX, 12)[1])
    total = 0
    for blk in range(4):
        z = _both(_ask(devs, ESME, 0, int(b) - blk * 12 * SLOT_S - ZIGBEE_EPOCH_UNIX, 12)[1])
        total += sum(z.intervals)
    assert total == devs[ESME].cluster(0x0702).value(0x0403) == esme.model.between_wh(a, b)
    gpf = meters["gpf"][0]
    assert gpf.interval_units(a) == gpf.wh_to_units(gpf.interval_wh(a))


def test_get_profile_statuses_and_a_meter_without_one():
    devs, meters, t = _world(profile_days=2)
    now_hh = int(t[0] // SLOT_S * SLOT_S)
    for channel, status in ((1, 0x02), (2, 0x01), (0xFF, 0x01)):
        z = _both(_ask(devs, ESME, channel, 0, 4)[1])
        assert (z.status, z.number_of_periods_delivered, list(z.intervals)) == (status, 0, [])
    # older than the profile kept: no intervals; at its edge, what is left
    old = now_hh - 2 * 86400 - ZIGBEE_EPOCH_UNIX
    z = _both(_ask(devs, ESME, 0, old, 4)[1])
    assert (z.status, z.number_of_periods_delivered) == (0x05, 0)
    z = _both(_ask(devs, ESME, 0, old + 2 * SLOT_S, 4)[1])
    assert (z.status, z.number_of_periods_delivered) == (0x00, 2)
    devs, _, _ = _world(profile_days=0)
    payload = bytes((0x01, 9, 0x00)) + struct.pack("<BIB", 0, 0, 4)
    (rsp,) = devs[ESME].handle_zcl(IHD, 1, 1, 0x0702, payload)
    assert rsp[2] == 0x0B and rsp[3:] == bytes((0x00, 0x81))  # Default Response: unsupported
