# Display loop: one asyncio task that waits for a model change, an input event or the 1 s tick,
# redraws only the areas whose dirty flags are set (labels skip unchanged text) and pushes the
# dirty rectangles to the panel. Also owns the header (title, link, clock), the footer (hint,
# page dots), navigation and the screen saver.
#
#   ui = Ui(panel, model, inputs=queue, backlight=panel.backlight)
#   asyncio.create_task(ui.run())
# MIT license
import asyncio
import time

from micropython import const

from ihd.state import model as M
from ihd.ui import fmt
from ihd.ui import screens as S
from ihd.ui import theme as T
from ihd.ui import widgets as W
from ihd.ui.canvas import Canvas
from ihd.ui.input import (
    EV_BACK,
    EV_LONG_BACK,
    EV_LONG_SELECT,
    EV_NEXT,
    EV_NONE,
    EV_PREV,
    EV_STAR,
    InputQueue,
)

_TICK_MS = const(1000)
_DIM_PCT = const(15)


class Ui:
    def __init__(
        self,
        panel,
        model,
        theme=None,
        inputs=None,
        backlight=None,
        dim_after_ms=60000,
        off_after_ms=600000,
    ):
        self.panel = panel
        self.m = model
        self.t = theme or T.for_panel(panel)
        self.cv = Canvas(panel)
        self.lab = W.Labels()
        self.inputs = inputs if inputs is not None else InputQueue()
        self.ch = M.Changes(model)  # this loop's dirty flags and wake Event
        self.inputs.wake = self.ch.wake
        self.backlight = backlight
        self.dim_after_ms = dim_after_ms
        self.off_after_ms = off_after_ms
        self.screens = S.make_all()
        self.cur = self.screens[0]
        t = self.t
        self.body = (0, t.header_h + 1, t.w, t.h - t.header_h - 1 - t.footer_h)
        self._pending = M.D_ALL
        self._full = True
        self._minute = -1
        self._last_input_ms = time.ticks_ms()
        self.bright_pct = 100
        self.frames = 0
        self.last_push_bytes = 0

    # -- navigation --
    def screen(self, name):
        for s in self.screens:
            if s.name == name:
                return s
        return None

    def go(self, name):
        s = self.screen(name)
        if s is not None and s is not self.cur:
            self.cur = s
            s.enter(self)
            self._full = True
            self._pending = M.D_ALL

    def _rotation(self):
        # Prepayment screen only for prepayment customers.
        pp = self.m.prepay_mode()
        return [s for s in self.screens if (pp or s.name != "prepay") and not s.hidden]

    def _step(self, d):
        rot = self._rotation()
        i = rot.index(self.cur) if self.cur in rot else 0
        self.go(rot[(i + d) % len(rot)].name)

    def spawn(self, coro):
        # A screen's long operation (e.g. a top-up request) runs as its own task.
        return asyncio.create_task(coro)

    def redraw(self):
        # A screen changed its own state: redraw it fully (header and footer included).
        self._full = True
        self._pending = M.D_ALL

    def handle(self, ev):
        self._last_input_ms = time.ticks_ms()
        if self.bright_pct < 100:
            self._set_backlight(100)
            return  # the first press only wakes the screen
        if self.cur.event(self, ev):
            return
        if ev in (EV_PREV, EV_NEXT):
            self._step(1 if ev == EV_NEXT else -1)
        elif ev == EV_LONG_SELECT:
            self.go("status")
        elif ev in (EV_BACK, EV_LONG_BACK, EV_STAR):
            self.go("home")

    def _set_backlight(self, pct):
        self.bright_pct = pct
        if self.backlight is not None:
            self.backlight(pct)

    def _saver(self, now_ms):
        idle = time.ticks_diff(now_ms, self._last_input_ms)
        if self.ch.alert:
            self.ch.alert = False
            self._last_input_ms = now_ms
            if self.bright_pct < 100:
                self._set_backlight(100)
        elif idle >= self.off_after_ms > 0:
            if self.bright_pct:
                self._set_backlight(0)
                self.go("home")
        elif idle >= self.dim_after_ms > 0 and self.bright_pct > _DIM_PCT:
            self._set_backlight(_DIM_PCT)

    # -- drawing --
    def _header(self, flags):
        cv, t, m, lab = self.cv, self.t, self.m, self.lab
        hh = t.header_h
        if flags == M.D_ALL:
            cv.fill_rect(0, 0, t.w, hh, t.header)
            cv.hline(0, hh, t.w, t.line)
            if t.mono:
                cv.text(t.small, self.cur.title, 0, 0, t.fg)
            else:
                cv.text(t.bold, self.cur.title, t.pad, (hh - t.bold.HEIGHT) // 2, t.fg)
        if flags & M.D_CLOCK:
            now = m.now()
            s = fmt.hhmm(now) if now else "--:--"
            if t.mono:
                lab.draw(cv, 30, t.small, s, t.w - 28, 0, 28, 10, t.fg, t.header, 2)
            else:
                lab.draw(cv, 30, t.bold, s, t.w - 60, 2, 60 - t.pad, hh - 4, t.fg, t.header, 2)
                lab.draw(
                    cv,
                    29,
                    t.small,
                    fmt.date_short(now) if now else "",
                    t.w - 150,
                    2,
                    88,
                    hh - 4,
                    t.dim,
                    t.header,
                    2,
                )
        if flags & M.D_LINK:
            if t.mono:
                W.link_icon(cv, t, t.w - 40, 2, m.link, t.header)
            else:
                W.link_icon(cv, t, t.w - 180, 6, m.link, t.header)

    def _footer(self):
        t, cv = self.t, self.cv
        if not t.footer_h:
            return
        y = t.h - t.footer_h
        cv.fill_rect(0, y, t.w, t.footer_h, t.header)
        cv.text_in(t.small, self.cur.hint(self), t.pad, y, t.w, t.footer_h, t.dim, 0)
        rot = self._rotation()
        x = t.w - t.pad - 8 * len(rot)
        for s in rot:
            c = t.fg if s is self.cur else t.line
            cv.fill_rect(x + 2, y + t.footer_h // 2 - 2, 4, 4, c)
            x += 8

    def render(self, flags):
        if self._full:
            self._full = False
            flags = M.D_ALL
            self.lab.reset()
            x, y, w, h = self.body
            self.cv.fill_rect(x, y, w, h, self.t.bg)
            self._footer()
        self._header(flags)
        self.cur.draw(self, flags)
        self.frames += 1

    def _clock_tick(self):
        now = self.m.now()
        minute = now // 60
        if minute != self._minute:
            self._minute = minute
            return M.D_CLOCK
        return 0

    # One pass of the loop without waiting: inputs, flags, draw. Returns the flags drawn.
    def step(self):
        while True:
            ev = self.inputs.get()
            if ev == EV_NONE:
                break
            self.handle(ev)
        flags = self.ch.take() | self._pending | self._clock_tick() | self.cur.tick(self)
        self._pending = 0
        if flags or self._full:
            self.render(flags)
        return flags

    async def _ticker(self):
        while True:
            await asyncio.sleep_ms(_TICK_MS)
            self.ch.wake.set()

    async def run(self):
        tick = asyncio.create_task(self._ticker())
        self.ch.wake.set()  # draw the first frame at once
        try:
            while True:
                await self.ch.wake.wait()
                self.ch.wake.clear()
                self._saver(time.ticks_ms())
                self.step()
                if self.panel.dirty.n:
                    self.last_push_bytes = await self.panel.show_dirty()
        finally:
            tick.cancel()
