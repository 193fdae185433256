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
    def __init__(self, node, ep, secured, cluster=0x0702):
        self.node, self.src_ep, self.secured, self.cluster = node, ep, secured, cluster


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


def test_admits_guarded_clusters_only_from_a_bound_meter_or_the_hub():
    # The ZCL gate (zcl.set_gate(registry.admits)): before any payload is decoded.
    from ihd.meters import registry as R
    from ihd.zigbee.zcl import clusters as CL

    reg = R.Registry()
    reg.bind(R.Meter("elec", 0x1234, 1))
    reg.bind(R.Meter("gas", 0x2B7A, 2))
    guarded = (CL.PRICE, CL.METERING, CL.MESSAGING, CL.PREPAYMENT, CL.DEVICE_MGMT, CL.TIME,
               CL.OTA)  # fmt: skip
    src0, ins0 = R.stats.get("rejected_source"), R.stats.get("rejected_insecure")
    for cl in guarded:
        assert reg.admits(_Frame(0x1234, 1, True, cl))
        assert reg.admits(_Frame(0x2B7A, 2, True, cl))
        assert reg.admits(_Frame(0x0000, 1, True, cl))  # the hub / trust centre, any endpoint
        assert not reg.admits(_Frame(0x5555, 1, True, cl))  # a rogue node
        assert not reg.admits(_Frame(0x1234, 2, True, cl))  # the meter's node, another ep
        assert not reg.admits(_Frame(0x1234, 1, False, cl))  # not APS-encrypted
        assert not reg.admits(_Frame(0x0000, 1, False, cl))
    n = len(guarded)
    assert R.stats.get("rejected_source") - src0 == 2 * n
    assert R.stats.get("rejected_insecure") - ins0 == 2 * n
    # general clusters the device serves, and Key Establishment (before any APS link key)
    for cl in (CL.BASIC, 0x0003, CL.KEY_EST, 0x0B04):
        assert reg.admits(_Frame(0x5555, 7, False, cl))
    # the development switch: unencrypted frames from the bound meter pass, rogues still not
    dev = R.Registry(require_aps_security=False)
    dev.bind(R.Meter("elec", 0x1234, 1))
    assert dev.admits(_Frame(0x1234, 1, False)) and not dev.admits(_Frame(0x5555, 1, False))
    # an empty registry (before discovery): only the hub
    empty = R.Registry()
    assert empty.admits(_Frame(0x0000, 1, True)) and not empty.admits(_Frame(0x1234, 1, True))
    # an answer to our own request (discovery reads candidates not bound yet): from whoever
    # we asked, but only encrypted
    assert empty.admits(_Frame(0x1234, 1, True, CL.METERING), True)
    ins = R.stats.get("rejected_insecure")
    assert not empty.admits(_Frame(0x1234, 1, False, CL.METERING), True)
    assert not reg.admits(_Frame(0x0000, 1, False, CL.TIME), True)  # a forged hub time
    assert R.stats.get("rejected_insecure") == ins + 2
    assert dev.admits(_Frame(0x1234, 1, False, CL.METERING), True)


def test_admits_logs_refusals_rate_limited():
    from ihd.meters import registry as R
    from ihd.runtime import log

    lines = []
    log.set_sink(lines.append)
    try:
        reg = R.Registry()
        reg.bind(R.Meter("elec", 0x1234, 1))
        for _ in range(5):
            reg.admits(_Frame(0x5555, 1, True))
            reg.admits(_Frame(0x1234, 1, False))
            reg.admits(_Frame(0x0000, 1, False))
    finally:
        log.set_sink(None)
    assert len(lines) == 2, lines  # one per kind per 5 s
    assert "unbound node 0x5555" in lines[0] and "unencrypted frame from elec" in lines[1]


def test_admits_and_source_of_share_the_rule():
    from ihd.meters import registry as R
    from ihd.zigbee.zcl import clusters as CL

    reg = R.Registry()
    reg.bind(R.Meter("elec", 0x1234, 1))
    for node, ep, sec in ((0x1234, 1, True), (0x1234, 1, False), (0x1234, 3, True),
                          (0x9999, 1, True)):  # fmt: skip
        f = _Frame(node, ep, sec, CL.DEVICE_MGMT)
        assert reg.admits(f) == (reg.source_of(f) is not None)


def test_admits_does_not_allocate():
    import fwtest
    from ihd.meters import registry as R

    reg = R.Registry()
    reg.bind(R.Meter("elec", 0x1234, 1))
    frames = [_Frame(0x1234, 1, True), _Frame(0x5555, 1, True), _Frame(0x1234, 1, False),
              _Frame(0x0000, 1, True), _Frame(0x5555, 1, True, 0x0000)]  # fmt: skip
    out = bytearray(len(frames))
    reg._lim.period_ms = 1 << 28  # the refusals' log lines: once (a log line allocates)
    for f in frames:
        reg.admits(f)
    answers = [_Frame(0x5555, 1, True), _Frame(0x5555, 1, False)]  # (response=True)
    for f in answers:
        reg.admits(f, True)
    got = bytearray(2)
    with fwtest.HeapLocked():
        for i in range(len(frames)):
            out[i] = reg.admits(frames[i])
        for i in range(2):
            got[i] = reg.admits(answers[i], True)
    assert list(out) == [1, 0, 0, 1, 1] and list(got) == [1, 0]
