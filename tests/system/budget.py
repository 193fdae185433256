# The RAM budget (docs/boards.md, docs/ram.md), proved where it matters: on the 32-bit
# MicroPython build with the firmware frozen in (as the boards' manifests build it), under the
# heap a board has. A simulated day of the prepayment home with a change of tenancy, a top-up
# typed on the device and a firmware download over the HAN, with 0 errors and no task restart:
# the Pico configuration (128x64 mono, both fuels, prepay, OTA client, history, tenancy) under
# 160K, the colour configuration (320x240, its framebuffer 150 KB of it) under 320K.
#
# The hub answers the UpgradeEndRequest with "wait" (0xFFFFFFFF): the image is downloaded,
# verified and staged, and not activated. An activated OTA firmware runs from .mpy files in a
# slot, loaded into the heap, which these budgets cannot hold (docs/ota.md "OTA and RAM").
import json
import os
import time

from host_tools.hansim import scenario as scn
from host_tools.simulate import BUDGETS
from tests.system import simfix

SPEED = 300  # a day in under 5 minutes of real time; keys still have simulated seconds apart
CS01B = "73950067887105178605"  # £12.50 on both meters
COT = {"type": "change_of_tenancy", "meter": "esme", "at": "+3h", "implementation_time": "+5h",
       "provider_id": 301, "issuer_event_id": 853326000,
       "change_control": "0x00000600"}  # fmt: skip
# The real firmware tree as a release builds it (.mpy), in 128-byte blocks.
# Signed with this checkout's dev key, which the simulated device trusts (docs/ota.md "Trust").
OTA = {"build": {"version": "0.2.0.0", "board": "unix", "source": False, "sign": "dev"},
       "max_data_size": 128, "upgrade": {"mode": "wait"}}  # fmt: skip
HEADROOM = 24 * 1024
CONFIG = {"ota_query_s": 1800, "ota_start_delay_s": 600, "ota_block_size": 128}


def _scenario(tmp_path):
    with open(os.path.join(scn.SCENARIO_DIR, "prepay.json")) as f:
        d = json.load(f)
    d["events"] = list(d.get("events") or []) + [COT]
    d["ota"] = OTA
    path = str(tmp_path / "scenario.json")
    with open(path, "w") as f:
        json.dump(d, f, indent=1)
    return path


def _wait_log(sim, text, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if text in sim.log_text():
            return
        time.sleep(0.2)
    raise AssertionError("not in the firmware log within %d s: %r" % (timeout_s, text))


def _top_up(sim):
    _wait_log(sim, "network up")
    time.sleep(3)  # the prepayment service has read both meters
    # Home (long back), then next x3: Prepayment; the code typed, sent to the electricity meter.
    sim.send_keys("long_back", "long_back", "next", "next", "next")
    time.sleep(0.5)
    sim.send_keys(CS01B, "ok", "1")
    _wait_log(sim, "-> Top-up accepted")


def day_within_the_boards_heap(tmp_path, config):
    # The test body, one file per configuration (test_budget_*_system.py) so the two days run
    # in parallel under `make test`.
    env = {"IHD_CONFIG_JSON": json.dumps(CONFIG)}
    sim = simfix.run(tmp_path, scenario=_scenario(tmp_path), until="24h", speed=SPEED,
                     steps=[("2m", _top_up)], interpreter="unix32-frozen", config=config,
                     heapsize=BUDGETS[config], extra_env=env)  # fmt: skip
    assert sim.errors() == []
    assert sim.boots == 1  # never reset (no MemoryError -> fatal)
    st = sim.state()
    assert not st["fw"]["module"].startswith("/"), st["fw"]  # frozen, not .py from firmware/
    assert [t for t in st["tasks"] if t[2]] == []  # no task restarted
    c = st["counters"]
    # The change of tenancy applied at its implementation time; the history starts there.
    assert c["tenancy.applied"] == 1
    start = int(scn.load(_scenario(tmp_path)).start_unix) - simfix.ZB_UNIX
    assert st["fuels"]["elec"]["visible_from"] == start + 5 * 3600  # implementation_time +5h
    # The top-up, typed on the device, reached the meter and was accepted; made before T, its
    # log row went with the change of tenancy (0x0200 IHD data - consumer: docs/tenancy.md).
    assert c["prepay.top_ups"] == 1 and c["prepay.accepted"] == 1
    assert st["prepay"]["log"] == []
    # The firmware image was downloaded whole, verified and staged (UpgradeEnd SUCCESS).
    ota = sim.ota_status
    assert ota["counters"]["bytes"] >= ota["image_size"] > 100_000
    # (with "wait" the client asks again now and then: every UpgradeEndRequest says SUCCESS)
    ends = [e["status"] for e in ota["upgrade_end"]]
    assert ends and set(ends) == {0}, ends
    # Room to spare: the live heap (after a collection) left at least 24 KB of the budget free
    # (measured: 38 KB pico, 45 KB colour), the margin a half-hour close needs on a heap that a
    # day has fragmented.
    budget = int(BUDGETS[config][:-1]) * 1024
    assert 0 < st["heap"]["live_peak"] <= budget - HEADROOM, (st["heap"], budget)
    print("%s: live peak %d of %d" % (config, st["heap"]["live_peak"], budget))
