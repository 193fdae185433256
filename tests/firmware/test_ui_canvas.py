# fw: heapsize=512K
# Bitmap fonts and the glyph blitters: charset coverage, metrics, colour, clipping, no allocation.
import framebuf
import fwtest
from ihd.ui.canvas import Canvas, text_width
from ihd.ui.fonts import bold16, digits20, digits36, sans10, sans12, sans16

FONTS = (sans10, sans12, sans16, bold16, digits20, digits36)


class Panel(framebuf.FrameBuffer):
    def __init__(self, w, h, mono=False):
        from drivers.dirty import Dirty

        self.width, self.height, self.mono = w, h, mono
        self.FMT = framebuf.MONO_VLSB if mono else framebuf.RGB565
        self.buffer = bytearray(w * h // 8 if mono else w * h * 2)
        super().__init__(self.buffer, w, h, self.FMT)
        self.dirty = Dirty(w, h)

    def mark(self, x, y, w, h):
        self.dirty.add(x, y, w, h)


def test_fonts_cover_money_and_energy():
    for f in FONTS:
        for ch in "0123456789.£kWh":
            assert f.CHARS.find(ch) >= 0, ch
        assert len(f.WIDTHS) == len(f.CHARS)
        assert len(f.OFFSETS) == 2 * len(f.CHARS)
    for f in (sans10, sans12, sans16, bold16):
        for c in range(32, 127):
            assert f.CHARS.find(chr(c)) >= 0


def test_fonts_are_small():
    total = sum(len(f.BITMAP) + len(f.WIDTHS) + len(f.OFFSETS) for f in FONTS)
    assert total < 16 * 1024, total


def test_text_draws_inside_its_box_in_colour():
    p = Panel(64, 40)
    cv = Canvas(p)
    x_end = cv.text(digits36, "£1", 2, 3, 0xF800)
    assert x_end == 2 + text_width(digits36, "£1")
    lit = 0
    for y in range(40):
        for x in range(64):
            v = p.pixel(x, y)
            if v:
                assert v == 0xF800
                assert 2 <= x < x_end and 3 <= y < 3 + digits36.HEIGHT
                lit += 1
    assert lit > 50
    assert p.dirty.n == 1


def test_mono_text_and_clipping():
    p = Panel(32, 16, mono=True)
    cv = Canvas(p)
    cv.text(sans10, "kWh £", -5, -3, 1)  # partly off the top-left: clipped, no error
    cv.text(sans10, "kWh £", 25, 12, 1)  # partly off the bottom-right
    assert any(p.buffer)
    cv.fill_rect(0, 0, 32, 16, 1)
    cv.text(sans10, "8", 0, 0, 0)  # colour 0 clears bits
    assert p.pixel(0, 15) == 1
    assert sum(1 for y in range(10) for x in range(6) if p.pixel(x, y) == 0) > 5


def test_text_does_not_allocate():
    p = Panel(320, 40)
    cv = Canvas(p)
    cv.text(sans12, "warm", 0, 0, 1)
    with fwtest.HeapLocked():
        cv.text(sans12, "Today 4.25 kWh", 0, 0, 0xFFFF)
        cv.text(digits36, "1.23 kW", 0, 0, 0xFFFF)
        text_width(sans16, "Electricity")
