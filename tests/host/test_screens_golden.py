# Golden images: every screen at 320x240 colour and 128x64 mono, rendered by the real firmware UI
# on the MicroPython unix port from the deterministic demo model, compared pixel-exact with the
# committed PNGs in tests/golden/.
#
# Regenerate on purpose (after a deliberate UI change), then look at the PNGs before committing:
#   UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/host/test_screens_golden.py
#   (same as: .venv/bin/python -m host_tools.screens --all --out tests/golden)
import os
import shutil

import pytest
from PIL import Image, ImageChops

from host_tools import paths, screens

GOLDEN = os.path.join(paths.TESTS, "golden")


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out = tmp_path_factory.mktemp("screens")
    pngs = screens.render_all(str(out))
    if os.environ.get("UPDATE_GOLDEN") == "1":
        os.makedirs(GOLDEN, exist_ok=True)
        for p in pngs:
            shutil.copy(p, GOLDEN)
    return {os.path.basename(p): p for p in pngs}


def _names():
    from host_tools import upy_shim

    upy_shim.install()
    demo = screens.demo_module()

    return ["%s_%s.png" % (res, name) for res in ("320x240", "128x64") for name, _ in demo.SCENES]


@pytest.mark.parametrize("name", _names())
def test_screen_matches_golden(rendered, name):
    golden = os.path.join(GOLDEN, name)
    assert name in rendered, "scene not rendered: %s" % name
    assert os.path.exists(golden), "no golden image %s: run with UPDATE_GOLDEN=1" % name
    a = Image.open(rendered[name]).convert("RGB")
    b = Image.open(golden).convert("RGB")
    assert a.size == b.size
    box = ImageChops.difference(a, b).getbbox()
    assert box is None, "%s differs from the golden image in %s (UPDATE_GOLDEN=1 to accept)" % (
        name,
        box,
    )


def test_no_stale_golden_images():
    extra = sorted(set(n for n in os.listdir(GOLDEN) if n.endswith(".png")) - set(_names()))
    assert not extra, "golden images without a scene: %s" % extra


def test_dump_roundtrip_formats():
    # RGB565 little-endian framebuf and MONO_VLSB dumps decode to the expected pixels.
    import struct

    hdr = struct.pack("<4sBBHH6x", b"IHDF", 1, 0, 2, 1)
    img = screens.load_dump(hdr + bytes((0x00, 0xF8, 0x1F, 0x00)))  # red, blue
    assert img.getpixel((0, 0)) == (255, 0, 0) or img.getpixel((0, 0))[0] > 240
    assert img.getpixel((1, 0))[2] > 240 and img.getpixel((1, 0))[0] == 0
    hdr = struct.pack("<4sBBHH6x", b"IHDF", 1, 1, 8, 8)
    img = screens.load_dump(hdr + bytes((0x01, 0x80, 0, 0, 0, 0, 0, 0)))
    assert img.getpixel((0, 0)) and img.getpixel((1, 7)) and not img.getpixel((0, 1))
