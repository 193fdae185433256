# Drawing surface over a display driver (drivers.st7789 / drivers.ssd1306 or any framebuf panel
# with .buffer/.FMT/.mark()): shapes through framebuf, text from the bitmap fonts in
# ihd.ui.fonts via viper glyph blitters that read the (frozen) font bytes in place and write
# straight into the framebuffer. Everything drawn is marked dirty on the panel.
# MIT license
# ruff: noqa: F821 (viper pointer types ptr8/ptr16 are compiler builtins)
import framebuf
import micropython


@micropython.viper
def _glyph565(
    dst: ptr16,
    dw: int,
    dh: int,
    src: ptr8,
    off: int,
    gw: int,
    gh: int,
    x: int,
    y: int,
    color: int,
):
    stride = (gw + 7) >> 3
    r = 0
    while r < gh:
        yy = y + r
        if yy >= 0 and yy < dh:
            row = off + r * stride
            base = yy * dw
            c = 0
            while c < gw:
                bits = src[row + (c >> 3)]
                if bits:
                    k = 0
                    while k < 8 and c + k < gw:
                        if bits & (0x80 >> k):
                            xx = x + c + k
                            if xx >= 0 and xx < dw:
                                dst[base + xx] = color
                        k += 1
                c += 8
        r += 1


@micropython.viper
def _glyph_vlsb(
    dst: ptr8,
    dw: int,
    dh: int,
    src: ptr8,
    off: int,
    gw: int,
    gh: int,
    x: int,
    y: int,
    color: int,
):
    stride = (gw + 7) >> 3
    r = 0
    while r < gh:
        yy = y + r
        if yy >= 0 and yy < dh:
            row = off + r * stride
            base = (yy >> 3) * dw
            bit = 1 << (yy & 7)
            c = 0
            while c < gw:
                bits = src[row + (c >> 3)]
                if bits:
                    k = 0
                    while k < 8 and c + k < gw:
                        if bits & (0x80 >> k):
                            xx = x + c + k
                            if xx >= 0 and xx < dw:
                                if color:
                                    dst[base + xx] |= bit
                                else:
                                    dst[base + xx] &= 0xFF ^ bit
                        k += 1
                c += 8
        r += 1


def glyph_index(font, ch):
    i = font.CHARS.find(ch)
    if i < 0:
        i = font.CHARS.find("?")
        if i < 0:
            i = 0
    return i


def text_width(font, s):
    w = 0
    widths = font.WIDTHS
    for ch in s:
        w += widths[glyph_index(font, ch)]
    return w


class Canvas:
    def __init__(self, panel):
        self.panel = panel
        self.fb = panel
        self.buf = panel.buffer
        self.w = panel.width
        self.h = panel.height
        self.mono = panel.FMT != framebuf.RGB565
        self._glyph = _glyph_vlsb if self.mono else _glyph565

    def fill_rect(self, x, y, w, h, c):
        self.fb.fill_rect(x, y, w, h, c)
        self.panel.mark(x, y, w, h)

    def rect(self, x, y, w, h, c):
        self.fb.rect(x, y, w, h, c)
        self.panel.mark(x, y, w, h)

    def hline(self, x, y, w, c):
        self.fb.hline(x, y, w, c)
        self.panel.mark(x, y, w, 1)

    def vline(self, x, y, h, c):
        self.fb.vline(x, y, h, c)
        self.panel.mark(x, y, 1, h)

    def ellipse(self, x, y, rx, ry, c, fill=True):
        self.fb.ellipse(x, y, rx, ry, c, fill)
        self.panel.mark(x - rx, y - ry, 2 * rx + 1, 2 * ry + 1)

    def poly(self, x, y, coords, c, fill=True):
        # coords: array('h') of relative x, y pairs; marks the bounding box.
        self.fb.poly(x, y, coords, c, fill)
        x0 = x1 = coords[0]
        y0 = y1 = coords[1]
        for i in range(0, len(coords), 2):
            x0 = min(x0, coords[i])
            x1 = max(x1, coords[i])
            y0 = min(y0, coords[i + 1])
            y1 = max(y1, coords[i + 1])
        self.panel.mark(x + x0, y + y0, x1 - x0 + 1, y1 - y0 + 1)

    # Draw s with its top-left at (x, y) in colour c (transparent background); returns the x
    # after the last glyph.
    def text(self, font, s, x, y, c):
        x0 = x
        widths = font.WIDTHS
        offs = font.OFFSETS
        bm = font.BITMAP
        gh = font.HEIGHT
        g = self._glyph
        for ch in s:
            i = glyph_index(font, ch)
            gw = widths[i]
            g(self.buf, self.w, self.h, bm, offs[2 * i] | (offs[2 * i + 1] << 8), gw, gh, x, y, c)
            x += gw
        if x > x0:
            self.panel.mark(x0, y, x - x0, gh)
        return x

    # Text aligned in a box: align 0 = left, 1 = centre, 2 = right; vertically centred.
    def text_in(self, font, s, x, y, w, h, c, align=0):
        tw = text_width(font, s)
        if align == 1:
            x += (w - tw) // 2
        elif align == 2:
            x += w - tw
        return self.text(font, s, x, y + (h - font.HEIGHT) // 2, c)
