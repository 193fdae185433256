# Issue 14 item 3: export. A home with solar panels on a June morning (its load 1.5 kW on
# average: the early half-hours import, the later ones export): hansim's ESME has an export
# register (CurrentSummationReceived, Metering 0x0001) fed by its solar profile; the firmware on
# the unix port reads it with the import register and stores export per half-hour, and every
# stored half-hour's export (host `history export`) is hansim's own model to a few Wh. Homes that
# do not export (a register that stays 0; no register at all: UNSUPPORTED_ATTRIBUTE, not asked
# again) store no export and show none. The HAN capture dissects in tshark, 0 malformed frames.

import pytest

from tests.system import simfix

SPEED = 240
JUNE = "2026-06-20T05:00:00Z"
SOLAR = {"peak_w": 4000, "cloud": 0.6, "seed": 5}
POLL_S = 10  # the unix board's meter_poll_s
LAG_S = 60  # a reading stamped when its answer arrives: up to 0.25 s real late at SPEED


def _tol_wh(model, t):
    # The reading that straddles a half-hour boundary is split pro rata by time, but the power
    # steps there (constant within each half-hour): a half-hour can be off by the power step
    # at each of its two boundaries over one reading interval plus the stamping lag, + 1 Wh
    # of rounding (the register and the sum of the stored half-hours are exact to the Wh).
    p = [model.power_w(t + d) for d in (-900, 900, 2700)]
    return (abs(p[1] - p[0]) + abs(p[2] - p[1])) * (POLL_S + LAG_S) / 3600 + 1


def _rows(tmp_path, resolution="half_hour"):
    return [
        r
        for r in simfix.export_rows(tmp_path)
        if r["meter"] == "export" and r["resolution"] == resolution
    ]


def test_exporting_home_every_half_hour_matches_the_model(tmp_path):
    esme = {"solar": SOLAR, "profile": {"base_load_w": 1500, "noise": 0.25, "seed": 11}}
    scn = simfix.scenario_file(tmp_path, esme=esme, start=JUNE)
    sim = simfix.run(tmp_path, scenario=scn, until="4h", speed=SPEED)
    assert sim.errors() == []
    st = sim.state()
    em = simfix.meter_model(scn, "electricity")
    start = simfix.iso_to_zigbee(JUNE)
    rows = _rows(tmp_path)
    # the first reading is a baseline: the first whole half-hour after it is the first exact one
    first = start + 1800 - start % 1800 + 1800
    exact = [r for r in rows if simfix.iso_to_zigbee(r["start"]) >= first]
    assert len(exact) >= 4, rows
    # every half-hour the model exports in is stored (one without export is not: none = 0)
    end = (st["meters"]["elec"]["export_utc"] // 1800) * 1800  # the open half-hour's start
    got = {simfix.iso_to_zigbee(r["start"]): round(r["energy_kwh"] * 1000) for r in exact}
    for t in range(first, end, 1800):
        u = t + simfix.ZB_UNIX
        want = em.export_model.between_wh(u, u + 1800)
        tol = _tol_wh(em.export_model, u)
        assert abs(got.get(t, 0) - want) <= tol, (t, got.get(t), want, tol)
    for r in exact:
        assert r["cost_pence"] == 0 and r["fuel"] == "electricity" and r["flow"] == "export"
    # a sunny June morning exports: the rows are not trivially zero
    assert sum(got.values()) > 500
    # import rows hold import only: the import register is the net import max(0, load - pv)
    imp = [r for r in simfix.meter_rows(tmp_path, "elec") if r["resolution"] == "half_hour"]
    assert imp and all(r["flow"] == "import" for r in imp)
    n_imp = 0
    for r in imp:
        t = simfix.iso_to_zigbee(r["start"]) + simfix.ZB_UNIX
        if t - simfix.ZB_UNIX >= first:
            want = em.model.between_wh(t, t + 1800)
            n_imp += want > 0
            assert abs(round(r["energy_kwh"] * 1000) - want) <= _tol_wh(em.model, t), (r, want)
    assert n_imp >= 1  # the home also imported in some half-hour
    # the register itself, at the firmware's last reading
    m = st["meters"]["elec"]
    assert m["export_state"] == 1
    t = m["export_utc"] + simfix.ZB_UNIX
    lag = 2 * SPEED
    assert (
        em.export_summation(t - lag) - 1 <= m["export_milli"] <= em.export_summation(t + lag) + 1
    )
    # the screens' numbers: exported today = the stored half-hours + the open one
    exp = st["fuels"]["elec"]["export"]
    stored_today = sum(round(r["energy_kwh"] * 1000) for r in rows)
    assert exp[0] is not None and exp[0] >= stored_today > 0
    assert exp[1] == stored_today and exp[2] == exp[3] == exp[4] == stored_today
    simfix.tshark_clean(tmp_path / "han.pcap")
    named = "\n".join(simfix.tshark(tmp_path / "han.pcap", "-V", "-Y", "zbee_zcl"))
    assert "Current Summation Received" in named


@pytest.mark.parametrize("register", [True, False])
def test_home_without_export_shows_none(tmp_path, register):
    # January, no solar: a register that stays at 0, or none at all (UNSUPPORTED_ATTRIBUTE).
    scn = simfix.scenario_file(tmp_path, esme={"export_register": register})
    sim = simfix.run(tmp_path, scenario=scn, until="1h", speed=SPEED)
    assert sim.errors() == []
    st = sim.state()
    assert _rows(tmp_path) == [] and _rows(tmp_path, "day") == []
    assert st["fuels"]["elec"]["export"] == [None] * 5
    assert st["meters"]["elec"]["export_state"] == (1 if register else 2)
    assert [r for r in simfix.meter_rows(tmp_path, "elec") if r["resolution"] == "half_hour"]
    log = sim.log_text()
    assert ("no export register" in log) == (not register)
    simfix.tshark_clean(tmp_path / "han.pcap")
