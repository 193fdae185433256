# Themes: colours, fonts and layout metrics per display class. Layouts in screens.py read the
# metrics from here, so they adapt to 320x240 colour and 128x64 mono panels.
# MIT license


def rgb(r, g, b):
    return ((r & 0xF8) << 8) | ((g & 0xFC) << 3) | (b >> 3)


class Theme:
    pass


def colour_320x240():
    from ihd.ui.fonts import bold16, digits36, sans12, sans16

    t = Theme()
    t.mono = False
    t.w = 320
    t.h = 240
    t.bg = rgb(0x0E, 0x12, 0x1A)  # near-black blue
    t.panel = rgb(0x1C, 0x23, 0x2E)  # cards
    t.header = rgb(0x16, 0x1C, 0x26)
    t.line = rgb(0x33, 0x3D, 0x4C)
    t.fg = rgb(0xF2, 0xF4, 0xF7)
    t.dim = rgb(0x98, 0xA3, 0xB3)
    t.elec = rgb(0xFF, 0xB7, 0x1F)  # amber
    t.gas = rgb(0x4A, 0xA8, 0xFF)  # blue
    t.elec_dim = rgb(0x7A, 0x5A, 0x18)
    t.gas_dim = rgb(0x25, 0x52, 0x80)
    t.elec_cur = rgb(0xFF, 0xE0, 0x96)  # slot in progress
    t.gas_cur = rgb(0xB0, 0xD8, 0xFF)
    t.good = rgb(0x2E, 0xCC, 0x71)
    t.warn = rgb(0xFF, 0x9F, 0x1A)
    t.bad = rgb(0xF0, 0x4E, 0x3E)
    t.sel = rgb(0x2A, 0x3A, 0x52)  # selected row
    t.on_accent = rgb(0x10, 0x10, 0x10)
    t.small = sans12
    t.medium = sans16
    t.bold = bold16
    t.big = digits36
    t.header_h = 24
    t.footer_h = 16
    t.pad = 8
    return t


def mono_128x64():
    from ihd.ui.fonts import digits20, sans10

    t = Theme()
    t.mono = True
    t.w = 128
    t.h = 64
    t.bg = 0
    t.fg = 1
    t.panel = 0
    t.header = 0
    t.line = 1
    t.dim = 1
    t.elec = t.gas = t.elec_dim = t.gas_dim = t.elec_cur = t.gas_cur = 1
    t.good = t.warn = t.bad = 1
    t.sel = 1
    t.on_accent = 0
    t.small = sans10
    t.medium = sans10
    t.bold = sans10
    t.big = digits20
    t.header_h = 11
    t.footer_h = 0
    t.pad = 2
    return t


def for_panel(panel):
    if getattr(panel, "mono", False) or panel.width < 200:
        return mono_128x64()
    return colour_320x240()


def fuel_colour(t, fuel_id, dim=False, cur=False):
    if fuel_id == 0:
        return t.elec_cur if cur else (t.elec_dim if dim else t.elec)
    return t.gas_cur if cur else (t.gas_dim if dim else t.gas)
