# Issue 14 item 4, history from the meter, end to end: the firmware on the unix port against
# hansim's ESME and GPF, whose GetProfile server answers from their energy model (12 intervals a
# response, like a real ESME's limit). (a) The device is stopped for two simulated days while
# the HAN runs on, then started again: every half-hour of the two days is in its store (the
# host `history export`) and equals the model's. (b) A device that first starts after a change
# of tenancy the meter already holds (T before the device ever ran) never holds pre-T data: the
# tenancy check rewinds first, the backfill asks only from T, every row is at/after T, and the
# post-T half-hours before the device started come from the meter. Each pcap dissects in tshark
# with 0 malformed frames, Metering GetProfile / GetProfileResponse named.
import datetime as dt
import os
import shutil
import subprocess

import pytest

from host_tools.simulate import Simulation, parse_until
from tests.system import simfix

SPEED = 240
START = "2026-01-15T06:00:00Z"
T0 = simfix.iso_to_zigbee(START)
HH = 1800
DAY = 86400
MIN = 60
ELEC_TOL_KWH = 0.0015  # the import comparisons' tolerance (simfix.assert_rewound): 1 Wh
GAS_TOL_KWH = 0.012  # a GPF's profile is in litres: 1 litre = 11.2 Wh


def _rows(tmp_path, meter):
    return {
        simfix.iso_to_zigbee(r["start"]): r["energy_kwh"]
        for r in simfix.meter_rows(tmp_path, meter)
        if r["resolution"] == "half_hour"
    }


def _tshark(pcap, *args):
    tshark = shutil.which("tshark")
    if tshark is None:
        if os.environ.get("CI"):
            pytest.fail("tshark missing (.ci/run installs it)")
        pytest.skip("tshark not installed")
    run = [tshark, "-r", str(pcap)] + list(args)
    return subprocess.run(run, capture_output=True, text=True, check=True).stdout.splitlines()


def _pcap_clean(tmp_path):
    # -> [(meter node, end_time, periods)] of the GetProfile requests, as Wireshark reads them
    pcap = tmp_path / "han.pcap"
    total = _tshark(pcap)
    bad = _tshark(pcap, "-Y", "_ws.malformed || _ws.expert.severity >= error")
    assert len(total) > 100 and bad == []
    assert _tshark(pcap, "-Y", "zbee_zcl_se.met.cmd.srv_rx.id == 0x00")  # GetProfile named
    assert _tshark(pcap, "-Y", "zbee_zcl_se.met.get_profile_response.status == 0")
    reqs = _tshark(
        pcap,
        "-Y",
        "zbee_zcl_se.met.get_profile.end_time",
        "-T",
        "fields",
        "-e",
        "zbee_nwk.dst",
        "-e",
        "zbee_zcl_se.met.get_profile.end_time",
        "-e",
        "zbee_zcl_se.met.get_profile.number_of_periods",
    )
    out = []
    for line in reqs:
        node, end, n = line.split("\t")
        t = dt.datetime.strptime(
            end.split(".")[0], "%b %d, %Y %H:%M:%S"
        )  # "Jan 15, 2026 09:00:00"
        out.append((int(node, 16), simfix.iso_to_zigbee(t.isoformat() + "Z"), int(n)))
    assert out
    return out


