# Security review, end to end: with the firmware's shipped config (APS security required on SE
# frames: ihd/runtime/config.py dev_accept_unencrypted_se False, no override here), a
# PublishChangeOfTenancy sent without APS encryption from the ESME's own short address and
# endpoint (hansim's `spoof` event: anyone holding the network key can do that) with an
# implementation time in the past is dropped: counted and logged, no rewind, the history before
# the claimed T survives. The accepted path (the same publish from the meter, APS-encrypted,
# rewinds) is test_tenancy_system.py's. Scenario times are relative to 06:00Z.
from tests.system import simfix

SPEED = 240
START = "2026-01-15T06:00:00Z"
T0 = simfix.iso_to_zigbee(START)
MIN = 60


def test_unencrypted_cot_from_the_esme_address_is_refused(tmp_path):
    impl = T0 + 10 * MIN  # 06:10, half an hour before the publish arrives
    spoof = {
        "type": "spoof",
        "at": "+40m",
        "from": "esme",  # node 0x1234, endpoint 1: the bound meter's own address
        "aps_encrypted": False,
        "frame": {
            "type": "change_of_tenancy",
            "implementation_time": "+10m",
            "provider_id": 301,
            "issuer_event_id": 900000000,
            "change_control": "0x00000600",
        },
    }
    scn = simfix.scenario_file(tmp_path, events=[spoof])
    han = {}

    def han_status(sim):
        han.update(sim.ctl.call(cmd="status"))

    sim = simfix.run(tmp_path, scenario=scn, until="1h", speed=SPEED, steps=[("45m", han_status)])
    assert sim.errors() == []
    assert han["counters"]["spoofs"] == 1  # hansim sent it (APS encryption bit clear)
    st = sim.state()
    c = st["counters"]
    # dropped for want of APS encryption by the ZCL gate (registry.admits), before any byte of
    # its payload was decoded, and not answered
    assert c["zcl.rx_gated"] == 1 and c["binding.rejected_insecure"] == 1, c
    assert c.get("binding.rejected_source", 0) == 0  # the address itself was the bound one
    log = sim.log_text()
    assert "unencrypted frame from elec ignored" in log and "refused before decoding" in log
    assert c["tenancy.events"] == 0  # the watcher never saw it
    # no rewind: nothing truncated, nothing applied or scheduled, nothing hidden
    assert c["history.truncations"] == 0
    assert not [a for a in st["tenancy_audit"] if a[6] in ("applied", "scheduled")]
    assert 900000000 not in [a[3] for a in st["tenancy_audit"]]
    assert "applying" not in log
    f = st["fuels"]["elec"]
    assert not f["visible_from"] or f["visible_from"] < impl
    # the history survives: the export still holds the ESME's records from before the claimed T
    rows = [r for r in simfix.export_rows(tmp_path) if r["meter"] == "elec"]
    before = [r for r in rows if simfix.iso_to_zigbee(r["start"]) < impl]
    assert before, rows
    assert any(start < impl for entries in f["history"].values() for start, _wh, _c in entries)
