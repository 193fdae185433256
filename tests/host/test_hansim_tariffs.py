# hansim's time-of-use and block tariffs (hansim/tariffs.py, clusters.Price): an Economy 7 style
# two-rate and a four-rate day, a block tariff and a mid-day price change. The Price server's
# answers (GetCurrentPrice, GetScheduledPrices) and pushes (PublishPrice at each tier change,
# PublishBlockPeriod) are decoded by the firmware's cluster table AND dissected by tshark as
# the referee (zigpy 2.4 declares no Price commands to check against); hansim's own cost model
# is checked against the schedule; the tier registers add up to the register.
import copy
import json
import os
import shutil
import struct
import subprocess

import pytest

from host_tools import upy_shim
from host_tools.hansim import ezsp as ez
from host_tools.hansim import scenario
from host_tools.hansim.han import Han
from host_tools.hansim.pcap import PcapWriter
from host_tools.hansim.simclock import SimClock, parse_iso_utc, to_zigbee
from tests.host.test_hansim_scenario import IHD, FakeEzsp

upy_shim.install()

from ihd.zigbee.zcl import clusters as C  # noqa: E402

TSHARK = shutil.which("tshark")
ESME = 0x1234
DAY = parse_iso_utc("2026-01-15T00:00:00Z")
E7 = [
    {"from": "00:30", "unit_rate": 9000, "label": "Night"},
    {"from": "07:30", "unit_rate": 30000, "label": "Day"},
]
FOUR = [
    {"from": "00:00", "unit_rate": 15000, "label": "Off-peak"},
    {"from": "07:00", "unit_rate": 25000, "label": "Day"},
    {"from": "16:00", "unit_rate": 38000, "label": "Peak"},
    {"from": "19:00", "unit_rate": 25000, "label": "Day", "tier": 2},
    {"from": "23:00", "unit_rate": 11000, "label": "Night"},
]
BLOCKS = {"thresholds_wh": [1000, 2500], "prices": [18000, 26000, 34000], "period": "1d",
          "start": "2026-01-15T00:00:00Z"}  # fmt: skip


def _scn(tariff_over, events=(), start="2026-01-15T03:00:00Z"):
    with open(os.path.join(scenario.SCENARIO_DIR, "default.json")) as fh:
        d = json.load(fh)
    d["start"] = start
    d["events"] = list(events)
    d["meters"][0]["tariff"] = dict(d["meters"][0]["tariff"], **tariff_over)
    return scenario.from_dict(copy.deepcopy(d))


def _han(scn, pcap=None):
    clock = SimClock(scn.start_unix, speed=0.0)
    han = Han(scn, clock, pcap)
    han.ezsp = FakeEzsp(scn.ncp_node_id)
    han.network_up(True)
    return clock, han


def _ask(han, cluster, frame):
    # through the HAN as the NCP would send it (recorded in the pcap), answered at once
    aps = ez.ApsFrame(ez.aps_frame(0x0109, cluster, 1, 1, ez.APS_OPTION_ENCRYPTION, 0, 1))
    han._record(IHD, ESME, aps, frame)
    n = len(han.ezsp.rx)
    han._process(han.devices[ESME], aps, frame)
    return [r[4] for r in han.ezsp.rx[n:]]


def _decode(frame):
    # the firmware's own table (a ZCL header of 3 bytes: no manufacturer code)
    assert frame[0] & 0x03 == 0x01 and frame[0] & 0x08  # cluster-specific, server -> client
    row = C.command(C.PRICE, C.S2C, frame[2])
    return frame[2], C.decode(row[2], frame[3:])


def _current(han):
    (rsp,) = _ask(han, 0x0700, bytes((0x01, 0x10, 0x00, 0x00)))
    cmd, a = _decode(rsp)
    assert cmd == 0x00
    return a


def _zb(hhmm, day=0):
    h, m = hhmm.split(":")
    return to_zigbee(DAY + day * 86400 + int(h) * 3600 + int(m) * 60)


def test_economy7_current_scheduled_pushed_and_costed():
    scn = _scn({"schedule": E7})
    clock, han = _han(scn)
    a = _current(han)  # 03:00: night
    assert (a["price"], a["trailing_digit_and_tier"] & 0x0F, bytes(a["rate_label"])) == (
        9000, 1, b"Night")  # fmt: skip
    assert a["start_time"] == _zb("00:30") and a["duration_min"] == 7 * 60
    assert a["num_tiers_and_register_tier"] == 0x21
    # GetScheduledPrices (now, 3): day at 07:30 (17 h), night from 00:30, day again
    rsps = _ask(han, 0x0700, bytes((0x01, 0x11, 0x01)) + struct.pack("<IB", 0, 3))
    got = [_decode(r)[1] for r in rsps]
    assert [(x["start_time"], x["duration_min"], x["price"]) for x in got] == [
        (_zb("07:30"), 17 * 60, 30000), (_zb("00:30", 1), 7 * 60, 9000),
        (_zb("07:30", 1), 17 * 60, 30000)]  # fmt: skip
    assert len({x["issuer_event_id"] for x in got + [a]}) == 4
    # pushes: none at the first tick, one PublishPrice at 07:30
    n = len(han.ezsp.rx)
    han.tick()
    assert [r for r in han.ezsp.rx[n:] if r[1] == 0x0700] == []
    clock.advance(4 * 3600 + 1800)
    han.tick()
    (push,) = [r for r in han.ezsp.rx[n:] if r[1] == 0x0700]
    cmd, p = _decode(push[4])
    assert cmd == 0x00 and p["price"] == 30000 and p["start_time"] == _zb("07:30")
    # hansim's cost model: each half-hour at the rate in force at its start
    m = han.meters["esme"]
    for k in range(48):
        t = DAY + 86400 + k * 1800
        wh, cost = m.hh_cost(t)
        rate = 9000 if 1 <= k < 15 else 30000
        assert wh > 0 and cost == wh * rate // 1000, k
    # tier registers: tier 1 + tier 2 = the register
    clock.advance(3600)
    now = clock.now()
    t1, t2 = m.tier_summation(now, 1), m.tier_summation(now, 2)
    assert t1 + t2 == m.summation(now) and t2 > 0


