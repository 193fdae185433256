# Issue: firmware updates over the HAN (Zigbee OTA Upgrade), never bricking (SECMP0007). The
# firmware on the unix port against hansim's Comms Hub OTA server (scenario `ota` section):
# - a real compiled firmware tree (`python -m host_tools.ota build`) is downloaded through
#   WAIT_FOR_DATA episodes, a hub buffer refill and a power cut mid-download (resumed, not
#   restarted), verified, staged, activated, booted from slot a, confirmed healthy; the hub
#   reads the new CurrentFileVersion back;
# - corrupt, wrong-hardware, wrong-manufacturer, wrong-image-type and downgrade images offered
#   by a careless hub are refused (UpgradeEndRequest INVALID_IMAGE, or never downloaded) and the
#   device keeps running its version;
# - a new firmware that crashes at start is rolled back after MAX_TRIAL_BOOTS boots and its
#   version is not fetched again;
# - every image is signed (docs/ota.md "Signature"): the device trusts the test key only; one
#   signed by another key, unsigned, with a flipped signature byte, or re-digested after a
#   change under the old signature is refused and never staged.
import json
import os
import re
import subprocess
import sys
import time

import pytest

from host_tools import paths
from host_tools.hansim import scenario as scn
from host_tools.ota import fileformat as FF
from host_tools.ota import signing
from host_tools.simulate import REBOOT_EXIT, Simulation

SPEED = 120
FACTORY = 0x00010000  # FILE_VERSION of the tree the unix port runs from (firmware/)
NEW = 0x00020000
INVALID_IMAGE = 0x96
FATAL_EXIT = 1  # board.fatal(): on hardware a reset (watchdog), here the runner restarts it
# Short periods so a simulation takes seconds; meters polled rarely to leave the link to OTA.
CONFIG = {"ota_query_s": 60, "meter_poll_s": 300, "gas_poll_s": 1800}
KEY = os.path.join(paths.TESTS, "ota_keys", "ota-test-p256.pem")  # the signer the device trusts
OTHER_KEY = os.path.join(paths.TESTS, "ota_keys", "ota-other-p256.pem")


def _scenario(tmp_path, ota, base="default"):
    with open(os.path.join(scn.SCENARIO_DIR, base + ".json")) as f:
        d = json.load(f)
    d["events"] = []
    d["ota"] = ota
    path = str(tmp_path / "scenario.json")
    with open(path, "w") as f:
        json.dump(d, f, indent=1)
    return path


def _sim(tmp_path, ota, base="default", **config):
    env = {"IHD_CONFIG_JSON": json.dumps(dict(CONFIG, **config))}
    return Simulation(_scenario(tmp_path, ota, base), str(tmp_path), speed=SPEED, extra_env=env,
                      ota_keys=signing.pub_path(KEY))  # fmt: skip


def _ota(sim):
    return sim.ctl.call(cmd="status")["ota"]


def _until(sim, done, max_real_s=120, step_s=30):
    # Advance the simulation (restarting the firmware when it resets) until done(hub OTA status).
    t0 = time.monotonic()
    while True:
        sim.run_until(sim.now() + step_s)
        o = _ota(sim)
        if done(o):
            return o
        assert time.monotonic() - t0 < max_real_s, ("timed out", o)


def _files(version, app_src=None):
    # A small application tree (enough to be staged; boots only with app_src giving main()).
    files = [("ihd/__init__.py", b'VERSION = "x"\nFILE_VERSION = 0x%08X\n' % version)]
    if app_src is not None:
        files.append(("ihd/app.py", app_src))
    files.append(("ihd/readme.txt", bytes(range(256)) * 8))
    return files


def _write(tmp_path, name, data):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


def _fw_state(sim):
    fw = sim.state()["fw"]
    return fw["file_version"], fw["slot"], fw["trial"], fw["rejected"]