def test_two_days_off_are_filled_from_the_meter(tmp_path):
    scn = simfix.scenario_file(tmp_path, events=[])
    off = {}

    def power_off_two_days(sim):
        sim.stop_firmware(graceful=True)
        off["stop"] = sim.now()
        sim.ctl.call(cmd="advance", seconds=2 * DAY)
        off["start"] = sim.now()
        sim.start_firmware()

    sim = simfix.run(
        tmp_path,
        scenario=scn,
        until="2d1h40m",
        speed=SPEED,
        steps=[("50m", power_off_two_days)],
    )
    assert sim.errors() == [] and sim.boots == 2
    st = sim.state()
    c = st["counters"]
    assert c["meters.backfill_hh"] >= 2 * 96, c  # both fuels' two days at least
    stop_hh = off["stop"] - off["stop"] % HH
    start_hh = off["start"] - off["start"] % HH
    assert start_hh - stop_hh >= 2 * DAY
    for meter, fuel, tol in (("elec", "electricity", ELEC_TOL_KWH), ("gas", "gas", GAS_TOL_KWH)):
        model = simfix.meter_model(scn, fuel)
        rows = _rows(tmp_path, meter)
        # the half-hour the device stopped in: its own (partial) reading, or the meter's whole
        # one; every later one until the restart's open half-hour: the meter's
        assert stop_hh in rows
        for s in range(stop_hh + HH, start_hh, HH):
            assert s in rows, (meter, s)
            want = model.interval_wh(s + simfix.ZB_UNIX) / 1000
            assert abs(rows[s] - want) < tol, (meter, s, rows[s], want)
        # and the ring before the first boot, from the first boot's backfill (9 days before it,
        # the 2 oldest of which left the 10-day half-hour ring when the device came back)
        first = min(rows)
        assert first <= T0 - 6 * DAY
        for s in range(first, T0, HH):
            want = model.interval_wh(s + simfix.ZB_UNIX) / 1000
            assert s in rows and abs(rows[s] - want) < tol, (meter, s, rows.get(s), want)
    reqs = _pcap_clean(tmp_path)
    assert all(1 <= n <= 24 for _, _, n in reqs)


def _run_late(tmp_path, scn, late, until):
    # simfix.run, but the firmware first starts `late` after the scenario start (the HAN ran
    # without it: the device is installed then)
    sim = Simulation(scn, str(tmp_path), speed=SPEED, heapsize="1M")
    try:
        sim.start_hansim()
        start = sim.now()
        sim.ctl.call(cmd="advance", seconds=parse_until(late, start) - start)
        sim.start_firmware()
        sim.run_until(parse_until(until, start))
        sim.final_zigbee = sim.now()
    finally:
        sim.stop()
    sim.render_screens()
    sim.start_zigbee = start
    return sim


def test_device_installed_after_a_change_of_tenancy_never_gets_pre_t_data(tmp_path):
    # The ESME learns of a change of tenancy at 07:00, effective 07:15 (mid half-hour). The
    # device first starts at 09:00: its tenancy check rewinds at T before the backfill runs.
    t = T0 + 75 * MIN
    cot = {
        "type": "change_of_tenancy",
        "meter": "esme",
        "at": "+1h",
        "implementation_time": "+1h15m",
        "provider_id": 301,
        "issuer_event_id": 853326000,
        "change_control": "0x00000600",
        "push": False,
    }
    scn = simfix.scenario_file(tmp_path, events=[cot])
    sim = _run_late(tmp_path, scn, "3h", "3h50m")
    assert sim.errors() == []
    simfix.assert_rewound(sim, tmp_path, "elec", t, "elec")
    rows = _rows(tmp_path, "elec")
    assert min(rows) >= t and t - t % HH not in rows  # the straddling half-hour: gone
    model = simfix.meter_model(scn, "electricity")
    for s in range(t - t % HH + HH, T0 + 3 * 3600, HH):  # after T, before the device ran
        want = model.interval_wh(s + simfix.ZB_UNIX) / 1000
        assert s in rows and abs(rows[s] - want) < ELEC_TOL_KWH, (s, rows.get(s), want)
    st = sim.state()
    assert st["counters"]["meters.backfill_hh"] >= 3
    # the gas meter had no change: its ring was filled from its profile
    assert min(_rows(tmp_path, "gas")) < T0 - DAY
    # on the air: the ESME was never asked for a half-hour before T (the rewind came first)
    elec = [(end, n) for node, end, n in _pcap_clean(tmp_path) if node == 0x1234]
    assert elec and all(end - n * HH >= t for end, n in elec), elec
