# Bound meters: the configured binding spec (config "meters", the unix board's env) is parsed
# part by part; a malformed part or a name that is no fuel is logged, counted and left out.
PORTABLE = True


def test_parse_keeps_the_good_parts_and_counts_the_bad():
    from ihd.meters import registry as R

    before = R.stats.get("bad_spec")
    got = R.Registry.parse("elec:0x1234:1, water:0x10:1,gas:0x2B7A,gas:0x2B7A:2,elec:zz:1")
    assert [(m.name, m.node, m.ep) for m in got] == [("elec", 0x1234, 1), ("gas", 0x2B7A, 2)]
    assert R.stats.get("bad_spec") - before == 3


class _Frame:
    def __init__(self, node, ep, secured):
        self.node, self.src_ep, self.secured = node, ep, secured


def test_by_default_only_aps_encrypted_frames_from_the_bound_meter_count():
    from ihd.meters import registry as R
    from ihd.runtime.config import DEFAULTS

    reg = R.Registry()  # the default a vendor ships
    reg.bind(R.Meter("elec", 0x1234, 1))
    before = R.stats.get("rejected_insecure")
    assert reg.source_of(_Frame(0x1234, 1, secured=False)) is None
    assert R.stats.get("rejected_insecure") == before + 1
    assert reg.source_of(_Frame(0x1234, 1, secured=True)).name == "elec"
    assert DEFAULTS["dev_accept_unencrypted_se"] is False
