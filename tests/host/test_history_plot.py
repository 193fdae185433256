# `python -m host_tools.history plot`: the firmware (MicroPython unix port) writes a storage image
# with FileBlockDev (nine days of half-hours and 13 months of backfilled day totals, both fuels),
# the plot command draws its four charts; each PNG is opened with Pillow: its size, and bars of
# both fuels' colours in it. Also: the buckets match the exported rows, SVG on request, and a
# missing or invalid image is one error line.
import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from host_tools import paths
from host_tools.history import plot

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
for d in range(-400, 0, 3):
    s.backfill_day(0, t0 + d * 86400, 9000 + 40 * (d % 30), 2500 * (9000 + 40 * (d % 30)))
    s.backfill_day(1, t0 + d * 86400, 30000 + 300 * (d % 50), 600 * (30000 + 300 * (d % 50)))
for d in range(9):
    for i in range(48):
        t = t0 + d * 86400 + i * 1800
        s.append(0, t, 100 + 5 * (i % 12) + d, 2500 * (100 + i), standing_mp=60000)
        if i % 3 == 0:
            s.append(1, t, 600 + 20 * (i % 7), 600 * (600 + i))
s.flush()
dev.close()
"""
T0 = 800000000 - 800000000 % 86400
STEMS = [p[0] for p in plot.PERIODS]


def _rgb(hexcolour):
    return tuple(int(hexcolour[i : i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("plot")
    img = str(tmp_path / "flash.img")
    script = tmp_path / "mk.py"
    script.write_text(_FW)
    env = dict(os.environ, MICROPYPATH=paths.micropypath())
    p = subprocess.run(
        [paths.micropython_exe(), "-X", "heapsize=2M", str(script), img],
        capture_output=True,
        text=True,
        env=env,
        cwd=paths.ROOT,
        timeout=120,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return img


def _cli(*args):
    return subprocess.run(
        [sys.executable, "-m", "host_tools.history", "plot", *args],
        capture_output=True,
        text=True,
        cwd=paths.ROOT,
        timeout=120,
    )


def test_plot_writes_four_charts_with_both_fuels(image, tmp_path):
    out = tmp_path / "charts"
    p = _cli(image, "--out", str(out))
    assert p.returncode == 0, p.stderr
    want = [str(out / (s + ".png")) for s in STEMS]
    assert p.stdout.split() == want
    fuel_colours = [_rgb(c) for _, _, c in plot.FUELS]
    for path in want:
        with Image.open(path) as im:
            assert im.format == "PNG"
            assert im.size == (plot.SIZE_IN[0] * plot.DPI, plot.SIZE_IN[1] * plot.DPI)
            rgb = im.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        assert colours is not None and len(colours) > 2, path
        background = max(colours)[1]
        counts = dict((c, n) for n, c in colours)
        assert sum(n for n, c in colours if c != background) > 10000, path
        for c in fuel_colours:  # each fuel's bars, energy and cost: not just axes and text
            assert counts.get(c, 0) > 1000, (path, c, counts.get(c, 0))


def test_plot_buckets_match_exported_rows(image):
    p = subprocess.run(
        [sys.executable, "-m", "host_tools.history", "export", image, "--format", "json"],
        capture_output=True,
        text=True,
        cwd=paths.ROOT,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)
    now = plot.latest(rows)
    assert now == T0 + 8 * 86400 + 47 * 1800  # the last half-hour appended
    elec_days = [r for r in rows if r["resolution"] == "day" and r["meter"] == "elec"]
    days = {plot._secs(r["start"]): r for r in elec_days}
    d8 = plot.series(rows, "elec", plot.DAY, now, 8)
    assert [b[0] for b in d8] == [T0 + d * 86400 for d in range(1, 9)]
    for start, _end, kwh, gbp in d8:
        r = days[start]
        assert kwh == r["energy_kwh"] and abs(gbp - r["cost_pence"] / 100) < 1e-9
    hh = plot.series(rows, "gas", plot.HALF_HOUR, now, 48)
    assert len(hh) == 48 and hh[0][0] == T0 + 8 * 86400
    assert [b[2] is not None for b in hh] == [i % 3 == 0 for i in range(48)]
    months = plot.series(rows, "gas", plot.MONTH, now, 13)
    assert all(b[2] for b in months)  # 13 months of backfilled days
    total = sum(r["energy_kwh"] for r in rows if r["meter"] == "gas" and r["resolution"] == "day")
    first = months[0][0]
    before = sum(
        r["energy_kwh"]
        for r in rows
        if r["meter"] == "gas" and r["resolution"] == "day" and plot._secs(r["start"]) < first
    )
    assert abs(sum(b[2] for b in months) - (total - before)) < 1e-6


def test_plot_svg_on_request(image, tmp_path):
    out = tmp_path / "svg"
    assert plot.main([image, "--out", str(out), "--format", "svg"]) == 0
    assert sorted(os.listdir(out)) == sorted(s + ".svg" for s in STEMS)
    for s in STEMS:
        text = (out / (s + ".svg")).read_text()
        assert "<svg" in text[:2000] and "</svg>" in text[-200:]


def test_plot_bad_image_is_one_error_line(tmp_path):
    junk = tmp_path / "junk.img"
    junk.write_bytes(b"\x00" * 8192)
    for path, why in ((str(tmp_path / "missing.img"), "No such file"), (str(junk), "littlefs")):
        p = _cli(path, "--out", str(tmp_path / "out"))
        assert p.returncode == 1, (p.stdout, p.stderr)
        lines = p.stderr.strip().splitlines()
        assert len(lines) == 1 and path in lines[0] and why in lines[0], p.stderr
    assert not (tmp_path / "out").exists()
