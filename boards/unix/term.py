# Live terminal view of the framebuffer for the unix port: ANSI true colour with upper half
# blocks ("▀": foreground = top pixel row, background = bottom row), scaled down by an integer
# factor (box average) to fit the terminal, rewriting only cells that changed. Scaled down, the
# line under the screen says what terminal size shows it larger (size_note).
#
# TermPanel follows the display driver contract (buffer, width, height, FMT, mono, dirty, mark,
# mark_all, show, show_rect, async show_dirty, backlight), so the UI runs on it unchanged:
#   panel = TermPanel(320, 240)            # or TermPanel(128, 64, mono=True)
#   ui = Ui(panel, model, inputs=queue, backlight=panel.backlight)
# MIT license
import asyncio
import os
import sys
from array import array

import framebuf
from drivers.dirty import Dirty

_MONO_ON = (0x9E, 0xD8, 0xFF)  # OLED-ish pale blue
_MONO_OFF = (0x05, 0x08, 0x10)


def term_size():
    # MicroPython has no os.get_terminal_size(): COLUMNS/LINES if exported (host_tools.run
    # exports them), else 100x32.
    try:
        return int(os.getenv("COLUMNS") or 100), int(os.getenv("LINES") or 32)
    except ValueError:
        return 100, 32


def needed(width, height, scale):
    # -> (columns, lines) a terminal needs to show a width x height screen at 1/scale: half
    # blocks (two pixel rows a line), and a line for this note.
    return width // scale, (height + 2 * scale - 1) // (2 * scale) + 1


class TermPanel(framebuf.FrameBuffer):
    def __init__(self, width=320, height=240, mono=False, cols=None, rows=None, out=None, top=1):
        self.width = width
        self.height = height
        self.mono = mono
        if mono:
            self.FMT = framebuf.MONO_VLSB
            self.buffer = bytearray(width * ((height + 7) // 8))
        else:
            self.FMT = framebuf.RGB565
            self.buffer = bytearray(width * height * 2)
        super().__init__(self.buffer, width, height, self.FMT)
        tc, tr = term_size()
        cols = cols or tc
        rows = (rows or tr) - 1
        s = 1
        while width // s > cols or (height + 2 * s - 1) // (2 * s) > rows:
            s += 1
        self.scale = s
        self.term_cols = cols
        self.cols = width // s
        self.rows = height // (2 * s)
        self.top = top  # first terminal row used
        self.out = out or sys.stdout
        self.dirty = Dirty(width, height)
        self._prev = array("i", [-1] * (self.cols * self.rows * 2))
        self.level_pct = 100
        self.bytes_pushed = 0

    def mark(self, x, y, w, h):
        self.dirty.add(x, y, w, h)

    def mark_all(self):
        self.dirty.all()

    def _avg(self, x0, y0):
        # Average colour of an s x s block -> 0xRRGGBB, dimmed by the backlight level.
        s = self.scale
        r = g = b = 0
        for y in range(y0, y0 + s):
            for x in range(x0, x0 + s):
                p = self.pixel(x, y)
                if self.mono:
                    c = _MONO_ON if p else _MONO_OFF
                    r += c[0]
                    g += c[1]
                    b += c[2]
                else:
                    r += (p >> 8) & 0xF8
                    g += (p >> 3) & 0xFC
                    b += (p << 3) & 0xF8
        n = s * s * 100
        k = self.level_pct
        return ((r * k // n) << 16) | ((g * k // n) << 8) | (b * k // n)

    def show_rect(self, x, y, w, h):
        s = self.scale
        c0 = max(0, x // s)
        c1 = min(self.cols, (x + w + s - 1) // s)
        r0 = max(0, y // (2 * s))
        r1 = min(self.rows, (y + h + 2 * s - 1) // (2 * s))
        total = 0
        for row in range(r0, r1):
            parts = []  # one write per terminal row keeps the strings small
            last = -2
            for col in range(c0, c1):
                top = self._avg(col * s, 2 * row * s)
                bot = self._avg(col * s, (2 * row + 1) * s)
                i = 2 * (row * self.cols + col)
                if self._prev[i] == top and self._prev[i + 1] == bot:
                    continue
                self._prev[i] = top
                self._prev[i + 1] = bot
                if col != last + 1:
                    parts.append("\x1b[%d;%dH" % (self.top + row, col + 1))
                parts.append(
                    "\x1b[38;2;%d;%d;%dm\x1b[48;2;%d;%d;%dm\u2580"
                    % (
                        top >> 16,
                        (top >> 8) & 255,
                        top & 255,
                        bot >> 16,
                        (bot >> 8) & 255,
                        bot & 255,
                    )
                )
                last = col
            if parts:
                parts.append("\x1b[0m")
                out = "".join(parts)
                self.out.write(out)
                total += len(out)
        self.bytes_pushed += total
        return total

    def show(self):
        self.dirty.clear()
        return self.show_rect(0, 0, self.width, self.height)

    async def show_dirty(self):
        d = self.dirty
        total = 0
        while d.n:
            d.n -= 1
            j = 4 * d.n
            r = d.r
            total += self.show_rect(r[j], r[j + 1], r[j + 2] - r[j], r[j + 3] - r[j + 1])
            await asyncio.sleep_ms(0)
        return total

    def backlight(self, pct):
        # Screen saver: the terminal view dims like the panel would.
        self.level_pct = pct
        for i in range(len(self._prev)):
            self._prev[i] = -1
        self.show()

    def size_note(self):
        # "" at full size, else e.g. "screen at 1/6: 160x61 shows 1/2, 320x121 full size"
        s = self.scale
        if s == 1:
            return ""
        out = "screen at 1/%d:" % s
        if s > 2:
            out += " %dx%d shows 1/2," % needed(self.width, self.height, 2)
        out += " %dx%d full size" % needed(self.width, self.height, 1)
        if not (os.getenv("COLUMNS") and os.getenv("LINES")):
            out += " (export COLUMNS, LINES)"
        return out

    def clear_screen(self):
        self.out.write("\x1b[2J\x1b[?25l")
        note = self.size_note()
        if note:  # on the line under the screen
            self.out.write("\x1b[%d;1H%s" % (self.top + self.rows, note[: self.term_cols]))

    def restore(self):
        self.out.write("\x1b[0m\x1b[?25h\n")
