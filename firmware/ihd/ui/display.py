# Display loop: one asyncio task that waits for a model change, an input event or the 1 s tick,
# redraws only the areas whose dirty flags are set (widgets skip unchanged values) and pushes
# the dirty rectangles to the panel. Also owns the frame around the screens (header: title,
# link, date, clock; footer: hint, page dots), navigation and the screen saver.
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
_RIGHT = const(2)

# The frame around the screens, one layout per resolution (kinds: widgets.py). "body" is the
# area the screens draw in; "dots" is (right end x, top y, pitch, size) of the page dots.
_FRAME_320x240 = const(
    (
        (None, "fill", (0, 0, 320, 24), "header"),
        (None, "fill", (0, 24, 320, 1), "line"),
        (None, "fill", (0, 224, 320, 16), "header"),
        ("title", "field", (8, 3, 0, 0), "bold", "fg", 0),
        ("link", "box", (140, 6, 14, 12)),
        ("unread", "box", (160, 3, 26, 18)),  # envelope + count while messages are unread
        ("date", "label", (186, 2, 72, 20), "small", "header", _RIGHT),
        ("clock", "label", (260, 2, 52, 20), "bold", "header", _RIGHT),
        ("body", "box", (0, 25, 320, 199)),
        ("hint", "field", (8, 224, 304, 16), "small", "dim", 0),
        ("dots", "box", (312, 230, 8, 4)),
    )
)
_FRAME_128x64 = const(
    (
        (None, "fill", (0, 0, 128, 11), "header"),
        (None, "fill", (0, 11, 128, 1), "line"),
        ("title", "field", (1, 0, 0, 0), "small", "fg", 0),
        ("link", "box", (88, 2, 7, 6)),
        ("unread", "box", (77, 2, 9, 7)),
        ("clock", "label", (99, 0, 28, 10), "small", "header", _RIGHT),
        ("body", "box", (0, 12, 128, 52)),
    )
)


class Ui:
    # Placed from the frame layout (widgets.place); the 128x64 one has no date and no footer.
    title: tuple
    link: tuple
    unread: tuple
    clock: W.Label
    body: tuple
    date: "W.Label | None" = None
    hint: "tuple | None" = None
    dots: "tuple | None" = None

    def __init__(
        self,
        panel,
        model,
        theme=None,
        inputs=None,
        backlight=None,
        dim_after_ms=60000,
        off_after_ms=600000,
        status_key="hold OK",
    ):
        # status_key: what opens Status on this board, as the footer names it (board.STATUS_KEY)
        self.panel = panel
        self.m = model
        self.t = theme or T.for_panel(panel)
        self.cv = Canvas(panel)
        self.inputs = inputs if inputs is not None else InputQueue()
        self.ch = M.Changes(model)  # this loop's dirty flags and wake Event
        self.inputs.wake = self.ch.wake
        self.backlight = backlight
        self.dim_after_ms = dim_after_ms
        self.off_after_ms = off_after_ms
        self.status_key = status_key
        self.frame = _FRAME_128x64 if self.t.mono else _FRAME_320x240
        W.place(self, self.frame)
        self._link = -1  # link state the header shows
        self._unread = -1  # unread messages the header shows
        self._urgent = model.urgent_seq  # the last urgent message opened (model.show_message)
        self.screens = S.make_all(self.t)
        self.cur = self.screens[0]
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
            # The first press on a dimmed or dark screen only wakes it: a key pressed to see
            # the screen must not also act on what was not visible (docs/ui.md).
            self._set_backlight(100)
            return
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
        cv, t, m = self.cv, self.t, self.m
        if flags & M.D_CLOCK:
            now = m.now()
            self.clock.show(self, fmt.hhmm(now) if now else "--:--", t.fg)
            if self.date is not None:
                self.date.show(self, fmt.date_short(now) if now else "", t.dim)
        if flags & M.D_LINK and m.link != self._link:  # an LQI update alone draws nothing
            self._link = m.link
            x, y, _, _ = self.link
            W.link_icon(cv, t, x, y, m.link, t.header)
        if flags & M.D_MESSAGES:
            n = m.unread()
            if n != self._unread:
                self._unread = n
                W.unread_icon(cv, t, self.unread, n)

    def _footer(self):
        # The hint and one dot per screen in the rotation (the current one lit).
        if self.hint is None or self.dots is None:
            return
        t, cv = self.t, self.cv
        W.field(cv, t, self.hint, self.cur.hint(self))
        rot = self._rotation()
        x, y, pitch, size = self.dots
        x -= pitch * len(rot)
        for s in rot:
            cv.fill_rect(x + (pitch - size) // 2, y, size, size, t.fg if s is self.cur else t.line)
            x += pitch

    def render(self, flags):
        # Everything on entering a screen, and when the model says everything changed (a change
        # of tenancy): the frame, then the screen on a clear body; every widget draws anew.
        if self._full or (flags & M.D_ALL) == M.D_ALL:
            self._full = False
            flags = M.D_ALL
            cv, t = self.cv, self.t
            W.decorate(cv, t, self.frame)
            W.clear(self)
            W.reset(self, self.frame)
            self._link = -1
            self._unread = -1
            self.cur.reset()
            self._footer()
            W.field(cv, t, self.title, self.cur.title)
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
        if self.m.urgent_seq != self._urgent:  # an urgent message started: open it now
            self._urgent = self.m.urgent_seq
            self.go("messages")
            self.cur.open(self, self.m.urgent_msg)
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