def test_four_rate_day_and_a_price_change():
    ev = {"type": "price_change", "meter": "esme", "at": "2026-01-15T12:00:00Z",
          "schedule": [dict(e, unit_rate=e["unit_rate"] + 1000) for e in FOUR]}  # fmt: skip
    scn = _scn({"schedule": FOUR}, [ev])
    clock, han = _han(scn)
    m = han.meters["esme"]
    assert [m.prices.period_at(DAY + h * 3600).tier for h in (1, 8, 17, 20, 23)] == [1, 2, 3, 2, 4]
    han.tick()
    clock.advance(9 * 3600)  # 12:00: the change
    han.tick()
    (push,) = [r for r in han.ezsp.rx if r[1] == 0x0700]
    _, p = _decode(push[4])
    assert p["price"] == 26000 and p["start_time"] == _zb("12:00")
    assert p["duration_min"] == 4 * 60  # to 16:00 (peak)
    a = _current(han)
    assert a["price"] == 26000 and a["issuer_event_id"] == p["issuer_event_id"]
    # the test model sees the change from scenario events too
    from host_tools.hansim.meters import MeterState

    model = MeterState(scn.meter("esme"), scn.start_unix)
    model.price_changes(scn.events)
    assert (
        model.hh_cost(DAY + 11.5 * 3600)[1] == model.hh_cost(DAY + 11.5 * 3600)[0] * 25000 // 1000
    )
    wh, c = model.hh_cost(DAY + 12 * 3600)
    assert c == wh * 26000 // 1000


def test_block_tariff_attributes_prices_and_block_period():
    scn = _scn({"blocks": BLOCKS}, start="2026-01-15T00:00:00Z")
    clock, han = _han(scn)
    m = han.meters["esme"]
    pc = han.devices[ESME].cluster(0x0700)
    assert pc.value(0x0100) == 1000 and pc.value(0x0101) == 2500
    assert pc.value(0x0200) == _zb("00:00") and pc.value(0x0201) == 1 and pc.value(0x0204) == 1
    assert [pc.value(0x0400 + i) for i in range(3)] == [18000, 26000, 34000]
    a = _current(han)
    assert a["price"] == 18000 and a["number_of_block_thresholds"] == 2
    han.tick()
    # the model: blocks by the consumption since the period start, split at thresholds
    used = 0
    for k in range(48):
        t = DAY + k * 1800
        wh, cost = m.hh_cost(t)
        ref = 0
        for x in range(used, used + wh):  # Wh by Wh
            ref += 18000 if x < 1000 else 26000 if x < 2500 else 34000
        assert abs(cost - ref // 1000) <= 2, k  # per-part flooring
        used += wh
    assert used > 2500
    # PublishBlockPeriod and the new block's price at the next period
    n = len(han.ezsp.rx)
    clock.advance(86400 + 60)
    han.tick()
    cmds = [_decode(r[4]) for r in han.ezsp.rx[n:] if r[1] == 0x0700]
    assert [c for c, _ in cmds] == [0x01, 0x00]
    bp = cmds[0][1]
    assert bp["block_period_start_time"] == _zb("00:00", 1) and bp["block_period_duration"] == 1
    assert bp["block_period_duration_type"] & 0x0F == 0x01


@pytest.mark.skipif(TSHARK is None and not os.environ.get("CI"), reason="tshark not installed")
def test_tshark_dissects_price_frames(tmp_path):
    path = str(tmp_path / "price.pcap")
    scn = _scn({"schedule": E7, "blocks": BLOCKS})
    pcap = PcapWriter(path, scn.pan_id)
    clock, han = _han(scn, pcap)
    _current(han)
    _ask(han, 0x0700, bytes((0x01, 0x11, 0x01)) + struct.pack("<IB", 0, 2))
    han.tick()
    clock.advance(4 * 3600 + 1800)
    han.tick()  # PublishPrice at 07:30
    clock.advance(17 * 3600)
    han.tick()  # PublishBlockPeriod + PublishPrice at 00:30
    pcap.close()
    out = subprocess.run(
        [TSHARK, "-r", path, "-T", "fields", "-E", "separator=|", "-e", "_ws.col.Info",
         "-e", "_ws.malformed", "-e", "zbee_zcl_se.price.tier", "-e", "zbee_zcl_se.price.price",
         "-e", "zbee_zcl_se.price.duration_in_minutes", "-e", "zbee_zcl_se.price.start_time",
         "-e", "zbee_zcl_se.price.block_period.duration", "-e", "zbee_zcl_se.price.rate_label"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    rows = [r.split("|") for r in out.strip().splitlines()]
    assert all(r[1] == "" for r in rows), rows  # no malformed frame
    info = " ".join(r[0] for r in rows)
    for name in ("Get Current Price", "Get Scheduled Prices", "Publish Price",
                 "Publish Block Period"):  # fmt: skip
        assert name in info, (name, info)
    prices = [(r[2], r[3], r[4], r[7]) for r in rows if "Publish Price" in r[0]]
    # the block price (by consumption) for the current one; tiers as scheduled
    assert int(prices[0][0], 0) == 1 and prices[0][2] == "420" and prices[0][3] == "Night"
    assert ("0x02", "30000", "1020", "Day") in prices
    assert any(int(r[6] or "0", 0) == 1 for r in rows if "Publish Block Period" in r[0])
