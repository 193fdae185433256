# Screens: Home, History, Tariff, Messages, Prepayment, Status. Each draws the body area only
# (the display loop owns the header and footer) and redraws just the areas whose dirty flags are
# set; labels skip unchanged text. Consumption is read only through the model's privacy-filtered
# view_* / history() methods.
# MIT license
from micropython import const

from ihd.state import fuels as FU
from ihd.state import model as M
from ihd.ui import fmt
from ihd.ui import widgets as W
from ihd.ui.canvas import text_width
from ihd.ui.input import (
    EV_BACK,
    EV_HASH,
    EV_KEY0,
    EV_NEXT,
    EV_PREV,
    EV_SELECT,
    EV_STAR,
)
from ihd.ui.theme import fuel_colour

_DAY_S = const(86400)


class Screen:
    name = ""
    title = ""
    deps = M.D_ALL
    focusable = False
    hidden = False  # not in the prev/next rotation (reached from another screen)

    def __init__(self):
        self.focus = False

    def enter(self, ui):
        self.focus = False

    def tick(self, ui):
        # Called each pass of the loop (about once a second when idle): extra dirty flags.
        return 0

    def hint(self, ui):
        return "< > screens   OK select" if self.focusable else "< > screens"

    def draw(self, ui, flags):
        pass

    def event(self, ui, ev):
        # True when consumed.
        if not self.focusable:
            return False
        if not self.focus:
            if ev == EV_SELECT:
                self.focus = True
                ui.redraw()
                return True
            return False
        if ev == EV_BACK:
            self.focus = False
            ui.redraw()
            return True
        return self.focused_event(ui, ev)

    def focused_event(self, ui, ev):
        return ev in (EV_PREV, EV_NEXT, EV_SELECT)