def test_han_update_resumes_after_power_cut_and_boots_new_firmware(tmp_path):
    # The OTA file, exactly as a release would make it: compiled .mpy tree, unix image type.
    image = str(tmp_path / "fw.ota")
    cmd = [sys.executable, "-m", "host_tools.ota", "build", "--version", "0.2.0.0", "--out", image,
           "--sign", KEY]  # fmt: skip
    subprocess.run(cmd, cwd=paths.ROOT, check=True, capture_output=True)
    size = os.path.getsize(image)
    with open(os.path.join(scn.SCENARIO_DIR, "ota_update.json")) as f:
        ota = json.load(f)["ota"]
    del ota["build"]
    # 128-byte blocks (the hub and the device both configured) keep the real 200 kB tree to
    # ~1700 exchanges (~30 s real); the default 48 B is measured by host_tools/bench_ota.py.
    ota.update(image=image, max_data_size=128)
    sim = _sim(tmp_path, ota, ota_block_size=128)
    try:
        sim.start_hansim()
        sim.start_firmware()
        cut = _until(sim, lambda o: o["counters"]["bytes"] > 60000, step_s=10)
        sim.stop_firmware(graceful=False)  # power cut: SIGKILL, no flush, no shutdown
        sim.start_firmware()
        o = _until(sim, lambda o: o["readback"] is not None, max_real_s=150)
        sim.run_until(sim.now() + 600)  # the confirm grace (300 s device time) passes
        o = _ota(sim)
    finally:
        sim.stop()
    log = sim.log_text()
    assert sim.errors() == []
    # Resumed where the flash said, not from zero: the hub served the file about once.
    m = re.search(r"resuming 0\.2\.0\.0 at (\d+)/(\d+)", log)
    assert m and int(m.group(2)) == size
    assert 0 < int(m.group(1)) <= cut["counters"]["bytes"]
    assert size <= o["counters"]["bytes"] <= size + 8 * 128 + 128
    assert o["counters"]["wait_for_data"] >= 3  # two scripted episodes + a hub buffer refill
    assert log.count("ota: server: wait") >= 3
    # Verified, staged, UpgradeEnd SUCCESS, activated, rebooted (exit 3) into slot a.
    assert o["upgrade_end"] == [
        {"status": 0, "file_version": NEW, "utc": o["upgrade_end"][0]["utc"]}
    ]
    assert re.search(r"ota: signature \(key [0-9a-f]{16}\) valid", log)
    assert "slots: staged 0.2.0.0 into slot a" in log
    assert "ota: upgrade to 0.2.0.0 activated: rebooting" in log
    assert sim.boots == 3  # factory, after the power cut, the new firmware
    assert "boot: running a (0x00020000, trial)" in log
    assert "app: IHD firmware 0.2.0.0 on unix" in log  # VERSION of the bundled ihd/__init__
    assert "slots: firmware confirmed healthy" in log
    # The hub's read-back of CurrentFileVersion and the device's own view agree.
    rb = o["readback"]
    assert rb["status"] == 0 and rb["current_file_version"] == NEW and rb["upgraded"]
    assert _fw_state(sim) == (NEW, 1, 0, -1)  # slot a, confirmed, nothing rejected


