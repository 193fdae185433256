# hansim's solar profile and net registers (docs/scenario-format.md "solar"): generation by time
# of day and season, seeded like the consumption; CurrentSummationDelivered grows with
# max(0, load - pv), CurrentSummationReceived (Metering 0x0001) with max(0, pv - load), and
# together they account for every Wh of load and generation; the ESME's 0x0001 attribute
# (uint48) as zigpy's Metering defines it; no register without export_register.
import json

import pytest
import zigpy.zcl.clusters.smartenergy as zse
import zigpy.zcl.foundation as zf

from host_tools.hansim import scenario
from host_tools.hansim.energy import SLOT_S, SolarModel
from host_tools.hansim.han import Han
from host_tools.hansim.meters import MeterState
from host_tools.hansim.scenario import ScenarioError
from host_tools.hansim.simclock import SimClock

JUNE = 1781913600  # 2026-06-20T00:00:00Z
DEC = 1797379200  # 2026-12-20T00:00:00Z


def _scn(solar=None, **esme):
    with open(scenario.os.path.join(scenario.SCENARIO_DIR, "default.json")) as fh:
        d = json.load(fh)
    m = d["meters"][0]
    if solar is not None:
        m["solar"] = solar
    m.update(esme)
    d["events"] = []
    return scenario.from_dict(d, "x.json")


def _day_wh(s, day0):
    return sum(s.slot_power(day0 // SLOT_S + i) for i in range(48)) * SLOT_S / 3600


def test_solar_by_time_of_day_and_season_and_seeded():
    a, b, c = SolarModel(4000, 0.3, 5), SolarModel(4000, 0.3, 5), SolarModel(4000, 0.3, 6)
    for day0 in (JUNE, DEC):
        p = [a.slot_power(day0 // SLOT_S + i) for i in range(48)]
        assert p == [b.slot_power(day0 // SLOT_S + i) for i in range(48)]
        assert p[:8] == [0.0] * 8 and p[-8:] == [0.0] * 8  # night 00:00-04:00, 20:00-24:00 UTC
        assert max(p) <= 4000 and max(p) == max(p[20:28])  # around noon
        assert p != [c.slot_power(day0 // SLOT_S + i) for i in range(48)]  # the seed matters
    lit_june = sum(1 for i in range(48) if a.slot_power(JUNE // SLOT_S + i) > 0)
    lit_dec = sum(1 for i in range(48) if a.slot_power(DEC // SLOT_S + i) > 0)
    assert lit_june >= 30 and lit_dec <= 17  # 16.5 h days in June, 7.5 h in December
    assert _day_wh(a, JUNE) > 4 * _day_wh(a, DEC) > 0
    assert SolarModel(4000, 0.0, 5).slot_power(JUNE // SLOT_S + 24) > 3900  # clear noon in June


def test_net_registers_account_for_load_and_generation():
    scn = _scn({"peak_w": 4000, "cloud": 0.3, "seed": 5})
    m = MeterState(scn.meter("esme"), JUNE)
    assert m.export_summation(JUNE) == 0  # initial_export_kwh defaults to 0
    t = JUNE
    imp0, exp0 = m.summation(t), m.export_summation(t)
    load = pv = 0.0
    both = 0
    for i in range(48):
        s = JUNE // SLOT_S + i
        li, pi = m.model.load_w(s), m.model.solar.slot_power(s)
        load += li * SLOT_S / 3600
        pv += pi * SLOT_S / 3600
        a = m.model.between_wh(s * SLOT_S, (s + 1) * SLOT_S)
        b = m.export_model.between_wh(s * SLOT_S, (s + 1) * SLOT_S)
        both += a > 0 and b > 0  # constant powers: one direction per half-hour
        assert abs(a - max(0.0, li - pi) / 2) <= 1 and abs(b - max(0.0, pi - li) / 2) <= 1
    imp = m.summation(JUNE + 86400) - imp0
    exp = m.export_summation(JUNE + 86400) - exp0
    assert both == 0 and exp > 3000 and imp > 0
    assert abs((imp - exp) - (load - pv)) <= 2  # net energy is conserved (to rounding)
    # demand is signed (SE InstantaneousDemand): negative while exporting
    noon = JUNE + 12 * 3600
    assert m.demand(noon) == int(m.model.power_w(noon) - m.export_model.power_w(noon)) < 0


def test_current_summation_received_matches_zigpy_and_is_readable():
    za = zse.Metering.attributes[0x0001]
    assert za.name == "current_summ_received"
    assert int(zf.DataType.from_python_type(za.type).type_id) == 0x25  # uint48
    scn = _scn({"peak_w": 4000, "seed": 5}, initial_export_kwh=12.5)
    han = Han(scn, SimClock(scn.start_unix, 0))  # the register's initial value at `start`
    met = han.devices[0x1234].cluster(0x0702)
    a = met.attrs[0x0001]
    assert a.type == 0x25 and a.name == "CurrentSummationReceived"
    assert met.value(0x0001) == 12500
    # the gas meter and an ESME without export_register have no such attribute
    assert 0x0001 not in han.devices[0x2B7A].cluster(0x0702).attrs
    han = Han(_scn(export_register=False), SimClock(JUNE, 0))
    assert 0x0001 not in han.devices[0x1234].cluster(0x0702).attrs
    # without solar the register is there and stays at its initial value
    s = _scn()
    han = Han(s, SimClock(s.start_unix + 6 * 3600, 0))
    assert han.devices[0x1234].cluster(0x0702).value(0x0001) == 0


@pytest.mark.parametrize(
    "solar, esme, message",
    [
        ({"peak_w": -1}, {}, "solar.peak_w"),
        ({"peak_w": 100, "cloud": 2}, {}, "solar.cloud"),
        ({"peak_w": 100, "sun": 1}, {}, "unknown field(s) sun"),
        ({"peak_w": 100}, {"export_register": False}, "solar: needs export_register"),
        (None, {"export_register": "yes"}, "export_register: true or false"),
        (None, {"initial_export_kwh": -3}, "initial_export_kwh"),
    ],
)
def test_solar_validation(solar, esme, message):
    with pytest.raises(ScenarioError) as ei:
        _scn(solar, **esme)
    assert message in str(ei.value)
