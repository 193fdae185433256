# Frame dumps for the unix port: raw framebuffer bytes behind a 16-byte header, written to a
# directory and turned into PNGs on the host by `python -m host_tools.screens`.
#
# Header (little-endian): magic b"IHDF", version u8 (1), format u8 (0 RGB565 native LE,
# 1 MONO_VLSB, 2 MONO_HLSB), width u16, height u16, 6 reserved bytes. Then the framebuffer.
#
# render_all(outdir) renders every demo scene at 320x240 colour and 128x64 mono through the
# real drivers (on null buses) and the real UI, one dump per scene: "<w>x<h>_<scene>.fb".
# MIT license
import struct

import framebuf

MAGIC = b"IHDF"
FMT_RGB565 = 0
FMT_MONO_VLSB = 1
FMT_MONO_HLSB = 2
_FMTS = {
    framebuf.RGB565: FMT_RGB565,
    framebuf.MONO_VLSB: FMT_MONO_VLSB,
    framebuf.MONO_HLSB: FMT_MONO_HLSB,
}


def header(panel):
    return struct.pack("<4sBBHH6x", MAGIC, 1, _FMTS[panel.FMT], panel.width, panel.height)


def dump(panel, path):
    with open(path, "wb") as f:
        f.write(header(panel))
        f.write(panel.buffer)


class NullPin:
    OUT = 1
    IN = 0

    def init(self, *a, **k):
        pass

    def value(self, v=None):
        return 0

    def __call__(self, v=None):
        return 0


class NullSPI:
    def __init__(self):
        self.bytes = 0

    def write(self, buf):
        self.bytes += len(buf)


class NullI2C:
    def __init__(self):
        self.bytes = 0

    def writeto(self, addr, buf, stop=True):
        self.bytes += len(buf)

    def writevto(self, addr, bufs, stop=True):
        for b in bufs:
            self.bytes += len(b)


def make_panels(which="both"):
    # The real drivers on null buses: "colour" (ST7789 320x240), "mono" (SSD1306 128x64), both.
    out = []
    if which in ("colour", "both"):
        from drivers.st7789 import ST7789

        out.append(ST7789(NullSPI(), NullPin(), NullPin(), NullPin()))
    if which in ("mono", "both"):
        from drivers.ssd1306 import SSD1306

        out.append(SSD1306(NullI2C()))
    return tuple(out)


def render_scene(panel, scene_fn, model=None):
    import demo
    from ihd.ui.display import Ui

    m = model or demo.make_model()
    ui = Ui(panel, m)
    ui.step()
    scene_fn(ui)
    ui.step()
    return ui


def render_all(outdir, only=None):
    import os

    import demo

    try:
        os.mkdir(outdir)
    except OSError:
        pass
    names = []
    for panel in make_panels():
        for name, fn in demo.SCENES:
            if only and name not in only:
                continue
            render_scene(panel, fn)
            fname = "%dx%d_%s.fb" % (panel.width, panel.height, name)
            dump(panel, outdir + "/" + fname)
            names.append(fname)
    print("dumped", len(names), "frames to", outdir)
    return names
