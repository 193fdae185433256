# The firmware (MicroPython unix port) builds a storage image with FileBlockDev; the host
# exporter (littlefs-python + raw key region + cryptography) reads it and prints exactly the
# history the firmware shows, in CSV and JSON, electricity's export rows (flow "export", meter
# "export") included. Also: after a truncation on the device, the export has nothing before T,
# import or export.
import csv
import io
import json
import os
import subprocess
import sys

from host_tools import paths
from host_tools.history import export

_FW = r"""
import sys
from blockdev import FileBlockDev
from ihd.runtime import storage
from ihd.history.keys import KeyRegion
from ihd.history.store import HistoryStore
dev = FileBlockDev(sys.argv[1], 4096, 64)
st = storage.mount(dev, None)
s = HistoryStore(st.fs, KeyRegion.on(st, dev))
t0 = 800000000 - 800000000 % 86400
for d in range(3):
    for i in range(48):
        s.append(0, t0 + d * 86400 + i * 1800, 100 + i, 2500 * (100 + i), standing_mp=60000)
        if i % 4 == 0:
            s.append(1, t0 + d * 86400 + i * 1800, 300 + d, 2000)
        if 18 <= i < 30:  # the sun: export (store slot 2)
            s.append(2, t0 + d * 86400 + i * 1800, 40 + i + d, 0)
s.flush()
s.backfill_day(1, t0 - 86400 * 20, 12000, 900000)
if len(sys.argv) > 2:
    s.truncate(0, int(sys.argv[2]))
for m in (0, 1, 2):
    for r in s.dump(m):
        print("ROW", m, r[0], r[1], r[2], r[3])
dev.close()
"""
T0 = 800000000 - 800000000 % 86400


def _build(tmp_path, *extra):
    img = str(tmp_path / "flash.img")
    script = tmp_path / "mk.py"
    script.write_text(_FW)
    env = dict(os.environ, MICROPYPATH=paths.micropypath())
    p = subprocess.run(
        [paths.micropython_exe(), "-X", "heapsize=2M", str(script), img, *map(str, extra)],
        capture_output=True,
        text=True,
        env=env,
        cwd=paths.ROOT,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    rows = [ln.split()[1:] for ln in p.stdout.splitlines() if ln.startswith("ROW ")]
    return img, rows


def _cli(*args):
    p = subprocess.run(
        [sys.executable, "-m", "host_tools.history", "export", *args],
        capture_output=True,
        text=True,
        cwd=paths.ROOT,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    return p.stdout


def test_export_matches_firmware(tmp_path):
    img, fw_rows = _build(tmp_path)
    rows = json.loads(_cli(img, "--format", "json"))
    assert len(rows) == len(fw_rows) > 150
    for r, (m, kind, t, e, c) in zip(rows, fw_rows):
        assert r["meter"] == ("elec", "gas", "export")[int(m)]
        assert r["flow"] == ("import", "import", "export")[int(m)]
        assert r["fuel"] == ("electricity", "gas", "electricity")[int(m)]
        assert r["resolution"] == ("half_hour" if kind == "hh" else "day")
        assert r["start"] == export._iso(int(t))
        assert r["energy_kwh"] == int(e) / 1000 and r["cost_pence"] == int(c) / 1000
    day0 = [r for r in rows if r["meter"] == "elec" and r["resolution"] == "day"][0]
    assert day0["start"] == "2025-05-08T00:00:00Z" and day0["end"] == "2025-05-09T00:00:00Z"
    assert day0["energy_kwh"] == sum(100 + i for i in range(48)) / 1000
    assert day0["cost_pence"] == (sum(2500 * (100 + i) for i in range(48)) + 60000) / 1000
    gas_bf = [r for r in rows if r["meter"] == "gas" and r["energy_kwh"] == 12.0]
    assert len(gas_bf) == 1 and gas_bf[0]["cost_pence"] == 900.0
    # CSV, and a directory argument
    out = _cli(str(tmp_path), "--format", "csv")
    got = list(csv.DictReader(io.StringIO(out)))
    assert len(got) == len(rows) and got[0]["fuel"] == "electricity"
    assert list(got[0]) == ["meter", "fuel", "flow", "resolution", "start", "end", "energy_kwh",
                            "cost_pence"]  # fmt: skip
    exp = [r for r in got if r["flow"] == "export"]
    assert len([r for r in exp if r["resolution"] == "half_hour"]) == 3 * 12
    day2 = [
        r for r in exp if r["resolution"] == "day" and r["start"] == export._iso(T0 + 2 * 86400)
    ]
    assert (
        len(day2) == 1
        and float(day2[0]["energy_kwh"]) == sum(42 + i for i in range(18, 30)) / 1000
    )
    assert all(float(r["cost_pence"]) == 0 for r in exp)


def test_export_after_truncate_has_nothing_before_t(tmp_path):
    t_cut = T0 + 86400 + 10 * 3600
    img, fw_rows = _build(tmp_path, t_cut)
    with open(img, "rb") as f:
        rows = export.read_image(f.read())
    elec = [r for r in rows if r["meter"] in ("elec", "export")]
    assert elec and len(rows) == len(fw_rows)
    assert [r for r in elec if r["meter"] == "export" and r["resolution"] == "half_hour"]
    for r in elec:
        if r["resolution"] == "half_hour":
            assert r["start"] >= export._iso(t_cut)
        else:
            assert r["end"] > export._iso(t_cut)


def test_export_ignores_the_process_clock(tmp_path):
    # The firmware's clock module is process state; a clock set earlier in this process (here
    # synced to 2011, before every file in the image) must not make the reader drop files as
    # "dated in the future" (it did: a system test after another test in the same worker lost
    # today's half-hours from the export).
    from ihd.runtime import clock

    img, fw_rows = _build(tmp_path)
    with open(img, "rb") as f:
        image = f.read()
    want = export.read_image(image)
    clock.set_utc(T0 - 400 * 86400 * 12)
    try:
        assert clock.synced()
        assert export.read_image(image) == want
    finally:
        clock.reset()
    assert len([r for r in want if r["resolution"] == "half_hour"]) > 0
