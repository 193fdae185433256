# Issue 14, time-of-use and block tariffs end to end: the firmware on the unix port against
# hansim's Price server (GetCurrentPrice with the tier's start and duration, GetScheduledPrices,
# PublishPrice pushed at each tier change). EVERY closed half-hour's cost in the device's store
# (its history export) equals hansim's own model to the penny (hansim/tariffs.py: the energy
# model's half-hour at the price in force at its start), and equals the device's own energy
# at hansim's rate exactly, to the 1e-5 GBP: an Economy 7 style two-rate day across its 07:30
# change, a four-rate day across 16:00 and 19:00, a block tariff crossing both thresholds, a
# price change mid-day. The pcap dissects in tshark with 0 malformed frames and the Price
# commands named.
import os

from host_tools.hansim import scenario as scn_mod
from host_tools.hansim.meters import MeterState
from tests.system import simfix

SPEED = 300
ZB_UNIX = simfix.ZB_UNIX
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


def _run(tmp_path, start, until, tariff=None, events=()):
    esme = {"profile_days": 0}
    if tariff is not None:
        import json

        path = os.path.join(os.path.dirname(scn_mod.__file__), "scenarios", "default.json")
        with open(path) as f:
            base = json.load(f)
        esme = {"tariff": dict(base["meters"][0]["tariff"], **tariff), "profile_days": 0}
    path = simfix.scenario_file(tmp_path, events=events, esme=esme, start=start)
    sim = simfix.run(tmp_path, scenario=path, until=until, speed=SPEED)
    assert sim.errors() == []
    s = scn_mod.load(path)
    model = MeterState(s.meter("esme"), s.start_unix)
    model.price_changes(s.events)
    return sim, model


def _half_hours(tmp_path):
    # The half-hours the device measured itself (the meter has no profile here: nothing is
    # back-filled, tests/system/test_backfill_system.py does that), but the first: it starts
    # at the device's first reading, partial.
    rows = [r for r in simfix.meter_rows(tmp_path, "elec") if r["resolution"] == "half_hour"]
    rows.sort(key=lambda r: r["start"])
    return rows[1:]


def _check_every_half_hour(tmp_path, model, rate_of=None):
    # -> the rates seen. Device: its energy (Wh) and cost (mp) per half-hour from the export.
    rows = _half_hours(tmp_path)
    assert len(rows) >= 5, rows
    seen = []
    for r in rows:
        start = simfix.iso_to_zigbee(r["start"]) + ZB_UNIX
        wh = round(r["energy_kwh"] * 1000)
        cost = round(r["cost_pence"] * 1000)
        m_wh, m_cost = model.hh_cost(start)
        # readings every ~10 s spread pro rata: a late one (a loaded machine, x300) moves a few
        # % of a half-hour's energy to its neighbour; the penny below bounds what it costs
        assert abs(wh - m_wh) <= max(3, m_wh // 20), (r, m_wh)
        assert abs(cost - m_cost) < 1000, (r, m_wh, m_cost)  # to the penny
        if rate_of is None:
            rate = model.prices.rate_at(start)
            assert cost == wh * rate // 1000, (r, rate)  # the device's energy at that rate
            seen.append(rate)
        else:
            rate_of(start, wh, cost)
    return seen


def _tshark(tmp_path):
    out = simfix.tshark(tmp_path / "han.pcap", "-T", "fields", "-E", "separator=|",
                        "-e", "_ws.col.Info", "-e", "_ws.malformed",
                        "-e", "zbee_zcl_se.price.price")  # fmt: skip
    rows = [r.split("|") for r in out]
    assert len(rows) > 50 and all(r[1] == "" for r in rows)  # 0 malformed
    info = " ".join(r[0] for r in rows)
    for name in ("Get Current Price", "Get Scheduled Prices", "Publish Price"):
        assert name in info, name
    return rows


def test_two_rate_economy7_day_costed_to_the_penny(tmp_path):
    sim, model = _run(tmp_path, "2026-01-15T06:00:00Z", "3h", {"schedule": E7})
    rates = _check_every_half_hour(tmp_path, model)
    assert 9000 in rates and 30000 in rates  # both sides of 07:30
    st = sim.state()
    f = st["fuels"]["elec"]
    assert f["unit_rate_mp_kwh"] == 30000 and f["tier_label"] == "Day" and f["tier"] == 2
    assert f["next_rate_mp_kwh"] == 9000
    assert f["next_rate_utc"] == simfix.iso_to_zigbee("2026-01-16T00:30:00Z")
    assert st["counters"]["meters.prices"] >= 2 and st["counters"]["meters.bad_prices"] == 0
    rows = _tshark(tmp_path)
    assert any(r[2] == "30000" for r in rows if "Publish Price" in r[0])


def test_four_rate_day_costed_to_the_penny(tmp_path):
    sim, model = _run(tmp_path, "2026-01-15T15:00:00Z", "4h45m", {"schedule": FOUR})
    rates = _check_every_half_hour(tmp_path, model)
    assert {25000, 38000} <= set(rates)  # Day, Peak (16:00), Day again (19:00)
    i = rates.index(38000)
    assert rates[i - 1] == 25000 and rates[-1] == 25000
    f = sim.state()["fuels"]["elec"]
    assert f["tier_label"] == "Day" and f["next_rate_mp_kwh"] == 11000
    _tshark(tmp_path)


def test_block_tariff_day(tmp_path):
    blocks = {"thresholds_wh": [300, 700], "prices": [15000, 25000, 40000], "period": "1d",
              "start": "2026-01-15T06:00:00Z"}  # fmt: skip
    sim, model = _run(tmp_path, "2026-01-15T06:00:00Z", "4h", {"blocks": blocks})
    blocks_seen = set()

    def rate_of(start, wh, cost):
        bp = model.prices.block_period(start)
        used = model.model.between_wh(bp[0], start)
        blocks_seen.add(model.prices.block_index(used))
        blocks_seen.add(model.prices.block_index(used + wh))

    _check_every_half_hour(tmp_path, model, rate_of)
    assert blocks_seen == {0, 1, 2}  # both thresholds crossed
    st = sim.state()
    assert st["fuels"]["elec"]["unit_rate_mp_kwh"] == 40000  # the top block now
    _tshark(tmp_path)


def test_price_change_mid_day(tmp_path):
    ev = {"type": "price_change", "meter": "esme", "at": "+1h30m", "unit_rate": 31000}
    sim, model = _run(tmp_path, "2026-01-15T06:00:00Z", "3h", events=[ev])
    rates = _check_every_half_hour(tmp_path, model)
    k = rates.index(31000)
    assert set(rates[:k]) == {24500} and set(rates[k:]) == {31000}
    st = sim.state()
    assert st["fuels"]["elec"]["unit_rate_mp_kwh"] == 31000
    rows = _tshark(tmp_path)
    assert any(r[2] == "31000" for r in rows if "Publish Price" in r[0])
