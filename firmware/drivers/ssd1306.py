# SSD1306 128x64 monochrome OLED over I2C, after micropython-lib's ssd1306.py (MONO_VLSB
# framebuffer, one byte = 8 vertical pixels of a page) with dirty-region pushes: only the pages
# and 8-px column groups that changed are sent, each as one window + one data transfer.
# MIT license
import asyncio

import framebuf
from micropython import const

from drivers._fast import copy8
from drivers.dirty import Dirty, DirtyPanel

_SET_CONTRAST = const(0x81)
_SET_ENTIRE_ON = const(0xA4)
_SET_NORM_INV = const(0xA6)
_SET_DISP = const(0xAE)
_SET_MEM_ADDR = const(0x20)
_SET_COL_ADDR = const(0x21)
_SET_PAGE_ADDR = const(0x22)
_SET_DISP_START_LINE = const(0x40)
_SET_SEG_REMAP = const(0xA0)
_SET_MUX_RATIO = const(0xA8)
_SET_COM_OUT_DIR = const(0xC0)
_SET_DISP_OFFSET = const(0xD3)
_SET_COM_PIN_CFG = const(0xDA)
_SET_DISP_CLK_DIV = const(0xD5)
_SET_PRECHARGE = const(0xD9)
_SET_VCOM_DESEL = const(0xDB)
_SET_CHARGE_PUMP = const(0x8D)


class SSD1306(DirtyPanel, framebuf.FrameBuffer):
    FMT = framebuf.MONO_VLSB
    mono = True

    # i2c: constructed machine.I2C (400 kHz); addr 0x3C (or 0x3D).
    def __init__(self, i2c, addr=0x3C, width=128, height=64, external_vcc=False, buf=None):
        self.i2c = i2c
        self.addr = addr
        self.width = width
        self.height = height
        self.pages = height // 8
        self.external_vcc = external_vcc
        self.buffer = buf if buf is not None else bytearray(self.pages * width)
        super().__init__(self.buffer, width, height, framebuf.MONO_VLSB)
        self.dirty = Dirty(width, height)
        self.bytes_pushed = 0
        self._cmd = bytearray(7)  # control byte 0x00 + up to 6 command bytes
        self._cmd2 = memoryview(self._cmd)[:2]
        self._tx = bytearray(1 + width)  # control byte 0x40 + one page row
        self._tx[0] = 0x40
        tv = memoryview(self._tx)
        self._views = [tv[: 1 + 8 * (i + 1)] for i in range(width // 8)]
        self.contrast_level = 0xFF
        self.init_display()

    def init_display(self):
        for c in (
            _SET_DISP,  # display off
            _SET_MEM_ADDR,
            0x00,  # horizontal addressing
            _SET_DISP_START_LINE,  # start line 0
            _SET_SEG_REMAP | 0x01,  # column 127 mapped to SEG0
            _SET_MUX_RATIO,
            self.height - 1,
            _SET_COM_OUT_DIR | 0x08,  # scan from COM[N] to COM0
            _SET_DISP_OFFSET,
            0x00,
            _SET_COM_PIN_CFG,
            0x02 if self.width > 2 * self.height else 0x12,
            _SET_DISP_CLK_DIV,
            0x80,  # oscillator frequency, divide ratio 1
            _SET_PRECHARGE,
            0x22 if self.external_vcc else 0xF1,
            _SET_VCOM_DESEL,
            0x30,  # 0.83 x Vcc
            _SET_CONTRAST,
            0xFF,
            _SET_ENTIRE_ON,  # output follows RAM contents
            _SET_NORM_INV,  # not inverted
            _SET_CHARGE_PUMP,
            0x10 if self.external_vcc else 0x14,
            _SET_DISP | 0x01,  # display on
        ):
            self.write_cmd(c)
        self.fill(0)
        self.show()

    def write_cmd(self, c):
        b = self._cmd
        b[0] = 0x80  # Co=1, D/C#=0: one command byte follows
        b[1] = c
        self.i2c.writeto(self.addr, self._cmd2)
        self.bytes_pushed += 2

    def _window(self, c0, c1, p):
        b = self._cmd
        b[0] = 0x00  # Co=0: the rest of the transfer is command bytes
        b[1] = _SET_COL_ADDR
        b[2] = c0
        b[3] = c1
        b[4] = _SET_PAGE_ADDR
        b[5] = p
        b[6] = p
        self.i2c.writeto(self.addr, b)
        self.bytes_pushed += 7

    @staticmethod
    def rgb(r, g, b):
        return 1 if (r + g + b) else 0

    # Push the pages and 8-px column groups covering the rectangle; returns the bytes sent.
    # Allocates nothing.
    def show_rect(self, x, y, w, h):
        x1 = x + w
        if x1 > self.width:
            x1 = self.width
        if x < 0:
            x = 0
        if y < 0:
            y = 0
        y1 = y + h
        if y1 > self.height:
            y1 = self.height
        if x1 <= x or y1 <= y:
            return 0
        c0 = x & ~7
        nq = (x1 - c0 + 7) >> 3
        if c0 + 8 * nq > self.width:
            c0 = self.width - 8 * nq
        ncol = 8 * nq
        view = self._views[nq - 1]
        before = self.bytes_pushed
        for p in range(y >> 3, ((y1 - 1) >> 3) + 1):
            self._window(c0, c0 + ncol - 1, p)
            # viper takes the bytearrays as ptr8 (converted at the call; the stubs want a ptr8)
            copy8(self._tx, 1, self.buffer, p * self.width + c0, ncol)  # pyright: ignore[reportArgumentType]
            self.i2c.writeto(self.addr, view)
            self.bytes_pushed += 1 + ncol
        return self.bytes_pushed - before

    async def show_dirty(self):
        d = self.dirty
        r = d.r
        total = 0
        while d.n:
            d.n -= 1
            j = 4 * d.n
            x0 = r[j]
            x1 = r[j + 2]
            y1 = r[j + 3]
            # One page (8 rows) per band: about 3 ms on a 400 kHz bus per 128 columns.
            y = r[j + 1] & ~7
            while y < y1:
                total += self.show_rect(x0, y, x1 - x0, 8)
                y += 8
                await asyncio.sleep_ms(0)
        return total

    # Screen saver hook: 0 blanks the panel, otherwise maps 1..100 % to contrast.
    def backlight(self, pct):
        if pct <= 0:
            self.write_cmd(_SET_DISP)
            return
        self.write_cmd(_SET_DISP | 0x01)
        self.write_cmd(_SET_CONTRAST)
        self.write_cmd(pct * 255 // 100)

    def contrast(self, level):
        self.write_cmd(_SET_CONTRAST)
        self.write_cmd(level)
