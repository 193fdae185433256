# Issue: joining a Smart Energy HAN (docs/joining.md). A fresh device (NCP not commissioned)
# with the right install code joins the hub (trust centre whitelist), completes CBKE, finds both
# meters by Match_Desc at addresses it did not know and reads them; after a reboot it needs no
# rediscovery. A wrong install code is refused with a clear status; a key establishment that
# times out is retried; after an NCP reset and a hub outage the device rejoins and carries on
# without losing history.
import re

from tests.system import simfix

SPEED = 60
CODE = "83FED3407A939723A5C639B26916D505"
ENV = {"IHD_INSTALL_CODE": CODE}


def _scenario(tmp_path, **top):
    return simfix.scenario_file(tmp_path, base="join_install_code", **top)


def _check_joined_and_reading(sim, st):
    assert sim.errors() == []
    c = st["counters"]
    assert st["ncp"]["state"] == "ready" and st["ncp"]["network_state"] == 2
    assert c["cbke.ok"] == 1
    log = sim.log_text()
    # bound to the discovered addresses (the scenario's meters are not at the defaults)
    assert "elec meter at 0x3e51 ep 1" in log and "gas meter at 0x6a0c ep 1" in log
    assert c["meters.reads"] >= 5
    assert st["meters"]["elec"]["summ_milli"] and st["meters"]["gas"]["summ_milli"]
    assert st["synced"]


def test_fresh_device_joins_registers_and_reads(tmp_path):
    def reboot(sim):
        sim.stop_firmware()
        sim.start_firmware()

    scn = _scenario(tmp_path)
    sim = simfix.run(tmp_path, scenario=scn, until="40m", speed=SPEED, extra_env=ENV,
                     steps=[("20m", reboot)])  # fmt: skip
    st = sim.state()
    log = (tmp_path / "log.txt").read_text()
    first, second = log.split("=== boot 2 ===")
    assert "joined PAN 0x1a62" in first and "trust centre link key established" in first
    assert "elec meter at 0x3e51 ep 1" in first
    # second boot: network resumed, bindings from flash, no join, CBKE or discovery
    assert "joining PAN" not in second and "Match_Desc" not in second
    c = st["counters"]
    # key establishment and discovery are made on first need (app.py): not even built
    assert "disc.runs" not in c and "cbke.attempts" not in c and c["join.joins"] == 0
    assert st["ncp"]["state"] == "ready" and st["ncp"]["network_state"] == 2
    assert sim.errors() == []
    assert c["meters.reads"] >= 5
    assert st["meters"]["elec"]["summ_milli"]


def test_wrong_install_code_refused_with_clear_status(tmp_path):
    scn = _scenario(tmp_path)
    env = {"IHD_INSTALL_CODE": "00112233445566778899AABBCCDDEEFF"}
    sim = simfix.run(tmp_path, scenario=scn, until="15m", speed=SPEED, extra_env=env)
    st = sim.state()
    assert sim.errors() == []
    c = st["counters"]
    assert c["join.refusals"] >= 1 and c["join.joins"] >= 1
    assert st["ncp"]["state"] != "ready"
    assert "cbke.attempts" not in c and c["meters.reads"] == 0  # never got as far as CBKE
    assert "join refused" in sim.log_text()
    # the install code itself is never logged
    assert "00112233445566778899" not in sim.log_text().upper().replace(" ", "")


def test_key_establishment_timeout_is_retried(tmp_path):
    tc = {
        "devices": [{"eui64": "00:0D:6F:00:0B:12:34:56", "install_code": CODE}],
        "key_establishment": {"drop_first": 1, "ephemeral_data_generate_s": 1},
    }
    scn = _scenario(tmp_path, trust_center=tc)
    sim = simfix.run(tmp_path, scenario=scn, until="30m", speed=SPEED, extra_env=ENV)
    st = sim.state()
    c = st["counters"]
    assert c["cbke.timeouts"] >= 1 and c["cbke.attempts"] >= 2
    _check_joined_and_reading(sim, st)


def test_rejoins_after_ncp_reset_and_hub_outage_keeping_history(tmp_path):
    def ncp_reset(sim):
        sim.ctl.call(cmd="ncp_reset")

    def hub_off(sim):
        sim.ctl.call(cmd="hub", online=False)

    def hub_on(sim):
        sim.ctl.call(cmd="hub", online=True)

    scn = _scenario(tmp_path)
    steps = [("15m", ncp_reset), ("25m", hub_off), ("35m", hub_on)]
    sim = simfix.run(tmp_path, scenario=scn, until="60m", speed=SPEED, extra_env=ENV,
                     steps=steps)  # fmt: skip
    st = sim.state()
    c = st["counters"]
    _check_joined_and_reading(sim, st)
    assert st["ncp"]["reset_count"] >= 1
    assert c["join.rejoins"] >= 1
    log = sim.log_text()
    assert re.search(r"rejoined \((secure|trust centre)\)", log)
    # carried on: readings after the outage, history from before it still there
    assert st["meters"]["elec"]["summ_utc"] + simfix.ZB_UNIX > sim.final_zigbee - 600
    assert st["fuels"]["elec"]["today"][0] > 0
    assert c["join.joins"] == 1  # never re-commissioned
