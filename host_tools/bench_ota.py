# OTA benchmark figures (docs/ota.md "Measured"), for `make bench`: run() -> dict.
#   python -m host_tools.bench_ota            prints the figures as JSON
# 1. HAN download against hansim's Comms Hub OTA server, the firmware on the unix port at speed
#    1 (simulated = real seconds): payload bytes per second with no rate limit (bounded by the
#    link: hansim's 15 ms radio latency + ASH/EZSP over TCP), then with a hub
#    MinimumBlockPeriod, against the nominal block size / block period.
# 2. Device side on the unix port, the real compiled firmware (~210 kB) through OtaClient with a
#    fake ZCL on a RAM littlefs of the unix board's geometry (4 kB erase blocks): time per block
#    (verify + store + client loop), staging time, trial-boot re-hash time, and block device
#    programs / erases for the download and for staging + activation.
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict

from host_tools import paths
from host_tools.ota import fileformat as FF
from host_tools.ota import signing

BLOCK = 48  # the device's default ImageBlockRequest MaxDataSize
HUB_MAX = 64  # hansim default cap per ImageBlockResponse
PERIOD_MS = 50  # hub MinimumBlockPeriod for the rate-limited half
HAN_BYTES = 9600  # 200 blocks of 48 B: half free-running, half rate-limited

_DEVICE = """
import asyncio, sys, time
from blockdev import RamBlockDev
from ihd.runtime import clock, storage
from ihd.ota import boot, trust
from ihd.ota import client as OC
from ihd.ota.slots import Slots

with open(sys.argv[1], "rb") as f:
    IMG = f.read()
VER = int(sys.argv[2])
BLOCK = int(sys.argv[3])
KEYS = trust.load((), sys.argv[4])  # the image is signed with this checkout's dev key


class Board:
    NAME = "unix"


class Rsp:
    def __init__(self, args):
        self.node, self.src_ep, self.args, self.eui64 = 0, 1, args, None

    def default_status(self):
        return None


class Zcl:
    def on_command(self, *a):
        pass

    def local_cluster(self, *a, **k):
        pass

    async def command(self, node, ep, cluster, cmd, v=None, rsp_cmd=None, **kw):
        await asyncio.sleep_ms(0)
        if cmd == 0x01:
            return Rsp({"status": 0, "manufacturer_code": 0xFFF1, "image_type": 0x0100,
                        "file_version": VER, "image_size": len(IMG)})
        if cmd == 0x03:
            o = v["file_offset"]
            return Rsp({"status": 0, "manufacturer_code": 0xFFF1, "image_type": 0x0100,
                        "file_version": VER, "file_offset": o,
                        "image_data": memoryview(IMG)[o : o + v["max_data_size"]]})
        return Rsp({"manufacturer_code": 0xFFF1, "image_type": 0x0100, "file_version": VER,
                    "current_time": 0, "upgrade_time": 0})


dev = RamBlockDev(4096, 512)
storage.mount(dev, "/flash")
clock.set_scale(1000)
p0, e0 = dev.progs, dev.erases
reboots = []
c = OC.OtaClient(Zcl(), Slots("/flash"), Board(), "/flash", block_size=BLOCK,
                 reboot=lambda: reboots.append(1), keys=KEYS)


async def go():
    assert await c.query()
    t0 = time.ticks_us()
    assert await c.download()
    t1 = time.ticks_us()
    p1, e1 = dev.progs, dev.erases
    assert await c.finish() and reboots
    t2 = time.ticks_us()
    p2, e2 = dev.progs, dev.erases
    t3 = time.ticks_us()
    slot, rec = boot.decide("/flash")  # the first trial boot: full re-hash of the slot
    t4 = time.ticks_us()
    assert slot == boot.SLOT_A and rec.version == VER
    blocks = c.counters.get("blocks")
    print("@@bench", blocks, time.ticks_diff(t1, t0), p1 - p0, e1 - e0,
          time.ticks_diff(t2, t1), p2 - p1, e2 - e1, time.ticks_diff(t4, t3),
          c.longest_step_ms)


asyncio.run(go())
"""


def device(image: bytes, version: int, block: int = BLOCK) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        img = os.path.join(tmp, "fw.ota")
        with open(img, "wb") as f:
            f.write(image)
        script = os.path.join(tmp, "bench_ota_device.py")
        with open(script, "w") as f:
            f.write(_DEVICE)
        env = dict(os.environ, MICROPYPATH=paths.micropypath())
        cmd = [paths.micropython_exe(), "-X", "heapsize=16M", script, img, str(version)]
        cmd += [str(block), signing.dev_pub_file()]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    line = [x for x in out.stdout.splitlines() if x.startswith("@@bench")]
    if out.returncode or not line:
        raise RuntimeError("device bench failed:\n" + out.stdout + out.stderr)
    blocks, dl_us, dl_p, dl_e, st_us, st_p, st_e, boot_us, sig_step_ms = (
        int(x) for x in line[0].split()[1:]
    )
    return {
        "image_bytes": len(image),
        "block_bytes": block,
        "blocks": blocks,
        "us_per_block": round(dl_us / blocks, 1),
        "download_s": round(dl_us / 1e6, 3),
        "download_programs": dl_p,
        "download_erases": dl_e,
        "programs_per_block": round(dl_p / blocks, 3),
        "stage_activate_s": round(st_us / 1e6, 3),
        "stage_activate_programs": st_p,
        "stage_activate_erases": st_e,
        "trial_boot_rehash_s": round(boot_us / 1e6, 3),
        "flash_programs_per_image": dl_p + st_p,
        "flash_erases_per_image": dl_e + st_e,
        "erase_block_bytes": 4096,
        "signature_longest_step_ms": sig_step_ms,  # the check itself: `make bench` section sig
    }