# ---------------------------------------------------------------------------------------------
class Home(Screen):
    name = "home"
    title = "Home"

    def hint(self, ui):
        return "< > screens   hold OK: status"

    def draw(self, ui, flags):
        if ui.t.mono:
            self._draw_mono(ui, flags)
        else:
            self._draw_colour(ui, flags)

    def _draw_colour(self, ui, flags):
        cv, t, m, lab = ui.cv, ui.t, ui.m, ui.lab
        x0, y0, w, _ = ui.body
        full = flags == M.D_ALL
        if full:
            W.fuel_icon(cv, x0 + 10, y0 + 22, M.FUEL_ELEC, t.elec)
        if flags & (M.D_LIVE | M.D_TARIFF):
            d = m.view_demand(M.FUEL_ELEC)
            lab.draw(cv, 0, t.small, "Electricity now", x0 + 36, y0 + 4, 150, 14, t.dim, t.bg)
            lab.draw(
                cv,
                1,
                t.big,
                fmt.power(d) if d is not None else "--",
                x0 + 34,
                y0 + 18,
                200,
                t.big.HEIGHT,
                t.elec,
                t.bg,
            )
            rate = m.elec.unit_rate_mp_kwh
            s = ""
            if d is not None and rate is not None and d >= 0:
                s = fmt.money(d * rate // 1000) + " an hour"
            lab.draw(cv, 2, t.small, s, x0 + 36, y0 + 54, 150, 14, t.dim, t.bg)
        if flags & M.D_AMBIENT:
            lvl = m.ambient
            cx = x0 + w - 30
            cv.fill_rect(cx - 24, y0 + 6, 50, 62, t.bg)
            if 0 <= lvl <= 2:
                c = W.ambient_colour(t, lvl)
                cv.ellipse(cx, y0 + 24, 16, 16, c)
                cv.text_in(t.small, W.AMBIENT_TEXT[lvl], cx - 24, y0 + 44, 50, 14, c, 1)
                cv.text_in(t.small, "use", cx - 24, y0 + 56, 50, 12, t.dim, 1)
        cy = y0 + 76
        cw = (w - 3 * t.pad) // 2
        for f in m.fuels:
            cx = x0 + t.pad + f.id * (cw + t.pad)
            col = fuel_colour(t, f.id)
            base = 3 + 5 * f.id
            if full:
                cv.fill_rect(cx, cy, cw, 96, t.panel)
                cv.fill_rect(cx, cy, 3, 96, col)
                W.fuel_icon(cv, cx + 10, cy + 7, f.id, col, small=True)
                cv.text(t.bold, f.name, cx + 24, cy + 4, col)
                cv.text(t.small, "Today", cx + 10, cy + 24, t.dim)
            if flags & (M.D_ENERGY | M.D_CLOCK):
                today = m.view_today(f.id)
                if not f.present:
                    e, c = "No meter", ""
                elif today is None:
                    e, c = "-- kWh", "--"
                else:
                    e, c = fmt.kwh(today[0]), fmt.money(today[1]) if today[1] is not None else ""
                lab.draw(cv, base, t.medium, e, cx + 10, cy + 38, cw - 14, 18, t.fg, t.panel)
                lab.draw(cv, base + 1, t.bold, c, cx + 10, cy + 56, cw - 14, 18, col, t.panel)
                r = m.view_reading_utc(f.id)
                s = ("updated " + fmt.age(m.now(), r)) if r is not None else ""
                if r is not None and f.id == M.FUEL_GAS and m.now() - r > 3600:
                    s = "last gas " + fmt.age(m.now(), r)
                lab.draw(cv, base + 2, t.small, s, cx + 10, cy + 77, cw - 14, 15, t.dim, t.panel)
        if flags & (M.D_PREPAY | M.D_TARIFF | M.D_ENERGY):
            sy = cy + 100
            if m.prepay_mode():
                lab.text[15] = None  # the tariff line shares the row
                lab.draw(cv, 14, t.bold, "Credit", x0 + t.pad, sy, 64, 20, t.dim, t.bg)
                cw2 = (w - 2 * t.pad - 64) // 2
                for f in m.fuels:
                    p = m.view_prepay(f.id)
                    s = ""
                    if f.present and f.mode == M.MODE_PREPAY:
                        s = "%s %s" % (
                            f.fuel.short,
                            fmt.money(p[0]) if p is not None else "--",
                        )
                    c = t.bad if f.low_credit or (p is not None and p[0] <= 0) else t.fg
                    lab.draw(
                        cv,
                        16 + f.id,
                        t.bold,
                        s,
                        x0 + t.pad + 64 + f.id * cw2,
                        sy,
                        cw2,
                        20,
                        c,
                        t.bg,
                    )
            else:
                parts = []
                for f in m.fuels:
                    if f.present and f.unit_rate_mp_kwh is not None:
                        parts.append("%s %s/kWh" % (f.fuel.short, fmt.pence(f.unit_rate_mp_kwh)))
                for k in (14, 16, 17):
                    lab.text[k] = None
                lab.draw(
                    cv,
                    15,
                    t.small,
                    "   ".join(parts),
                    x0 + t.pad,
                    sy,
                    w - 2 * t.pad,
                    20,
                    t.dim,
                    t.bg,
                    1,
                )

    def _draw_mono(self, ui, flags):
        cv, t, m, lab = ui.cv, ui.t, ui.m, ui.lab
        x0, y0, w, _ = ui.body
        if flags & M.D_LIVE:
            d = m.view_demand(M.FUEL_ELEC)
            lab.draw(
                cv,
                0,
                t.big,
                fmt.power(d) if d is not None else "--",
                x0,
                y0 + 1,
                88,
                t.big.HEIGHT,
                1,
                0,
            )
        if flags & M.D_AMBIENT:
            cv.fill_rect(x0 + 90, y0 + 2, 38, 16, 0)
            if 0 <= m.ambient <= 2:
                s = ("LOW", "MED", "HIGH")[m.ambient]
                cv.fill_rect(x0 + 92, y0 + 4, 36, 13, 1)
                cv.text_in(t.small, s, x0 + 92, y0 + 4, 36, 13, 0, 1)
        if flags & (M.D_ENERGY | M.D_CLOCK | M.D_PREPAY):
            y = y0 + 21
            for f in m.fuels:
                today = m.view_today(f.id)
                tag = f.fuel.letter
                if not f.present:
                    s = tag + "  no meter"
                elif today is None:
                    s = tag + "  -- kWh"
                else:
                    s = "%s  %s kWh" % (tag, fmt.kwh_num(today[0]))
                    c = fmt.money(today[1]) if today[1] is not None else ""
                lab.draw(cv, 3 + f.id, t.small, s, x0, y, 84, 10, 1, 0)
                lab.draw(
                    cv,
                    5 + f.id,
                    t.small,
                    c if today is not None else "",
                    x0 + 84,
                    y,
                    44,
                    10,
                    1,
                    0,
                    2,
                )
                y += 10
            if m.prepay_mode():
                p = m.view_prepay(M.FUEL_ELEC) or m.view_prepay(M.FUEL_GAS)
                s = "Credit " + (fmt.money(p[0]) if p else "--")
            else:
                r = m.view_reading_utc(M.FUEL_GAS)
                s = ("Gas read " + fmt.age(m.now(), r)) if r is not None else ""
            lab.draw(cv, 7, t.small, s, x0, y, w, 10, 1, 0)


# ---------------------------------------------------------------------------------------------
_PERIOD_NAMES = ("Today", "8 days", "5 weeks", "13 months")


def _slot_index(period, start_utc, now_utc):
    if period == M.P_DAY:
        return (start_utc - fmt.local_midnight_utc(now_utc)) // 1800
    dn = fmt.local(now_utc) // _DAY_S
    ds = fmt.local(start_utc) // _DAY_S
    if period == M.P_8D:
        return 7 - (dn - ds)
    if period == M.P_5W:
        return 4 - ((dn - fmt.weekday(dn)) - (ds - fmt.weekday(ds))) // 7
    yn, mn, _ = fmt.civil(dn)
    ys, ms, _ = fmt.civil(ds)
    return 12 - ((yn * 12 + mn) - (ys * 12 + ms))


def _axis_kwh(v):
    if v % 1000 == 0:
        return "%d" % (v // 1000)
    if v % 100 == 0:
        return "%d.%d" % (v // 1000, v % 1000 // 100)
    return "%d.%02d" % (v // 1000, v % 1000 // 10)


def _axis_money(v):
    # v in 1e-5 GBP, axis values are "nice" multiples.
    if v >= 100000:
        p = v // 1000
        return "£%d" % (p // 100) if p % 100 == 0 else "£%d.%02d" % (p // 100, p % 100)
    if v % 1000 == 0:
        return "%dp" % (v // 1000)
    return "%d.%dp" % (v // 1000, v % 1000 // 100)


def _value_money(v):
    return fmt.money(v)[1:]  # "3.02": the axis carries the unit


_MONO_TITLES = tuple("%s %s" % (f, p) for f in (x.letter for x in FU.FUELS) for p in _PERIOD_NAMES)
_UNIT_TEXT = ("  kWh", "  cost")


class History(Screen):
    name = "history"
    title = "History"
    focusable = True
    deps = M.D_HISTORY | M.D_ENERGY

    def __init__(self):
        super().__init__()
        self.period = M.P_DAY
        self.fuel = M.FUEL_ELEC
        self.cost = False
        self._key = -1
        # What a render draws, prepared by _prepare only when its inputs change (the source's
        # rows, fuel/period/unit, visible_from, the half-hour of now): a render in between
        # (a new reading: D_ENERGY | D_HISTORY) formats nothing and builds no list.
        self._vals = [None] * 48  # per slot: energy or cost, None = no data
        self._xlabs = [None] * 48
        self._vlabs = [None] * 8
        self._ylabs = [None, None, None]
        self._n = 0
        self._cur = -1
        self._ymax = 1
        self._total = 0
        self._empty = True
        self._tot = ""
        self._tot_line = ""
        self._tot_mono = ""
        self._in = [None] * 6  # inputs of the prepared state (see _prepare)

    def hint(self, ui):
        if self.focus:
            return "< > period   OK fuel/unit   BACK done"
        return "< > screens   OK choose"

    def focused_event(self, ui, ev):
        if ev in (EV_PREV, EV_NEXT):
            self.period = (self.period + (1 if ev == EV_NEXT else 3)) % 4
        elif ev == EV_SELECT:
            # elec kWh -> elec £ -> gas kWh -> gas £
            k = (self.fuel * 2 + self.cost + 1) % 4
            self.fuel, self.cost = k // 2, bool(k & 1)
        else:
            return False
        ui.redraw()
        return True

    def event(self, ui, ev):
        if EV_KEY0 + 1 <= ev <= EV_KEY0 + 4:
            self.period = ev - EV_KEY0 - 1
        elif ev == EV_STAR:
            self.cost = not self.cost
        elif ev == EV_HASH:
            self.fuel ^= 1
        else:
            return super().event(ui, ev)
        ui.redraw()
        return True

    def _prepare(self, ui):
        m = ui.m
        now = m.now()
        ver = m.history_version()
        sel = (self.fuel * 4 + self.period) * 2 + (1 if self.cost else 0)
        vf = m.fuels[self.fuel].visible_from_utc
        hh = now // 1800
        mono = ui.t.mono
        k = self._in
        if (
            ver is not None
            and ver == k[0]
            and m.history_source is k[1]
            and sel == k[2]
            and vf == k[3]
            and hh == k[4]
            and mono == k[5]
        ):
            return
        k[0] = ver
        k[1] = m.history_source
        k[2] = sel
        k[3] = vf
        k[4] = hh
        k[5] = mono
        period = self.period
        n = M.PERIOD_SLOTS[period]
        vals = self._vals
        for i in range(48):
            vals[i] = None
        for start, wh, cost in m.history(self.fuel, period):
            i = _slot_index(period, start, now)
            if 0 <= i < n:
                v = cost if self.cost else wh
                if v is not None:
                    vals[i] = v if vals[i] is None else vals[i] + v
        self._n = n
        self._cur = _slot_index(period, now, now) if period == M.P_DAY else n - 1
        total = ymax = 0
        empty = True
        for i in range(n):
            v = vals[i]
            if v is not None:
                empty = False
                total += v
                if v > ymax:
                    ymax = v
        ymax = W.nice_max(ymax)
        self._total = total
        self._empty = empty
        self._ymax = ymax
        ylab = _axis_money if self.cost else _axis_kwh
        for j in range(3):
            self._ylabs[j] = ylab(ymax * j // 2)
        tot = fmt.money(total) if self.cost else fmt.kwh(total)
        self._tot = tot
        self._tot_line = "Total " + tot
        self._tot_mono = tot.replace(" kWh", "kWh")
        xlab = self._xlab(ui)
        for i in range(n):
            self._xlabs[i] = xlab(i)
        if n <= 8:
            vlab = _value_money if self.cost else fmt.kwh_num
            for i in range(n):
                v = vals[i]
                self._vlabs[i] = vlab(v) if v is not None and v > 0 else None

    def _xlab(self, ui):
        m, mono = ui.m, ui.t.mono
        now = m.now()
        dn = fmt.local(now) // _DAY_S
        p = self.period
        if p == M.P_DAY:
            return lambda i: (
                ("%d" % (i // 2) if mono else "%02d:00" % (i // 2)) if i % 12 == 0 else None
            )
        if p == M.P_8D:
            return lambda i: fmt.day_name(fmt.weekday(dn - 7 + i))[: 1 if mono else 3]

        if p == M.P_5W:
            mon = dn - fmt.weekday(dn)

            def wk(i):
                _, mo, d = fmt.civil(mon - 7 * (4 - i))
                return "%d" % d if mono else "%d %s" % (d, fmt.month_name(mo))

            return wk
        _, mn, _ = fmt.civil(dn)
        return lambda i: fmt.month_name((mn - 13 + i) % 12 + 1)[:1]

    def draw(self, ui, flags):
        # The minute tick matters only when the slot in progress moves on.
        now = ui.m.now()
        key = now // 1800 if self.period == M.P_DAY else fmt.local(now) // _DAY_S
        if flags == M.D_CLOCK and key == self._key:
            return
        self._key = key
        if not flags & (M.D_HISTORY | M.D_ENERGY | M.D_CLOCK):
            return
        self._prepare(ui)
        cv, t = ui.cv, ui.t
        x0, y0, w, h = ui.body
        vals = self._vals
        n = self._n
        col = fuel_colour(t, self.fuel)
        if t.mono:
            cv.fill_rect(x0, y0, w, h, 0)
            s = _MONO_TITLES[self.fuel * 4 + self.period]
            cv.text(t.small, s, x0, y0 + 1, 1)
            s = self._tot_mono
            cv.text(t.small, s, x0 + w - text_width(t.small, s), y0 + 1, 1)
            W.bar_chart(
                cv,
                t,
                x0,
                y0 + 12,
                w,
                h - 12,
                vals,
                n,
                1,
                1,
                self._cur,
                0,
                self._ymax,
                self._ylabs,
                self._xlabs,
            )
            s = self._ylabs[2]  # the label of ymax
            cv.fill_rect(x0, y0 + 11, text_width(t.small, s) + 2, 10, 0)
            cv.text(t.small, s, x0, y0 + 11, 1)
            if self.focus:
                cv.rect(x0, y0, w, 11, 1)
            return
        # Period tabs.
        tab_w = (w - 2 * t.pad) // 4
        for i in range(4):
            tx = x0 + t.pad + i * tab_w
            sel = i == self.period
            cv.fill_rect(tx, y0 + 4, tab_w - 4, 20, col if sel else t.panel)
            cv.text_in(
                t.small,
                _PERIOD_NAMES[i],
                tx,
                y0 + 4,
                tab_w - 4,
                20,
                t.on_accent if sel else t.dim,
                1,
            )
        if self.focus:
            cv.rect(x0 + t.pad - 2, y0 + 2, 4 * tab_w, 24, t.fg)
        else:
            cv.fill_rect(x0 + t.pad - 2, y0 + 2, 4 * tab_w, 2, t.bg)
            cv.fill_rect(x0 + t.pad - 2, y0 + 24, 4 * tab_w, 2, t.bg)
        # Fuel / unit line with the period total.
        cv.fill_rect(x0, y0 + 28, w, 22, t.bg)
        W.fuel_icon(cv, x0 + t.pad, y0 + 32, self.fuel, col, small=True)
        name = FU.FUELS[self.fuel].name
        xe = cv.text(t.bold, name, x0 + t.pad + 14, y0 + 30, col)
        cv.text(t.small, _UNIT_TEXT[1 if self.cost else 0], xe, y0 + 33, t.dim)
        s = self._tot_line
        cv.text(t.bold, s, x0 + w - t.pad - text_width(t.bold, s), y0 + 30, t.fg)
        cy = y0 + 54
        ch = h - 56
        W.bar_chart(
            cv,
            t,
            x0 + t.pad,
            cy,
            w - 2 * t.pad,
            ch,
            vals,
            n,
            col,
            fuel_colour(t, self.fuel, cur=True),
            self._cur,
            t.bg,
            self._ymax,
            self._ylabs,
            self._xlabs,
            self._vlabs,
        )
        if self._total == 0 and self._empty:
            cv.text_in(t.medium, "No data yet", x0, cy, w, ch - 16, t.dim, 1)


# ---------------------------------------------------------------------------------------------
class Tariff(Screen):
    name = "tariff"
    title = "Tariff"
    deps = M.D_TARIFF

    def draw(self, ui, flags):
        if not flags & M.D_TARIFF:
            return
        cv, t, m = ui.cv, ui.t, ui.m
        x0, y0, w, h = ui.body
        cv.fill_rect(x0, y0, w, h, t.bg)
        if t.mono:
            y = y0 + 1
            cv.text(t.small, W.ellipsize(t.small, m.supplier or "Supplier unknown", w), x0, y, 1)
            y += 11
            for f in m.fuels:
                tag = f.fuel.short
                r = fmt.pence(f.unit_rate_mp_kwh) + "/kWh" if f.unit_rate_mp_kwh else "--"
                cv.text(t.small, tag, x0, y, 1)
                cv.text(t.small, r, x0 + w - text_width(t.small, r), y, 1)
                y += 10
                s = "SC " + (fmt.pence(f.standing_mp_day) + "/day" if f.standing_mp_day else "--")
                if f.tier_label:
                    s += " " + f.tier_label
                cv.text(t.small, W.ellipsize(t.small, s, w - 6), x0 + 6, y, 1)
                y += 11
            return
        cv.text(t.small, "Supplier", x0 + t.pad, y0 + 6, t.dim)
        cv.text(
            t.bold, W.ellipsize(t.bold, m.supplier or "Unknown", w - 80), x0 + 72, y0 + 4, t.fg
        )
        cy = y0 + 28
        ch = (h - 28 - 3 * 4) // 2
        for f in m.fuels:
            col = fuel_colour(t, f.id)
            y = cy + f.id * (ch + 6)
            cv.fill_rect(x0 + t.pad, y, w - 2 * t.pad, ch, t.panel)
            cv.fill_rect(x0 + t.pad, y, 3, ch, col)
            W.fuel_icon(cv, x0 + t.pad + 10, y + 8, f.id, col, small=True)
            cv.text(t.bold, f.name, x0 + t.pad + 26, y + 5, col)
            if f.tier_label or f.tier is not None:
                s = f.tier_label or ("Tier %d" % f.tier)
                tw = text_width(t.small, s) + 12
                tx = x0 + w - t.pad - 8 - tw
                cv.fill_rect(tx, y + 6, tw, 16, col)
                cv.text_in(t.small, s, tx, y + 6, tw, 16, t.on_accent, 1)
            if f.unit_rate_mp_kwh is None:
                cv.text(t.medium, "Price not set by supplier", x0 + t.pad + 12, y + 30, t.dim)
                continue
            cv.text(t.big, fmt.pence(f.unit_rate_mp_kwh), x0 + t.pad + 10, y + 24, t.fg)
            cv.text(t.small, "per kWh", x0 + t.pad + 12, y + 60, t.dim)
            s = "Standing charge"
            cv.text(t.small, s, x0 + w - t.pad - 10 - 110, y + 30, t.dim)
            v = fmt.pence(f.standing_mp_day) + "/day" if f.standing_mp_day is not None else "--"
            cv.text_in(t.bold, v, x0 + w - t.pad - 10 - 110, y + 44, 110, 18, t.fg, 0)


# ---------------------------------------------------------------------------------------------
class Messages(Screen):
    name = "messages"
    title = "Messages"
    focusable = True
    deps = M.D_MESSAGES

    def __init__(self):
        super().__init__()
        self.sel = 0
        self.detail = False

    def enter(self, ui):
        super().enter(ui)
        self.detail = False
        self.sel = 0

    def hint(self, ui):
        if self.detail:
            msgs = ui.m.view_messages()
            if self.sel < len(msgs) and msgs[self.sel].confirm and not msgs[self.sel].confirmed:
                return "OK confirm   BACK list"
            return "BACK list"
        if self.focus:
            return "< > choose   OK open   BACK done"
        return "< > screens   OK open"

    def event(self, ui, ev):
        msgs = ui.m.view_messages()
        if self.detail:
            # In the detail view prev/next are swallowed (no accidental screen change).
            if ev == EV_BACK:
                self.detail = False
            elif ev == EV_SELECT:
                if self.sel < len(msgs):
                    msg = msgs[self.sel]
                    if msg.confirm and not msg.confirmed:
                        ui.m.confirm_message(msg)
            elif ev not in (EV_PREV, EV_NEXT):
                return False
            ui.redraw()
            return True
        if not msgs:
            return False
        if self.focus and ev == EV_SELECT:
            self.detail = True
            ui.redraw()
            return True
        return super().event(ui, ev)

    def focused_event(self, ui, ev):
        n = len(ui.m.view_messages())
        if ev == EV_NEXT:
            self.sel = (self.sel + 1) % n
        elif ev == EV_PREV:
            self.sel = (self.sel - 1) % n
        else:
            return False
        ui.redraw()
        return True

    def draw(self, ui, flags):
        if not flags & M.D_MESSAGES:
            return
        cv, t, m = ui.cv, ui.t, ui.m
        x0, y0, w, h = ui.body
        cv.fill_rect(x0, y0, w, h, t.bg)
        msgs = m.view_messages()
        if self.sel >= len(msgs):
            self.sel = 0
        if not msgs:
            cv.text_in(t.medium, "No messages", x0, y0, w, h, t.dim, 1)
            return
        if self.detail:
            self._detail(ui, msgs[self.sel])
            return
        fh = t.small.HEIGHT
        row_h = 11 if t.mono else 2 * fh + 14
        first = 0
        rows = h // row_h
        if self.sel >= rows:
            first = self.sel - rows + 1
        for k in range(first, min(len(msgs), first + rows)):
            msg = msgs[k]
            y = y0 + (k - first) * row_h
            sel = self.focus and k == self.sel
            if t.mono:
                if sel:
                    cv.fill_rect(x0, y, w, row_h, 1)
                mark = "! " if msg.confirm and not msg.confirmed else ""
                cv.text(
                    t.small,
                    W.ellipsize(t.small, mark + msg.text, w - 2),
                    x0 + 1,
                    y,
                    0 if sel else 1,
                )
                continue
            cv.fill_rect(x0 + t.pad, y + 3, w - 2 * t.pad, row_h - 4, t.sel if sel else t.panel)
            if msg.confirm and not msg.confirmed:
                cv.fill_rect(x0 + t.pad, y + 3, 3, row_h - 4, t.warn)
            d = fmt.date_short(msg.time_utc) + "  " + fmt.hhmm(msg.time_utc)
            cv.text(t.small, d, x0 + t.pad + 10, y + 6, t.dim)
            if msg.confirm:
                s = "Confirmed" if msg.confirmed else "Please confirm"
                c = t.good if msg.confirmed else t.warn
                cv.text(t.small, s, x0 + w - t.pad - 8 - text_width(t.small, s), y + 6, c)
            first_line = msg.text.split("\n")[0]
            cv.text(
                t.medium,
                W.ellipsize(t.medium, first_line, w - 2 * t.pad - 20),
                x0 + t.pad + 10,
                y + 8 + fh,
                t.fg,
            )

    def _detail(self, ui, msg):
        cv, t = ui.cv, ui.t
        x0, y0, w, h = ui.body
        if t.mono:
            lines = W.wrap(t.small, msg.text, w)
            y = y0
            for ln in lines[:4]:
                cv.text(t.small, ln, x0, y, 1)
                y += 10
            if msg.confirm:
                s = "Confirmed" if msg.confirmed else "OK to confirm"
                cv.fill_rect(x0, y0 + h - 11, w, 11, 1)
                cv.text_in(t.small, s, x0, y0 + h - 11, w, 11, 0, 1)
            return
        cv.text(
            t.small,
            fmt.date_short(msg.time_utc) + "  " + fmt.hhmm(msg.time_utc),
            x0 + t.pad,
            y0 + 6,
            t.dim,
        )
        y = y0 + 24
        for ln in W.wrap(t.medium, msg.text, w - 2 * t.pad)[:7]:
            cv.text(t.medium, ln, x0 + t.pad, y, t.fg)
            y += t.medium.HEIGHT + 3
        if msg.confirm:
            bw, bh = 150, 24
            bx, by = x0 + (w - bw) // 2, y0 + h - bh - 4
            if msg.confirmed:
                cv.text_in(t.bold, "Confirmed", bx, by, bw, bh, t.good, 1)
            else:
                cv.fill_rect(bx, by, bw, bh, t.warn)
                cv.text_in(t.bold, "OK to confirm", bx, by, bw, bh, t.on_accent, 1)


# ---------------------------------------------------------------------------------------------
class Prepay(Screen):
    # Balances only on an IHD; with model.prepay_actions set (a PPMID) the full screen from
    # screens_prepay: alerts, emergency credit offer, top-up (UTRN entry) and the top-up log.
    name = "prepay"
    title = "Prepayment"
    deps = M.D_PREPAY

    def __init__(self):
        super().__init__()
        self.ppmid = None  # screens_prepay.PrepayPanel, created when actions appear

    def _panel(self, ui):
        if ui.m.prepay_actions is None:
            return None
        if self.ppmid is None:
            from ihd.ui.screens_prepay import PrepayPanel

            self.ppmid = PrepayPanel()
        return self.ppmid

    def enter(self, ui):
        super().enter(ui)
        p = self._panel(ui)
        if p is not None:
            p.enter()

    def hint(self, ui):
        p = self._panel(ui)
        return super().hint(ui) if p is None else p.hint(ui)

    def event(self, ui, ev):
        p = self._panel(ui)
        return False if p is None else p.event(self, ui, ev)

    def draw(self, ui, flags):
        if not flags & M.D_PREPAY:
            return
        p = self._panel(ui)
        if p is not None and ui.m.prepay_mode():
            p.draw(ui, flags)
            return
        cv, t, m = ui.cv, ui.t, ui.m
        x0, y0, w, h = ui.body
        cv.fill_rect(x0, y0, w, h, t.bg)
        if not m.prepay_mode():
            cv.text_in(t.medium, "Credit meter", x0, y0, w, h, t.dim, 1)
            return
        fuels = [f for f in m.fuels if f.present and f.mode == M.MODE_PREPAY]
        if t.mono:
            y = y0 + 1
            for f in fuels:
                p = m.view_prepay(f.id)
                tag = f.fuel.short
                cv.text(t.small, tag, x0, y, 1)
                s = fmt.money(p[0]) if p else "--"
                cv.text(t.small, s, x0 + w - text_width(t.small, s), y, 1)
                y += 10
                if p:
                    s = "EC %s  Debt %s" % (fmt.money(p[1] or 0), fmt.money(p[2] or 0))
                    cv.text(t.small, W.ellipsize(t.small, s, w - 4), x0 + 4, y, 1)
                y += 11
            return
        ch = (h - 8) // max(1, len(fuels)) - 6
        for k in range(len(fuels)):
            f = fuels[k]
            col = fuel_colour(t, f.id)
            y = y0 + 6 + k * (ch + 6)
            cv.fill_rect(x0 + t.pad, y, w - 2 * t.pad, ch, t.panel)
            cv.fill_rect(x0 + t.pad, y, 3, ch, col)
            W.fuel_icon(cv, x0 + t.pad + 10, y + 8, f.id, col, small=True)
            cv.text(t.bold, f.name + " credit", x0 + t.pad + 26, y + 5, col)
            p = m.view_prepay(f.id)
            if p is None:
                cv.text(t.medium, "No balance yet", x0 + t.pad + 12, y + 32, t.dim)
                continue
            c = t.bad if f.low_credit or p[0] <= 0 else t.fg
            cv.text(t.big, fmt.money(p[0]), x0 + t.pad + 10, y + 26, c)
            rx = x0 + w - t.pad - 120
            cv.text(t.small, "Emergency", rx, y + 28, t.dim)
            cv.text(
                t.bold,
                fmt.money(p[1] or 0) + (" in use" if f.ec_in_use else ""),
                rx,
                y + 41,
                t.warn if f.ec_in_use else t.fg,
            )
            cv.text(t.small, "Debt", rx, y + 60 if ch > 80 else y + 28, t.dim)
            if ch > 80:
                cv.text(t.bold, fmt.money(p[2] or 0), rx, y + 73, t.fg)
            if f.low_credit:
                cv.text(t.small, "Low credit: top up soon", x0 + t.pad + 12, y + ch - 18, t.bad)


# ---------------------------------------------------------------------------------------------
_LINK_TEXT = ("down", "joining", "up")


class Status(Screen):
    name = "status"
    title = "Status"
    focusable = True
    deps = M.D_STATUS | M.D_LINK

    def __init__(self):
        super().__init__()
        self.page = 0

    def enter(self, ui):
        super().enter(ui)
        self.page = 0

    def hint(self, ui):
        if self.focus:
            return "< > more   BACK done"
        return "< > screens   OK more" if ui.t.mono else "< > screens"

    def focused_event(self, ui, ev):
        if ev in (EV_PREV, EV_NEXT, EV_SELECT):
            self.page += -1 if ev == EV_PREV else 1
            ui.redraw()
            return True
        return False

    def rows(self, m):
        meters = []
        for fuel_id, eui, node in m.meters:
            meters.append(
                (
                    FU.FUELS[fuel_id].short + " meter",
                    FU.FUELS[fuel_id].short,
                    "%s  0x%04X" % (fmt.hex_eui64(eui)[-11:], node),
                )
            )
        link = _LINK_TEXT[m.link] + (" LQI %d" % m.link_lqi if m.link_lqi is not None else "")
        return (
            [
                ("Firmware", "FW", m.fw_version),
                ("NCP", "NCP", m.ncp_version or "-"),
                ("EZSP", "EZSP", "v%d" % m.ezsp_version if m.ezsp_version else "-"),
                ("Network", "Net", m.net_state),
                ("HAN link", "Link", link),
                (
                    "Channel",
                    "Chan",
                    "%s  PAN 0x%04X" % (m.channel, m.pan_id) if m.channel else "-",
                ),
                ("EUI64", "EUI", fmt.hex_eui64(m.eui64)),
            ]
            + meters
            + [("Tenancy", "CoT", m.tenancy_event or "no change recorded")]
            + ([("Joining", "Join", m.join_status)] if m.join_status else [])
            + ([("Install code", "IC", m.install_code_text)] if m.install_code_text else [])
        )

    def draw(self, ui, flags):
        if not flags & (M.D_STATUS | M.D_LINK):
            return
        cv, t, m = ui.cv, ui.t, ui.m
        x0, y0, w, h = ui.body
        cv.fill_rect(x0, y0, w, h, t.bg)
        rows = self.rows(m)
        rh = 10 if t.mono else t.small.HEIGHT + 4
        per = h // rh
        pages = (len(rows) + per - 1) // per
        self.page %= pages
        first = self.page * per
        kw = 30 if t.mono else 84
        y = y0 + (0 if t.mono else 3)
        for k in range(first, min(len(rows), first + per)):
            key, short, val = rows[k]
            if t.mono:
                key = short
            cv.text(t.small, key, x0 + (0 if t.mono else t.pad), y, t.dim)
            vx = x0 + kw + (0 if t.mono else t.pad)
            cv.text(t.small, W.ellipsize(t.small, val, w - kw - 2 * t.pad), vx, y, t.fg)
            y += rh
        if pages > 1 and not t.mono:
            s = "%d/%d" % (self.page + 1, pages)
            cv.text(t.small, s, x0 + w - t.pad - text_width(t.small, s), y0 + 3, t.dim)


def make_all():
    from ihd.ui.screens_prepay import Utrn

    return [Home(), History(), Tariff(), Prepay(), Messages(), Status(), Utrn()]
