# ST7789 (and ILI9341) RGB565 SPI display driver: 320x240 landscape framebuffer with dirty-
# rectangle pushes (CASET/RASET + RAMWR of just that region) and an async show_dirty() that
# yields to the event loop between bands of rows.
# MIT license
#
# The framebuffer is framebuf.RGB565 (native little-endian u16, so colours are plain 0xF800 for
# red and host tools read dumps with Pillow's "BGR;16"). The panel wants big-endian pixels on SPI,
# so each row is byte-swapped into a preallocated line buffer by a viper loop on the way out.
# 320x240x2 = 153,600 bytes of framebuffer: allocate the display before other modules
# (gc.collect() first) on boards without PSRAM.
#
# ILI9341 uses the same CASET/RASET/RAMWR/MADCTL/COLMOD commands; only the power-on sequence,
# inversion and RGB/BGR order differ: use the ILI9341 subclass below.
import asyncio
import time

import framebuf
from micropython import const

from drivers._fast import swap_copy16
from drivers.dirty import Dirty, DirtyPanel

_SWRESET = const(0x01)
_SLPOUT = const(0x11)
_NORON = const(0x13)
_INVOFF = const(0x20)
_INVON = const(0x21)
_DISPOFF = const(0x28)
_DISPON = const(0x29)
_CASET = const(0x2A)
_RASET = const(0x2B)
_RAMWR = const(0x2C)
_MADCTL = const(0x36)
_COLMOD = const(0x3A)

# MADCTL bits: MY=0x80 MX=0x40 MV=0x20 ML=0x10 BGR=0x08.
MADCTL_LANDSCAPE = const(0x60)  # MV|MX: 320x240 on the usual 240x320 ST7789 modules
ILI9341_LANDSCAPE = const(0x28)  # MV|BGR: 320x240 on the usual ILI9341 modules
_BAND_ROWS = const(24)  # rows pushed between yields in show_dirty() (~15 kB at 320 wide)

# Power-on sequence: (command, data, delay_ms).
_ST7789_INIT = (
    (_SWRESET, b"", 150),  # software reset
    (_SLPOUT, b"", 120),  # leave sleep; wait for the booster
    (_COLMOD, b"\x55", 10),  # 16 bits per pixel (RGB565) on both interfaces
    (_INVON, b"", 10),  # IPS ST7789 panels need inversion on for true colours
    (_NORON, b"", 10),  # normal display mode
)
_ILI9341_INIT = (
    (_SWRESET, b"", 150),
    (0xCB, b"\x39\x2c\x00\x34\x02", 0),  # power control A
    (0xCF, b"\x00\xc1\x30", 0),  # power control B
    (0xE8, b"\x85\x00\x78", 0),  # driver timing A
    (0xEA, b"\x00\x00", 0),  # driver timing B
    (0xED, b"\x64\x03\x12\x81", 0),  # power-on sequence
    (0xF7, b"\x20", 0),  # pump ratio
    (0xC0, b"\x23", 0),  # power control 1: 4.60 V
    (0xC1, b"\x10", 0),  # power control 2
    (0xC5, b"\x3e\x28", 0),  # VCOM control 1
    (0xC7, b"\x86", 0),  # VCOM control 2
    (_COLMOD, b"\x55", 0),  # RGB565
    (0xB1, b"\x00\x18", 0),  # frame rate 79 Hz
    (0xB6, b"\x08\x82\x27", 0),  # display function control
    (_SLPOUT, b"", 120),
    (_INVOFF, b"", 0),
    (_NORON, b"", 10),
)


def rgb(r, g, b):
    # 8-bit components -> framebuf RGB565 colour (native order; the driver swaps on output).
    return ((r & 0xF8) << 8) | ((g & 0xFC) << 3) | (b >> 3)


