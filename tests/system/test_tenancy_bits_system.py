# Issue 13, "The control bits": a change of supplier with Clear IHD Data - Consumer / Supplier,
# Clear Transaction Log and Clear Prepayment Data (0x6600) on a prepayment ESME, learnt by the
# device after its implementation time T. The previous occupant's top-up (before T) is gone, the
# new occupant's (after T, before the device learnt of the change) is kept; the old supplier's
# tariff, which hansim's meter goes on publishing, costs no half-hour after T; 0 records before
# T in the export and in every rendered view. Keys typed on the device (IHD_KEYS_FIFO).
import time

from tests.system import simfix

SPEED = 120
CS01B = "73950067887105178605"  # £12.50 (the previous occupant's)
TEN_POUNDS = "73944427607365224621"  # £10.00 on the ESME (the new occupant's)
EID = 853326000


def _wait_log(sim, text, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in sim.log_text():
            return
        time.sleep(0.2)
    raise AssertionError("not in the firmware log within %d s: %r" % (timeout_s, text))


def _wait_sim(sim, t_zigbee, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while sim.now() < t_zigbee:
        assert time.monotonic() < deadline, "simulated time stuck"
        time.sleep(0.1)


def _iso(t_zigbee):
    import datetime as dt

    u = dt.datetime.fromtimestamp(t_zigbee + simfix.ZB_UNIX, dt.timezone.utc)
    return u.strftime("%Y-%m-%dT%H:%M:%SZ")


def _top_up(sim, code, done):
    # Home (long back from anywhere), next x3: Prepayment; the code, OK, 1 (elec).
    sim.send_keys("long_back", "long_back", "long_back", "next", "next", "next")
    time.sleep(0.5)
    sim.send_keys(code, "ok", "1")
    _wait_log(sim, done)


def test_cos_bits_keep_what_came_after_t_and_drop_the_old_tariff(tmp_path):
    scn = simfix.scenario_file(tmp_path, events=[], base="prepay")

    def story(sim):
        _wait_log(sim, "network up", timeout_s=60)
        time.sleep(3)  # the prepayment service has read both meters
        _top_up(sim, CS01B, "top-up **** **** **** **** 8605 -> Top-up accepted")
        # T: a minute after the previous occupant's top-up, on a whole minute
        sim.t_cos = (sim.now() + 119) // 60 * 60
        _wait_sim(sim, sim.t_cos + 60)
        _top_up(sim, TEN_POUNDS, "top-up **** **** **** **** 4621 -> Top-up accepted")
        # only now does the ESME learn of the change (backdated to T) and push it
        sim.ctl.call(cmd="event", event={
            "type": "change_of_supplier", "meter": "esme", "implementation_time": _iso(sim.t_cos),
            "provider_id": 301, "issuer_event_id": EID, "change_control": "0x00006600",
            "push": True, "proposed_provider_id": 302, "proposed_provider_name": "Brightwater",
            "proposed_provider_contact": "0800 000 0302",
        })  # fmt: skip
        _wait_log(sim, "cos %d applied" % EID)
        sim.learnt = sim.now()

    sim = simfix.run(tmp_path, scenario=scn, until="1h5m", speed=SPEED, steps=[("10s", story)])
    assert sim.errors() == []
    t = sim.t_cos
    assert t <= simfix.iso_to_zigbee("2026-01-15T17:30:00Z"), _iso(t)  # a half-hour after T ran
    # Storage and views: nothing before T.
    st = simfix.assert_rewound(sim, tmp_path, "elec", t, "elec")
    # Top-up log: the previous occupant's row went, the new occupant's (after T) stayed.
    log = st["prepay"]["log"]
    elec = [e for e in log if e[1] == "elec"]
    assert [e[4][-4:] for e in elec] == ["4621"], log
    assert t <= elec[0][0] < sim.learnt
    # Tariff: the meter still publishes the old supplier's price: refused, so every half-hour
    # after T carries no cost (stored 0), today's cost is unknown, the Tariff screen has no price.
    text = sim.log_text()
    assert "elec: tariff cleared (cos)" in text
    assert "is the previous supplier's: not used" in text
    f = st["fuels"]["elec"]
    assert f["unit_rate_mp_kwh"] is None and f["standing_mp_day"] is None
    assert f["today"] is not None and f["today"][1] is None
    hh = [r for r in simfix.meter_rows(tmp_path, "elec") if r["resolution"] == "half_hour"]
    assert hh and all(r["cost_pence"] == 0 and r["energy_kwh"] > 0 for r in hh), hh
    # The gas meter had no change: its tariff and costs stay.
    assert st["fuels"]["gas"]["unit_rate_mp_kwh"] == 6000
    gas = [r for r in simfix.meter_rows(tmp_path, "gas") if r["resolution"] == "half_hour"]
    assert gas and all(r["cost_pence"] > 0 for r in gas if r["energy_kwh"] > 0)
    c = st["counters"]
    assert c["meters.tariffs_cleared"] == 1 and c["meters.old_prices"] >= 1
    assert c["history.truncations"] == 1
