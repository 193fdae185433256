# The look of a panel class: colours and fonts of the 320x240 colour panel and of the 128x64
# mono one. Where things go on each is in the screens' layouts (screens.py, display.py).
# Layouts name fonts and colours by these attribute names ("small", "dim"; widgets.py).
# MIT license
from ihd.state.fuels import ELEC


def rgb(r, g, b):
    return ((r & 0xF8) << 8) | ((g & 0xFC) << 3) | (b >> 3)


class Theme:
    def __init__(self, mono):
        self.mono = mono
        if mono:
            # SSD1306 128x64: 1 = lit; every "colour" is lit, the fonts are the small ones.
            from ihd.ui.fonts import digits20, sans10

            self.w = 128
            self.h = 64
            self.bg = self.panel = self.header = self.on_accent = 0
            self.fg = self.line = self.dim = self.sel = 1
            self.elec = self.gas = self.elec_dim = self.gas_dim = 1
            self.elec_cur = self.gas_cur = 1
            self.good = self.warn = self.bad = 1
            self.small = self.medium = self.bold = sans10
            self.big = digits20
            self.digits = digits20
            return
        from ihd.ui.fonts import bold16, digits20, digits36, sans12, sans16

        self.w = 320
        self.h = 240
        self.bg = rgb(0x0E, 0x12, 0x1A)  # near-black blue
        self.panel = rgb(0x1C, 0x23, 0x2E)  # cards
        self.header = rgb(0x16, 0x1C, 0x26)
        self.line = rgb(0x33, 0x3D, 0x4C)
        self.fg = rgb(0xF2, 0xF4, 0xF7)
        self.dim = rgb(0x98, 0xA3, 0xB3)
        self.elec = rgb(0xFF, 0xB7, 0x1F)  # amber
        self.gas = rgb(0x4A, 0xA8, 0xFF)  # blue
        self.elec_dim = rgb(0x7A, 0x5A, 0x18)
        self.gas_dim = rgb(0x25, 0x52, 0x80)
        self.elec_cur = rgb(0xFF, 0xE0, 0x96)  # slot in progress
        self.gas_cur = rgb(0xB0, 0xD8, 0xFF)
        self.good = rgb(0x2E, 0xCC, 0x71)
        self.warn = rgb(0xFF, 0x9F, 0x1A)
        self.bad = rgb(0xF0, 0x4E, 0x3E)
        self.sel = rgb(0x2A, 0x3A, 0x52)  # selected row
        self.on_accent = rgb(0x10, 0x10, 0x10)  # text on a warn/good/fuel fill
        self.small = sans12
        self.medium = sans16
        self.bold = bold16
        self.big = digits36
        self.digits = digits20  # the top-up code and its countdown


def colour_320x240():
    return Theme(False)


def mono_128x64():
    return Theme(True)


def for_panel(panel):
    if getattr(panel, "mono", False) or panel.width < 200:
        return mono_128x64()
    return colour_320x240()


def fuel_colour(t, fuel_id, dim=False, cur=False):
    if fuel_id == ELEC:
        return t.elec_cur if cur else (t.elec_dim if dim else t.elec)
    return t.gas_cur if cur else (t.gas_dim if dim else t.gas)