class ST7789(DirtyPanel, framebuf.FrameBuffer):
    FMT = framebuf.RGB565
    mono = False
    _init_seq = _ST7789_INIT

    # spi: constructed machine.SPI (mode 0, up to 62.5 MHz on ST7789 / 40 MHz on ILI9341);
    # dc, cs, rst: machine.Pin (rst may be None); bl: Pin or PWM for the backlight, or None.
    # xoff/yoff: RAM offsets of panels smaller than the controller's 240x320 (e.g. 135x240).
    def __init__(
        self,
        spi,
        dc,
        cs,
        rst=None,
        bl=None,
        width=320,
        height=240,
        madctl=MADCTL_LANDSCAPE,
        xoff=0,
        yoff=0,
        buf=None,
    ):
        self.spi = spi
        self.dc = dc
        self.cs = cs
        self.rst = rst
        self.bl = bl
        self.width = width
        self.height = height
        self.xoff = xoff
        self.yoff = yoff
        self.buffer = buf if buf is not None else bytearray(width * height * 2)
        super().__init__(self.buffer, width, height, framebuf.RGB565)
        self.dirty = Dirty(width, height)
        self.bytes_pushed = 0
        self._cmd_buf = bytearray(1)
        self._win = bytearray(4)
        self._line = bytearray(width * 2)
        # One view of the line buffer per width multiple of 8 px (rectangles are widened to
        # 8-px columns), plus the full width: spi.write() then never needs a fresh slice.
        lv = memoryview(self._line)
        self._views = [lv[: 16 * (i + 1)] for i in range(width // 8)]
        self._full = lv
        for pin in (dc, cs, rst):
            if pin is not None and hasattr(pin, "init"):
                pin.init(pin.OUT, value=1)
        self.reset()
        for cmd, data, delay_ms in self._init_seq:
            self._write_cmd(cmd, data)
            if delay_ms:
                time.sleep_ms(delay_ms)
        self._write_cmd(_MADCTL, bytes((madctl,)))
        self.fill(0)
        self.show()
        self._write_cmd(_DISPON, b"")
        self.backlight(100)

    @staticmethod
    def rgb(r, g, b):
        return rgb(r, g, b)

    def reset(self):
        if self.rst is not None:
            self.rst(1)
            time.sleep_ms(5)
            self.rst(0)
            time.sleep_ms(10)
            self.rst(1)
            time.sleep_ms(120)

    def _write_cmd(self, cmd, data=None):
        self.cs(0)
        self.dc(0)
        self._cmd_buf[0] = cmd
        self.spi.write(self._cmd_buf)
        n = 1
        if data:
            self.dc(1)
            self.spi.write(data)
            n += len(data)
        self.cs(1)
        self.bytes_pushed += n

    def _window(self, x0, y0, x1, y1):
        # Inclusive panel coordinates.
        w = self._win
        x0 += self.xoff
        x1 += self.xoff
        y0 += self.yoff
        y1 += self.yoff
        w[0] = x0 >> 8
        w[1] = x0 & 0xFF
        w[2] = x1 >> 8
        w[3] = x1 & 0xFF
        self._write_cmd(_CASET, w)
        w[0] = y0 >> 8
        w[1] = y0 & 0xFF
        w[2] = y1 >> 8
        w[3] = y1 & 0xFF
        self._write_cmd(_RASET, w)

    # Push one rectangle (widened to 8-px columns); returns the bytes sent. Allocates nothing.
    def show_rect(self, x, y, w, h):
        x1 = x + w
        if x1 > self.width:
            x1 = self.width
        if x < 0:
            x = 0
        if y < 0:
            y = 0
        if y + h > self.height:
            h = self.height - y
        if x1 <= x or h <= 0:
            return 0
        nq = (x1 - x + 7) >> 3
        x0 = x1 - (nq << 3)
        if x0 < 0 or nq > len(self._views):
            x0 = 0
            x1 = self.width
            view = self._full
        else:
            view = self._views[nq - 1]
        npix = x1 - x0
        before = self.bytes_pushed
        self._window(x0, y, x1 - 1, y + h - 1)
        self.cs(0)
        self.dc(0)
        self._cmd_buf[0] = _RAMWR
        self.spi.write(self._cmd_buf)
        self.dc(1)
        line = self._line
        fb = self.buffer
        wd = self.width
        for row in range(y, y + h):
            # viper takes the bytearrays as ptr16 (converted at the call; the stubs want a ptr16)
            swap_copy16(line, fb, row * wd + x0, npix)  # pyright: ignore[reportArgumentType]
            self.spi.write(view)
        self.cs(1)
        self.bytes_pushed += 1 + npix * 2 * h
        return self.bytes_pushed - before

    # Push every dirty rectangle in bands of rows, yielding to the event loop between bands so
    # a slow bus never blocks other tasks for long. Returns the bytes sent.
    async def show_dirty(self):
        d = self.dirty
        r = d.r
        total = 0
        while d.n:
            d.n -= 1
            j = 4 * d.n
            x0 = r[j]
            y0 = r[j + 1]
            x1 = r[j + 2]
            y1 = r[j + 3]
            y = y0
            while y < y1:
                h = y1 - y
                if h > _BAND_ROWS:
                    h = _BAND_ROWS
                total += self.show_rect(x0, y, x1 - x0, h)
                y += h
                await asyncio.sleep_ms(0)
        return total

    # Backlight 0..100 %: PWM (duty_u16) when available, else on/off. 0 also blanks the panel.
    def backlight(self, pct):
        bl = self.bl
        if bl is None:
            return
        if hasattr(bl, "duty_u16"):
            bl.duty_u16(pct * 65535 // 100)
        else:
            bl(1 if pct else 0)

    def power(self, on):
        self._write_cmd(_DISPON if on else _DISPOFF, b"")


class ILI9341(ST7789):
    _init_seq = _ILI9341_INIT

    def __init__(
        self,
        spi,
        dc,
        cs,
        rst=None,
        bl=None,
        width=320,
        height=240,
        madctl=ILI9341_LANDSCAPE,
        xoff=0,
        yoff=0,
        buf=None,
    ):
        super().__init__(spi, dc, cs, rst, bl, width, height, madctl, xoff, yoff, buf)
