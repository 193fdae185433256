# Bound meters: the configured binding spec (config "meters", the unix board's env) is parsed
# part by part; a malformed part or a name that is no fuel is logged, counted and left out.
PORTABLE = True


def test_parse_keeps_the_good_parts_and_counts_the_bad():
    from ihd.meters import registry as R

    before = R.stats.get("bad_spec")
    got = R.Registry.parse("elec:0x1234:1, water:0x10:1,gas:0x2B7A,gas:0x2B7A:2,elec:zz:1")
    assert [(m.name, m.node, m.ep) for m in got] == [("elec", 0x1234, 1), ("gas", 0x2B7A, 2)]
    assert R.stats.get("bad_spec") - before == 3