def _corrupt(data):
    b = bytearray(data)
    b[len(b) // 2] ^= 0x01  # inside the bundle: only the SHA-256 at the end can tell
    return bytes(b)


def _signed(version=NEW, key=KEY, **kw):
    return FF.make_ota(FF.make_bundle(_files(version), version), version,
                       sign_key=signing.load_private_key(key), **kw)  # fmt: skip


def _flip_signature(data):
    b = bytearray(data)
    b[-20] ^= 0x01  # in s
    return bytes(b)


def _redigested(data):
    # A byte of the bundle changed and the SHA-256 element recomputed (anyone can), the
    # signature left as it was: the digest passes, the signature does not.
    import hashlib

    info = FF.parse_ota(data)
    b = bytearray(data)
    b[len(b) // 2] ^= 0x01
    at = info["signature"]["offset"] - 38  # the 0xF100 element just before the signature
    b[at + 6 : at + 38] = hashlib.sha256(bytes(b[:at])).digest()
    return bytes(b)


# (name, OTA file bytes, device log evidence, blocks served at most (None: whole file))
_BAD = {
    "corrupt": (
        lambda: _corrupt(_signed()),
        "invalid image: bad digest",
        None,
    ),
    "wrong_hardware": (
        lambda: _signed(hw_min=0x0200, hw_max=0x02FF),
        "invalid image: wrong hardware",
        2,  # caught on the header, in the first block
    ),
    "wrong_manufacturer": (
        lambda: _signed(manufacturer=0x1234),
        "server offered mfr 0x1234 type 0x0100: not ours",
        0,
    ),
    "wrong_image_type": (
        lambda: _signed(image_type=0x0101),
        "server offered mfr 0xfff1 type 0x0101: not ours",
        0,
    ),
    "downgrade": (
        lambda: _signed(0x00000100),
        "offered 0.0.1.0 is not newer: ignored",
        0,
    ),
    "other_key": (lambda: _signed(key=OTHER_KEY), "invalid image: signed by an unknown key", None),
    "unsigned": (
        lambda: FF.make_ota(FF.make_bundle(_files(NEW), NEW), NEW),
        "invalid image: unsigned",
        None,
    ),
    "flipped_signature": (
        lambda: _flip_signature(_signed()),
        "invalid image: bad signature",
        None,
    ),
    "redigested": (lambda: _redigested(_signed()), "invalid image: bad signature", None),
}


@pytest.mark.parametrize("kind", sorted(_BAD))
def test_bad_image_refused_and_current_firmware_kept(tmp_path, kind):
    make, evidence, max_blocks = _BAD[kind]
    data = make()
    # offer_any: a careless hub offers the file to every query, so the device's checks decide.
    # The default query period (a day): one offer, one refusal.
    ota = {"image": _write(tmp_path, "bad.ota", data), "offer_any": True}
    sim = _sim(tmp_path, ota, ota_query_s=86400)
    try:
        sim.start_hansim()
        sim.start_firmware()
        if max_blocks == 0:
            o = _until(sim, lambda o: o["counters"]["queries"] >= 1)
        else:
            o = _until(sim, lambda o: o["upgrade_end"])
        sim.run_until(sim.now() + 120)
        o = _ota(sim)
    finally:
        sim.stop()
    log = sim.log_text()
    assert sim.errors() == []
    assert evidence in log
    if max_blocks == 0:  # never downloaded, nothing to tell the hub
        assert o["counters"]["blocks"] == 0 and o["upgrade_end"] == []
    else:
        assert [e["status"] for e in o["upgrade_end"]] == [INVALID_IMAGE]
        assert o["upgrade_end"][0]["file_version"] == NEW
        if max_blocks is None:  # the whole file, or up to the digest that failed
            assert len(data) - 78 - 64 <= o["counters"]["bytes"] <= len(data)
        else:
            assert o["counters"]["blocks"] <= max_blocks
    assert "slots: activated" not in log and sim.boots == 1
    assert "slots: staged" not in log  # refused before anything reached a slot
    assert _fw_state(sim) == (FACTORY, 0, 0, -1)  # factory firmware, still running


_CRASHING_APP = b"""# Test image: fails its health check (crashes at start, every boot).
def main(board):
    raise RuntimeError("test image: crash at start")
"""


def test_crashing_firmware_rolled_back_and_not_fetched_again(tmp_path):
    # Built with the release tool from a directory (`build --files`): a staged, bootable slot
    # whose app raises at start. Nothing test-only lives in the firmware or the build path.
    tree = tmp_path / "crash_tree"
    FF.copy_tree(_files(NEW, _CRASHING_APP), str(tree))
    image = str(tmp_path / "crash.ota")
    cmd = [sys.executable, "-m", "host_tools.ota", "build", "--version", "0.2.0.0",
           "--files", str(tree), "--out", image, "--sign", KEY]  # fmt: skip
    subprocess.run(cmd, cwd=paths.ROOT, check=True, capture_output=True)
    sim = _sim(tmp_path, {"image": image})
    sim.restart_codes = (REBOOT_EXIT, FATAL_EXIT)
    try:
        sim.start_hansim()
        sim.start_firmware()
        o = _until(sim, lambda o: o["readback"] is not None, max_real_s=90, step_s=15)
        q = o["counters"]["queries"]
        _until(sim, lambda o: o["counters"]["queries"] >= q + 2)  # hourly-ish re-queries
        o = _ota(sim)
    finally:
        sim.stop()
    log = sim.log_text()
    # Activated once, then three trial boots that crash, then the selector rolls back.
    assert [e["status"] for e in o["upgrade_end"]] == [0]
    assert log.count("boot: running a (0x00020000, trial)") == 3
    assert log.count("test image: crash at start") >= 3
    assert "boot: rollback: a unconfirmed after 3 boots" in log
    assert sim.boots == 5  # download, 3 crashing trials, rolled back to the factory firmware
    assert log.rindex("boot: running factory") > log.index("rollback")
    # The only errors are the crashes of the bad image.
    assert all("Traceback" in e for e in sim.errors()), sim.errors()
    # The hub reads the old version back; the device refuses the same version afterwards.
    rb = o["readback"]
    assert rb["current_file_version"] == FACTORY and not rb["upgraded"]
    assert "offered 0.2.0.0 was rolled back before: ignored" in log
    assert o["counters"]["bytes"] == os.path.getsize(image)  # fetched once only
    assert _fw_state(sim) == (FACTORY, 0, 0, NEW)


def test_hub_faults_wait_without_min_block_period_and_a_refused_upgrade_end(tmp_path):
    # The forms a Silicon Labs hub sends: WAIT_FOR_DATA without the MinimumBlockPeriod field
    # (decoded and honoured, not counted as a lost block); then the hub answers the
    # UpgradeEndRequest with a Default Response ABORT: the device drops the download and never
    # activates (before: after three tries it applied anyway).
    ota = {"image": _write(tmp_path, "fw.ota", _signed()), "wait_form": "without",
           "wait_for_data": [{"at_offset": 480, "delay": "40s"}],
           "upgrade_end_error": {"status": "0x95", "count": 0}}  # fmt: skip
    sim = _sim(tmp_path, ota, ota_query_s=86400)
    try:
        sim.start_hansim()
        sim.start_firmware()
        o = _until(sim, lambda o: o["counters"]["upgrade_end_errors"] >= 1)
        sim.run_until(sim.now() + 300)
        o = _ota(sim)
    finally:
        sim.stop()
    log = sim.log_text()
    assert sim.errors() == []
    assert o["counters"]["wait_for_data"] == 1 and "ota: server: wait 40 s" in log
    c = sim.state()["counters"]
    assert c["ota.wait_for_data"] == 1 and c["ota.block_timeouts"] == 0
    assert "server refused the upgrade (0x95)" in log
    assert [e["status"] for e in o["upgrade_end"]] == [0]  # one SUCCESS, refused, not retried
    assert "slots: activated" not in log and sim.boots == 1
    assert _fw_state(sim) == (FACTORY, 0, 0, -1)


def test_upgrade_end_responses_not_ours_never_activate(tmp_path):
    # While the device waits (UpgradeTime 0xFFFFFFFF), UpgradeEndResponses that are not its
    # server's or not for its image arrive: a spoofed unencrypted one from 0x1234 (refused by
    # the gate before decoding) and one from the hub for another file version (ignored). Only
    # the hub's release activates the image.
    ota = {"image": _write(tmp_path, "fw.ota", _signed()), "upgrade": {"mode": "wait"},
           "release_at": "+40m",
           "unsolicited_end": [
               {"at": "+25m", "from": "0x1234", "aps_encrypted": False},
               {"at": "+30m", "file_version": "wrong"}]}  # fmt: skip
    sim = _sim(tmp_path, ota, ota_query_s=86400)
    try:
        sim.start_hansim()
        sim.start_firmware()
        start = sim.now()
        sim.run_until(start + 35 * 60)
        before = _ota(sim)
        log_before = sim.log_text()
        # (the small test tree is not bootable: activation is the end of the story here)
        _until(sim, lambda o: "slots: activated" in sim.log_text(), max_real_s=60)
    finally:
        sim.stop()
    log = sim.log_text()
    assert before["counters"]["unsolicited_ends"] == 2
    assert [e["status"] for e in before["upgrade_end"]] == [0]
    assert "slots: staged 0.2.0.0 into slot a" in log_before
    assert "slots: activated" not in log_before  # neither stray response moved it
    assert "UpgradeEndResponse for mfr 0xfff1 type 0x0100 version 0x00020001: not ours" in log
    assert "slots: activated" in log  # the hub's own release did
