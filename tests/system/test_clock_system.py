# Issue 13, time faults, end to end: the Comms Hub's Time attribute (only the hub's: the meters
# and the rest of the network keep the real time) jumps a year forward, a year back, or reads
# 0xFFFFFFFE (year 2136) half an hour in, and stays wrong. The device must keep the real time
# (the ESME's own clock agrees with it), keep reading the meters at the real time, keep its
# tenancy watcher running, apply the ESME's change of tenancy due at 07:15 on time (0 records
# before T in the export and in every rendered view), and not fire the GPF's change scheduled a
# year ahead. Scenario times are relative to 06:00Z.
import re

from tests.system import simfix

SPEED = 240
START = "2026-01-15T06:00:00Z"
T0 = simfix.iso_to_zigbee(START)
MIN = 60
YEAR = 365 * 86400
T_ELEC = T0 + 75 * MIN
T_GAS = T0 + YEAR  # a year ahead: must stay scheduled whatever the hub says
UNTIL = "2h15m"
CLOCK_TOLERANCE_S = 900  # the state is dumped a real second or two (x240) after the end


def _cot(meter, impl, eid):
    return {"type": "change_of_tenancy", "meter": meter, "at": "+10m",
            "implementation_time": impl, "provider_id": 301, "issuer_event_id": eid,
            "change_control": "0x00000600"}  # fmt: skip


def _run(tmp_path, fault):
    events = [
        _cot("esme", "+1h15m", 853326000),
        _cot("gpf", "+365d", 853326100),
        dict({"type": "hub_time", "at": "+30m"}, **fault),
    ]
    scn = simfix.scenario_file(tmp_path, events=events)
    return simfix.run(tmp_path, scenario=scn, until=UNTIL, speed=SPEED)


_LINE = re.compile(r"^(\d+) \w (\S+): (.*)$")


def _exposure_s(sim, t):
    # Seconds of real (simulated) time after T until the rewind was applied, i.e. until no view
    # shows pre-T data: the log's tick stamps mapped to real time with the first status line
    # of the boot (logged with the device's clock before any fault) as the anchor.
    anchor = applied = None
    for line in sim.log_text().splitlines():
        m = _LINE.match(line)
        if not m:
            continue
        ticks, tag, msg = int(m.group(1)), m.group(2), m.group(3)
        if anchor is None and tag == "app":
            s = re.search(r"utc (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", msg)
            if s:
                anchor = (ticks, simfix.iso_to_zigbee(s.group(1)))
        if tag == "tenancy" and msg.startswith("applying cot") and " elec " in msg:
            applied = ticks
    assert anchor is not None and applied is not None, (anchor, applied)
    return anchor[1] + (applied - anchor[0]) * SPEED // 1000 - t


def _check(sim, tmp_path):
    assert sim.errors() == []
    end = sim.final_zigbee
    st = simfix.assert_rewound(sim, tmp_path, "elec", T_ELEC, "elec")
    # the device clock is the real one; readings arrive at the real time
    assert st["synced"] and abs(st["utc"] - end) < CLOCK_TOLERANCE_S, (st["utc"], end)
    for name in ("elec", "gas"):
        got = st["meters"][name]["summ_utc"]
        assert end - 3600 < got < end + CLOCK_TOLERANCE_S, (name, got, end)
    # half-hours up to the end, none dated in the future, the gas history kept whole
    for meter in ("elec", "gas"):
        starts = [simfix.iso_to_zigbee(r["start"]) for r in simfix.meter_rows(tmp_path, meter)]
        assert max(starts) < end + 1800, (meter, max(starts), end)
        hh = [s for s in starts if s >= end - 3600]
        assert hh, (meter, "no half-hour in the last hour")
    gas = [simfix.iso_to_zigbee(r["start"]) for r in simfix.meter_rows(tmp_path, "gas")]
    assert min(gas) < T0  # the GPF's history from before the start (backfill) is still there
    assert st["fuels"]["gas"]["visible_from"] == 0
    # the change of tenancy on time, the one a year ahead still scheduled
    audit = st["tenancy_audit"]
    assert [(a[1], a[4]) for a in audit if a[6] == "applied"] == [("elec", T_ELEC)]
    assert ("gas", T_GAS) in [(a[1], a[4]) for a in audit if a[6] == "scheduled"]
    c = st["counters"]
    assert c["history.truncations"] == 1 and c["history.rejected_old"] == 0
    assert c["clock.steps"] == 0
    # the meter and tenancy loops never stopped (nor restarted)
    tasks = {t[0]: t for t in st["tasks"]}
    for name in ("meters", "tenancy"):
        assert tasks[name][1] and tasks[name][2] == 0, tasks[name]
    exposure = _exposure_s(sim, T_ELEC)
    print("exposure after T: %d s" % exposure)
    assert -5 <= exposure <= 120, exposure  # the anchor is to the second: +-1 s, and jitter
    return st


def test_hub_time_jumps_a_year_forward(tmp_path):
    sim = _run(tmp_path, {"jump": "+365d"})
    st = _check(sim, tmp_path)
    assert st["counters"]["clock.refused"] >= 1
    assert "meter's time agrees with ours" in sim.log_text()


def test_hub_time_jumps_a_year_back(tmp_path):
    sim = _run(tmp_path, {"jump": "-365d"})
    st = _check(sim, tmp_path)
    assert st["counters"]["clock.refused"] >= 1


def test_hub_time_reads_0xfffffffe(tmp_path):
    sim = _run(tmp_path, {"value": "0xFFFFFFFE"})
    st = _check(sim, tmp_path)
    assert st["counters"]["clock.invalid"] >= 1
    assert "0xfffffffe" in sim.log_text().lower()
