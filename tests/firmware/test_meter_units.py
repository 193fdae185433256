# Metering scaling: raw * multiplier / divisor, formatting bits, invalid scaling handled.
PORTABLE = True


def test_kwh_summation_and_demand():
    from ihd.meters.units import Formatting, demand_w, energy_wh

    f = Formatting(multiplier=1, divisor=1000)
    assert energy_wh(12345678, f) == 12345678  # raw in Wh
    f = Formatting(multiplier=1, divisor=100000)  # raw in 1e-5 kWh
    assert energy_wh(12345678, f) == 123457  # 123.45678 kWh -> 123457 Wh (rounded)
    f = Formatting(multiplier=3, divisor=4)  # odd scaling
    assert energy_wh(10, f) == 7500
    assert demand_w(-1234, Formatting(multiplier=1, divisor=1000)) == -1234  # export
    assert demand_w(0x7FFFFF, Formatting(multiplier=1, divisor=1000)) == 8388607


def test_invalid_scaling_is_counted_not_raised():
    from ihd.meters import units

    before = units.stats.get("bad_divisor")
    assert units.energy_wh(5, units.Formatting(divisor=0)) is None
    assert units.stats.get("bad_divisor") == before + 1
    assert units.energy_wh(5, units.Formatting(unit=0x80)) is None  # BCD kWh
    assert units.energy_wh(5, units.Formatting(unit=units.UNIT_M3)) is None


def test_format_value_follows_formatting_bits():
    from ihd.meters.units import format_value

    assert format_value(123456, 0x2B, "kWh") == "123.456 kWh"  # 3 decimals
    assert format_value(123456, 0x29) == "123.5"  # 1 decimal
    assert format_value(123456, 0x28) == "123"
    assert format_value(-1500, 0x2A, "kW") == "-1.50 kW"
    assert format_value(5, 0x07) == "0.005"  # decimals capped at our resolution


def test_gas_volume_to_energy():
    from ihd.meters.units import gas_m3_to_wh

    # 1 m3 at CV 39.5 MJ/m3, CF 1.02264 -> 11.2207 kWh
    assert gas_m3_to_wh(1000, 39500) == 11221
