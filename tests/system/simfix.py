# Helpers for system tests: run hansim + the firmware on the unix port through
# host_tools.simulate, and compute what the scenario says the meters held.
import os
import shutil
import subprocess

import pytest

from host_tools.hansim import scenario as scn
from host_tools.hansim.meters import MeterState
from host_tools.simulate import Simulation, parse_until

ZB_UNIX = 946684800
_MALFORMED = "_ws.malformed || _ws.expert.severity >= error"


def tshark(pcap, *args):
    # The lines tshark prints for a run's capture (with extra arguments: a filter, fields).
    # Wireshark is the referee for every frame on the HAN: CI installs it (.ci/run).
    exe = shutil.which("tshark")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("tshark missing (.ci/run installs it)")
        pytest.skip("tshark not installed")
    run = [exe, "-r", str(pcap)] + list(args)
    return subprocess.run(run, capture_output=True, text=True, check=True).stdout.splitlines()


def tshark_clean(pcap, min_frames=100):
    # -> every frame's summary line, after checking that none is malformed (or an error).
    total = tshark(pcap)
    assert len(total) > min_frames, len(total)
    assert tshark(pcap, "-Y", _MALFORMED) == []
    return total


def run(out, scenario="default", until="40m", speed=120, steps=(), heapsize="1M", **kw):
    # steps: [(duration or ISO, fn(sim))] run in order at those simulated times.
    # the whole firmware (both framebuffers too) within a board-like 1 MB heap (64-bit build)
    sim = Simulation(scenario, str(out), speed=speed, heapsize=heapsize, **kw)
    try:
        sim.start_hansim()
        start = sim.now()
        sim.start_firmware()
        for when, fn in steps:
            sim.run_until(parse_until(when, start))
            fn(sim)
        sim.run_until(parse_until(until, start))
        sim.final_zigbee = sim.now()  # the firmware's state is dumped just after this
        sim.ota_status = sim.ctl.call(cmd="status").get("ota")  # the hub's, before it stops
    finally:
        sim.stop()
    sim.render_screens()
    sim.start_zigbee = start
    return sim


def meter_model(scenario, fuel):
    s = scn.load(scenario)
    for spec in s.meters:
        if spec.fuel == fuel:
            return MeterState(spec, s.start_unix)
    raise KeyError(fuel)


def read_log(sim):
    return sim.log_text()


def exists(path):
    return os.path.exists(path)


def scenario_file(tmp_path, events=(), esme=None, gpf=None, base="default", **top):
    # A scenario JSON derived from a built-in one: its events replaced, meter fields overridden.
    import json

    from host_tools.hansim import scenario as scn_mod

    path = os.path.join(os.path.dirname(scn_mod.__file__), "scenarios", base + ".json")
    with open(path) as f:
        d = json.load(f)
    d["events"] = list(events)
    for m in d["meters"]:
        over = esme if m["fuel"] == "electricity" else gpf
        if over:
            m.update(over)
    d.update(top)
    out = os.path.join(str(tmp_path), "scenario.json")
    with open(out, "w") as f:
        json.dump(d, f, indent=1)
    return out


def export_rows(tmp_path):
    from host_tools.history.export import read_image

    with open(os.path.join(str(tmp_path), "flash.img"), "rb") as f:
        return read_image(f.read())


def iso_to_zigbee(text):
    import datetime as dt

    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(t.timestamp()) - ZB_UNIX


def meter_rows(tmp_path, meter):
    return [r for r in export_rows(tmp_path) if r["meter"] == meter]


def assert_rewound(sim, tmp_path, meter, t, fuel_key):
    # The privacy property after a change of tenancy at T: 0 records before T in the export and
    # in every rendered view (the model's privacy-filtered history).
    # Storage: every half-hour of the meter starts at/after T, and some exist after T (data
    # continues); a day total holds only what its post-T half-hours hold.
    rows = meter_rows(tmp_path, meter)
    hh = [r for r in rows if r["resolution"] == "half_hour"]
    starts = [iso_to_zigbee(r["start"]) for r in hh]
    assert starts and min(starts) >= t, (meter, t, starts)
    assert len([s for s in starts if s >= t]) >= 1  # data after T continues
    for r in rows:
        assert iso_to_zigbee(r["start"]) >= t, r
    days = [r for r in rows if r["resolution"] == "day"]
    for d in days:
        same_day = [r for r in hh if r["start"][:10] == d["start"][:10]]
        if same_day:
            assert abs(d["energy_kwh"] - sum(r["energy_kwh"] for r in same_day)) < 0.0015
    # What the screens render (the model's privacy-filtered views), per period.
    st = sim.state()
    f = st["fuels"][fuel_key]
    assert f["visible_from"] == t
    for period, entries in f["history"].items():
        for start, _wh, _cost in entries:
            assert start >= t, (period, start, t)
    return st
