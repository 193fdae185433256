# Issue 15: the Status screen shows the stack's real state, not invented data. The firmware on
# the unix port against hansim's default home: after half an hour the screen (as the unix
# board's state dump gives its rows, exactly as drawn on 320x240) has what hansim's NCP and
# meters are: network up, its channel, PAN id and node id, the NCP's EUI64 in display order,
# both meters with a reading age and the link quality hansim hands up.
import re

from tests.system import simfix

SPEED = 120


def test_status_screen_shows_the_stack(tmp_path):
    truth = {}

    def hansim_status(sim):
        truth.update(sim.ctl.call(cmd="status"))

    sim = simfix.run(tmp_path, until="30m", speed=SPEED, steps=[("29m", hansim_status)])
    st = sim.state()
    assert sim.errors() == []
    ncp = truth["ncp"]
    rows = dict(st["status"]["screen"])
    assert ncp["network_up"] and rows["Network"] == "up"
    assert rows["Channel"] == "%d" % ncp["channel"]
    assert rows["PAN id"] == ncp["pan_id"]
    assert rows["Node id"] == ncp["node_id"]
    # most significant byte first, as the scenario and Zigbee tools write it (not wire order)
    assert rows["EUI64"] == ncp["eui64"] == "00:0D:6F:00:0B:12:34:56"
    for key in ("Elec meter", "Gas meter"):  # both fuels, each with a reading age and its LQI
        assert re.match(r"(just now|\d+ min ago)  LQI %d$" % ncp["rx_lqi"], rows[key]), rows
    assert rows["NCP resets"] == "0"
    assert rows["Firmware"] == st["fw"]["version"]
    assert rows["NCP"].endswith("EZSP v%d" % truth["ezsp_version"])
    assert rows["Tenancy"] == "none recorded"  # the scenario's change of tenancy is 3 h in
    # the model fields behind the rows
    s = st["status"]
    assert s["channel"] == ncp["channel"] and "0x%04X" % s["pan_id"] == ncp["pan_id"]
    assert s["lqi"] == {"elec": ncp["rx_lqi"], "gas": ncp["rx_lqi"]}
    assert (tmp_path / "screens" / "320x240_status.png").exists()
    assert (tmp_path / "screens" / "128x64_status.png").exists()
