# Issue: history store + CoT/CoS watcher (SECMP0056), end to end: hansim's meters learn of a
# change of tenancy or supplier; the firmware on the unix port finds out (commands, attribute
# fallback, push), rewinds the meter's history at T, and nothing before T remains in the
# exported storage or in what the screens render. Scenario times are relative to 06:00Z.
from tests.system import simfix

SPEED = 240
START = "2026-01-15T06:00:00Z"
T0 = simfix.iso_to_zigbee(START)
MIN = 60


def cot(meter="esme", at="+1h", impl="+1h15m", eid=853326000, push=False, control="0x00000600"):
    return {
        "type": "change_of_tenancy",
        "meter": meter,
        "at": at,
        "implementation_time": impl,
        "provider_id": 301,
        "issuer_event_id": eid,
        "change_control": control,
        "push": push,
    }


def _audit(st, outcome=None, method=None):
    return [
        a
        for a in st["tenancy_audit"]
        if (outcome is None or a[6] == outcome) and (method is None or a[5] == method)
    ]


def test_cot_commands_mid_half_hour_and_gas_at_another_time(tmp_path):
    # ESME: learnt at 07:00, effective 07:15 (mid half-hour). GPF: its own change at 07:45.
    scn = simfix.scenario_file(
        tmp_path,
        events=[cot(), cot(meter="gpf", at="+1h", impl="+1h45m", eid=853326100)],
    )
    sim = simfix.run(tmp_path, scenario=scn, until="2h45m", speed=SPEED)
    assert sim.errors() == []
    t_elec, t_gas = T0 + 75 * MIN, T0 + 105 * MIN
    st = simfix.assert_rewound(sim, tmp_path, "elec", t_elec, "elec")
    simfix.assert_rewound(sim, tmp_path, "gas", t_gas, "gas")
    applied = _audit(st, "applied")
    assert {(a[1], a[4]) for a in applied} == {("elec", t_elec), ("gas", t_gas)}
    assert all(a[5] == "command" for a in applied)
    assert st["counters"]["history.truncations"] == 2
    # the straddling half-hour 07:00-07:30 cannot be rebuilt exactly: it is gone
    assert not [r for r in simfix.meter_rows(tmp_path, "elec") if r["start"].endswith("07:00:00Z")]
    for res in ("320x240", "128x64"):
        for screen in ("home", "history", "tariff", "status"):
            assert (tmp_path / "screens" / ("%s_%s.png" % (res, screen))).exists()


def test_cot_attributes_only_meter(tmp_path):
    # The ESME answers GetChangeOfTenancy with UNSUP_CLUSTER_COMMAND: the watcher reads 0x0200/
    # 0x0201 instead, remembers it, and rewinds all the same.
    scn = simfix.scenario_file(
        tmp_path, events=[cot()], esme={"device_management": "attributes_only"}
    )
    sim = simfix.run(tmp_path, scenario=scn, until="2h15m", speed=SPEED)
    assert sim.errors() == []
    st = simfix.assert_rewound(sim, tmp_path, "elec", T0 + 75 * MIN, "elec")
    assert _audit(st, "applied", "attributes")
    assert "elec: using attributes" in sim.log_text()


def test_future_cot_survives_a_power_cut_before_it(tmp_path):
    # Learnt at 06:20 for 07:15; the device loses power at 06:50 (no orderly shutdown) and must
    # still rewind at 07:15 from its persisted schedule.
    scn = simfix.scenario_file(tmp_path, events=[cot(at="+20m")])

    def power_cut(sim):
        sim.stop_firmware(graceful=False)
        sim.start_firmware()

    sim = simfix.run(
        tmp_path, scenario=scn, until="2h15m", speed=SPEED, steps=[("50m", power_cut)]
    )
    assert sim.errors() == []
    assert sim.boots == 2
    st = simfix.assert_rewound(sim, tmp_path, "elec", T0 + 75 * MIN, "elec")
    assert _audit(st, "scheduled") and _audit(st, "applied")
    assert st["counters"]["history.truncations"] == 1


def test_cos_rewinds_history_too(tmp_path):
    cos = cot()
    cos.update(
        type="change_of_supplier",
        proposed_provider_id=302,
        proposed_provider_name="Brightwater",
        proposed_provider_contact="0800 000 0302",
    )
    scn = simfix.scenario_file(tmp_path, events=[cos])
    sim = simfix.run(tmp_path, scenario=scn, until="2h15m", speed=SPEED)
    assert sim.errors() == []
    st = simfix.assert_rewound(sim, tmp_path, "elec", T0 + 75 * MIN, "elec")
    applied = _audit(st, "applied")
    assert [a[2] for a in applied] == ["cos"]


def test_push_spoof_duplicate_and_replay(tmp_path):
    # 06:40 a rogue node sends a publish: ignored. 07:10 the ESME pushes a real one for 07:20:
    # applied once. 07:40 the same publish again, 07:45 an older issuer event id: both ignored.
    scn = simfix.scenario_file(tmp_path, events=[])
    real = cot(at="+0s", impl="+1h20m", push=True)

    def spoof(sim):
        sim.ctl.call(cmd="spoof", event=cot(at="+0s", impl="+50m", eid=900000000), node=0x5555)

    def push(sim):
        sim.ctl.call(cmd="event", event=real)

    def replay_older(sim):
        # an older change (lower id, earlier T): nothing to rewind. (Order comes from T, not
        # from the meter's id: an old id with a later T would be a new change, issue 13.)
        older = dict(real, issuer_event_id=853325000, implementation_time="+1h")
        sim.ctl.call(cmd="event", event=older)

    sim = simfix.run(
        tmp_path,
        scenario=scn,
        until="2h15m",
        speed=SPEED,
        steps=[("40m", spoof), ("1h10m", push), ("1h40m", push), ("1h45m", replay_older)],
    )
    assert sim.errors() == []
    st = simfix.assert_rewound(sim, tmp_path, "elec", T0 + 80 * MIN, "elec")
    c = st["counters"]
    assert c["binding.rejected_source"] >= 1  # the spoof
    assert c["history.truncations"] == 1  # applied once
    assert c["tenancy.duplicates"] + c["tenancy.stale"] >= 1
    assert _audit(st, "scheduled", "push")
    assert [a[3] for a in _audit(st, "applied")] == [853326000]