def _dev_signed(files, version) -> bytes:
    return FF.make_ota(FF.make_bundle(files, version), version, sign_key=signing.dev_key())


def han(out_dir: str) -> Dict[str, Any]:
    from host_tools.hansim import scenario as scn
    from host_tools.simulate import Simulation

    version = 0x00020000
    files = [("ihd/__init__.py", b"FILE_VERSION = 0x%08X\n" % version)]
    files.append(("blob.bin", bytes(range(256)) * (HAN_BYTES // 256)))
    image = _dev_signed(files, version)
    img_path = os.path.join(out_dir, "bench.ota")
    with open(img_path, "wb") as f:
        f.write(image)
    half = (len(image) // 2) // BLOCK * BLOCK
    with open(os.path.join(scn.SCENARIO_DIR, "default.json")) as f:
        d = json.load(f)
    d["events"] = []
    # a 1 s WAIT_FOR_DATA half way carries the MinimumBlockPeriod the device then honours
    d["ota"] = {"image": img_path, "max_data_size": HUB_MAX, "min_block_period_ms": PERIOD_MS,
                "wait_for_data": [{"at_offset": half, "delay": "1s"}],
                "upgrade": {"mode": "wait"}}  # fmt: skip
    scn_path = os.path.join(out_dir, "scenario.json")
    with open(scn_path, "w") as f:
        json.dump(d, f)
    # no random start delay (up to 5 min real at speed 1: longer than the bench waits)
    cfg = {"meter_poll_s": 3600, "gas_poll_s": 3600, "ota_block_size": BLOCK,
           "ota_start_delay_s": 0}  # fmt: skip
    sim = Simulation(scn_path, out_dir, speed=1, extra_env={"IHD_CONFIG_JSON": json.dumps(cfg)})
    marks: Dict[str, float] = {}
    try:
        sim.start_hansim()
        sim.start_firmware()
        ctl = sim.ctl
        assert ctl is not None
        t_end = time.monotonic() + 120
        while time.monotonic() < t_end:
            c = ctl.call(cmd="status")["ota"]["counters"]
            t = time.monotonic()
            if c["bytes"] and "first" not in marks:
                marks["first"] = t
            if c["wait_for_data"] and "wfd" not in marks:
                marks["wfd"] = t
                marks["at_wfd"] = c["bytes"]
            if "wfd" in marks and c["bytes"] > marks["at_wfd"] and "resume" not in marks:
                marks["resume"], marks["at_resume"] = t, c["bytes"]
            if c["bytes"] >= len(image):
                marks["done"] = t
                break
            time.sleep(0.01)
    finally:
        sim.stop()
    if "done" not in marks:
        raise RuntimeError("HAN bench: download did not finish (see %s: log.txt, hansim.log)"
                           % out_dir)  # fmt: skip
    free = marks["at_wfd"] / (marks["wfd"] - marks["first"])
    limited = (len(image) - marks["at_resume"]) / (marks["done"] - marks["resume"])
    nominal = BLOCK * 1000.0 / PERIOD_MS
    return {
        "image_bytes": len(image),
        "block_bytes": BLOCK,
        "free_running_Bps": round(free),
        "ms_per_exchange": round(1000.0 * BLOCK / free, 1),
        "min_block_period_ms": PERIOD_MS,
        "rate_limited_Bps": round(limited),
        "nominal_Bps": round(nominal),
        "rate_limited_efficiency": round(limited / nominal, 3),
        "blocks_free_running_ideal_Bps": round(BLOCK / 0.015),  # radio latency bound alone
    }


def run() -> dict:
    version = 0x00020000
    image = FF.build_firmware_ota(version, "unix", sign_key=signing.dev_key())
    out: Dict[str, Any] = {"device": device(image, version)}
    # kept (not a temporary directory) so that a failure's logs can be read
    han_dir = os.path.join(paths.BUILD, "bench", "ota-han")
    shutil.rmtree(han_dir, ignore_errors=True)
    os.makedirs(han_dir)
    out["han"] = han(han_dir)
    return {"ota": out}


if __name__ == "__main__":
    json.dump(run(), sys.stdout, indent=2)
    print()
