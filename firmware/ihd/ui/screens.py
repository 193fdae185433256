# Screens: Home, History, Tariff, Prepayment (balances), Messages, Status; the PPMID ones are in
# screens_prepay.py. Where is a screen drawn: each screen class below is preceded by its two
# layouts (_<SCREEN>_320x240, _<SCREEN>_128x64: what is where, as data; kinds in widgets.py),
# and its draw() fills them. Screens draw the body only (display.py owns the header and footer)
# and redraw just what the dirty flags name; Labels skip values that did not change.
# Coordinates live in the layouts only; a widget draws relative to the box it is given.
# Consumption is read only through the model's privacy-filtered view_* / history() methods.
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
_HH_S = const(1800)
# Text alignment in layouts (widgets.py).
_CENTRE = const(1)
_RIGHT = const(2)
_FIT = const(4)
# Fuel indices (ihd.state.fuels) as literals: a layout must be constant data.
_ELEC = const(0)
_GAS = const(1)
# Fuel card offsets (widgets.fuel_card): (stripe on top, icon x, icon y, title x, title y).
_CARD_HOME = const((0, 10, 7, 24, 4))
_CARD = const((0, 10, 8, 26, 5))


class Screen:
    name = ""
    title = ""
    deps = M.D_ALL
    focusable = False
    hidden = False  # not in the prev/next rotation (reached from another screen)

    def __init__(self, t, colour, mono):
        # Takes the layout for the theme's resolution and places its widgets on self.
        self.lay = mono if t.mono else colour
        W.place(self, self.lay)
        self.focus = False

    def reset(self):
        # The body was cleared: the widgets draw again on the next draw().
        W.reset(self, self.lay)

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


# -- Home --------------------------------------------------------------------------------------
# Live demand, ambient level, today per fuel (with the comparison with yesterday); the credit
# (prepayment), the daily budget or the unit rates. 128x64 has one summary line for the extras:
# the credit, or in turn (every _TURN_S) the budget, each fuel's comparison, the gas reading age.
_HOME_320x240 = const(
    (
        (None, "icon", (10, 45, 16, 20), _ELEC, False),
        (None, "text", (36, 27, 150, 14), "small", "dim", "Electricity now", 0),
        (None, "card", (8, 91, 148, 108), _ELEC, _CARD_HOME),
        (None, "card", (164, 91, 148, 108), _GAS, _CARD_HOME),
        (None, "text", (18, 113, 0, 0), "small", "dim", "Today", 0),
        (None, "text", (174, 113, 0, 0), "small", "dim", "Today", 0),
        ("demand", "label", (34, 41, 200, 34), "big", "bg", 0),
        ("cost_hour", "label", (36, 76, 112, 14), "small", "bg", 0),  # apart: pushed on its own
        ("export", "label", (150, 76, 114, 14), "small", "bg", _RIGHT),  # only when exporting
        ("ambient", "box", (266, 29, 50, 62)),
        ("energy", "per-fuel", (18, 126, 134, 18), "medium", "panel", 0, 156, 0),
        ("cost", "per-fuel", (18, 144, 134, 18), "bold", "panel", 0, 156, 0),
        ("compare", "per-fuel", (18, 164, 134, 15), "small", "panel", 0, 156, 0),
        ("age", "per-fuel", (18, 180, 134, 15), "small", "panel", 0, 156, 0),
        # the bottom row: "Credit" and a balance per fuel, the budget, or the unit rates
        ("credit_caption", "label", (8, 202, 64, 20), "bold", "bg", 0),
        ("credit", "per-fuel", (72, 202, 120, 20), "bold", "bg", 0, 120, 0),
        ("budget_caption", "label", (8, 202, 56, 20), "small", "bg", 0),
        ("budget_bar", "box", (64, 202, 120, 20)),
        ("budget_text", "label", (188, 202, 124, 20), "small", "bg", _RIGHT),
        ("rates", "label", (8, 202, 304, 20), "small", "bg", _CENTRE),
    )
)
_HOME_128x64 = const(
    (
        ("demand", "label", (0, 13, 88, 19), "big", "bg", 0),
        ("ambient", "box", (90, 14, 37, 16)),
        ("energy", "per-fuel", (0, 33, 84, 10), "small", "bg", 0, 0, 10),  # "E  4.25 kWh"
        ("cost", "per-fuel", (84, 33, 43, 10), "small", "bg", _RIGHT, 0, 10),
        ("summary", "label", (0, 53, 127, 10), "small", "bg", 0),
        ("budget_bar", "box", (76, 53, 50, 10)),  # right of the summary's "£3.71 of £5.00"
    )
)
_TURN_S = const(5)  # 128x64: seconds each summary item stays


class Home(Screen):
    name = "home"
    title = "Home"
    demand: W.Label
    ambient: tuple
    energy: tuple
    cost: tuple
    budget_bar: tuple
    cost_hour: "W.Label | None" = None
    compare: "tuple | None" = None
    age: "tuple | None" = None
    credit_caption: "W.Label | None" = None
    credit: "tuple | None" = None
    budget_caption: "W.Label | None" = None
    budget_text: "W.Label | None" = None
    rates: "W.Label | None" = None
    summary: "W.Label | None" = None
    export: "W.Label | None" = None

    def __init__(self, t):
        super().__init__(t, _HOME_320x240, _HOME_128x64)
        # Each fuel's comparison text and what it was computed from (history version, the
        # half-hour, visible_from, the source): recomputed only when one of them changes.
        self._cmp = ["", ""]
        self._cmp_in = ([None] * 4, [None] * 4)
        self._bar = -1  # the budget bar's fill as drawn (px), -1: not drawn
        self.turn = 0  # 128x64: which summary item is shown (advanced every _TURN_S)
        self._turn_at = -1

    def reset(self):
        super().reset()
        self._bar = -1

    def hint(self, ui):
        return "< > screens   %s: status" % ui.status_key

    def tick(self, ui):
        # 128x64: the summary line moves to its next item every _TURN_S (model time).
        if self.summary is None:
            return 0
        k = ui.m.now() // _TURN_S
        if k == self._turn_at:
            return 0
        first = self._turn_at < 0
        self._turn_at = k
        if first:
            return 0
        self.turn += 1
        return M.D_ENERGY

    def draw(self, ui, flags):
        cv, t, m = ui.cv, ui.t, ui.m
        if flags == M.D_ALL:  # a full redraw: the parts that never change first
            W.decorate(cv, t, self.lay)
        if flags & (M.D_LIVE | M.D_TARIFF):
            d = m.view_demand(M.FUEL_ELEC)
            self.demand.show(ui, fmt.power(d), t.elec)
            if self.cost_hour is not None:
                rate = m.elec.unit_rate_mp_kwh
                s = ""
                if d is not None and rate is not None and d >= 0:
                    s = fmt.money(d * rate // 1000) + " an hour"
                self.cost_hour.show(ui, s, t.dim)
        if flags & M.D_AMBIENT:
            W.ambient(cv, t, self.ambient, m.ambient)
        if flags & (M.D_ENERGY | M.D_HISTORY | M.D_CLOCK | M.D_PREPAY):
            for f in m.fuels:
                self._today(ui, f)
            if self.export is not None:
                x = m.view_export_today()
                self.export.show(ui, "" if x is None else "Exported " + fmt.kwh(x), t.good)
            if self.summary is not None:
                self._summary(ui, self.summary)
        if flags & (M.D_PREPAY | M.D_TARIFF | M.D_ENERGY):
            self._bottom(ui)

    def _compared(self, ui, fuel_id):
        # The comparison with yesterday (model.vs_yesterday) as text, "vs yesterday +12%" ("E vs
        # yesterday +12%" on 128x64), or "": kept until its inputs change (a reading: 0 B).
        m = ui.m
        now = m.now()
        k = self._cmp_in[fuel_id]
        ver = m.history_version()
        hh = now - now % _HH_S
        vf = m.fuels[fuel_id].visible_from_utc
        src = m.history_source
        if ver is None or ver != k[0] or hh != k[1] or vf != k[2] or src is not k[3]:
            k[0], k[1], k[2], k[3] = ver, hh, vf, src
            p = m.vs_yesterday(fuel_id)
            s = ""
            if p is not None:
                s = "vs yesterday %+d%%" % p
                if ui.t.mono:
                    s = FU.FUELS[fuel_id].letter + " " + s
            self._cmp[fuel_id] = s
        return self._cmp[fuel_id]

    def _today(self, ui, f):
        t, m = ui.t, ui.m
        today = m.view_today(f.id)
        if not f.present:
            e, c = "No meter", ""
        elif today is None:
            e, c = "-- kWh", "--"
        else:
            e = fmt.kwh(today[0])
            c = fmt.money(today[1]) if today[1] is not None else ""
        if t.mono:  # one line per fuel: its letter first; no cost while today is unknown
            e = "%s  %s" % (f.fuel.letter, e if f.present else "no meter")
            if today is None:
                c = ""
        self.energy[f.id].show(ui, e, t.fg)
        self.cost[f.id].show(ui, c, fuel_colour(t, f.id))
        if self.compare is not None:
            self.compare[f.id].show(ui, self._compared(ui, f.id) if f.present else "", t.dim)
        if self.age is not None:
            r = m.view_reading_utc(f.id)
            s = ""
            if r is not None:
                now = m.now()
                s = "last gas " if f.id == M.FUEL_GAS and now - r > 3600 else "updated "
                s += fmt.age(now, r)
            self.age[f.id].show(ui, s, t.dim)

    def _summary(self, ui, lab):
        # 128x64: the credit on a prepayment meter; else in turn the budget, each fuel's
        # comparison with yesterday and the age of the last gas reading (those there are).
        m = ui.m
        if m.prepay_mode():
            p = m.view_prepay(M.FUEL_ELEC) or m.view_prepay(M.FUEL_GAS)
            lab.show(ui, "Credit " + (fmt.money(p[0]) if p else "--"), ui.t.fg)
            return
        items = []
        if m.daily_budget_mp is not None:
            items.append(None)  # the budget: text and bar
        for f in m.fuels:
            if f.present:
                s = self._compared(ui, f.id)
                if s:
                    items.append(s)
        r = m.view_reading_utc(M.FUEL_GAS)
        if r is not None:
            items.append("Gas read " + fmt.age(m.now(), r))
        x = m.view_export_today()  # only when the home exports
        if x is not None:
            items.append("Exported " + fmt.kwh(x))
        s = items[self.turn % len(items)] if items else ""
        if s is None:
            self._budget(ui, lab, None)
        else:
            lab.show(ui, s, ui.t.fg)
            self._bar = -1

    def _budget(self, ui, text, caption):
        # Today's cost so far against the daily budget: "£3.71 of £5.00" and a bar filled to
        # the share spent (on 320x240 good / warn from 80 % / bad over the budget).
        t, m = ui.t, ui.m
        budget = m.daily_budget_mp or 1
        spent = m.today_cost_mp()
        if caption is not None:
            caption.show(ui, "Budget", t.dim)
        s = fmt.money(budget)
        drew = text.show(ui, ("--" if spent is None else fmt.money(spent)) + " of " + s, t.fg)
        x, y, w, h = self.budget_bar
        fill = 0 if spent is None or spent <= 0 else W.muldiv(min(spent, budget), w - 2, budget)
        c = t.good if spent is None or spent * 5 < budget * 4 else (
            t.warn if spent <= budget else t.bad)  # fmt: skip
        if drew or fill != self._bar:
            self._bar = fill
            W.progress(ui.cv, t, self.budget_bar, fill, c)

    def _bottom(self, ui):
        # 320x240: the credit per fuel in prepayment, else the daily budget if there is one,
        # else the unit rates, in one row.
        t, m = ui.t, ui.m
        caption, credit, rates = self.credit_caption, self.credit, self.rates
        bcap, btext = self.budget_caption, self.budget_text
        if caption is None or credit is None or rates is None or bcap is None or btext is None:
            return
        prepay = m.prepay_mode()
        budget = not prepay and m.daily_budget_mp is not None
        if not prepay:
            caption.reset()
            for lab in credit:
                lab.reset()
        if not budget:
            bcap.reset()
            btext.reset()
            self._bar = -1
        if prepay or budget:
            rates.reset()
        if prepay:
            caption.show(ui, "Credit", t.dim)
            for f in m.fuels:
                p = m.view_prepay(f.id)
                s = ""
                if f.present and f.mode == M.MODE_PREPAY:
                    s = "%s %s" % (f.fuel.short, fmt.money(p[0]) if p is not None else "--")
                c = t.bad if f.low_credit or (p is not None and p[0] <= 0) else t.fg
                credit[f.id].show(ui, s, c)
            return
        if budget:
            self._budget(ui, btext, bcap)
            return
        parts = []
        for f in m.fuels:
            if f.present and f.unit_rate_mp_kwh is not None:
                parts.append("%s %s/kWh" % (f.fuel.short, fmt.pence(f.unit_rate_mp_kwh)))
        rates.show(ui, "   ".join(parts), t.dim)


# -- History -----------------------------------------------------------------------------------
# A bar chart of one fuel's energy or cost over a period. 320x240: period tabs, the fuel and the
# total above the chart; 128x64: a title line ("E Today", total). When the history starts inside
# the period (visible_from: a change of tenancy), "from 15 Jan 11:00" takes the chart's first
# "from_h" rows ("from_line").
_HISTORY_320x240 = const(
    (
        ("tabs", "box", (8, 29, 304, 20)),  # four tabs, 76 px each
        ("head", "box", (0, 53, 320, 22)),  # fuel icon, name, unit
        ("total", "field", (8, 55, 304, 0), "bold", "fg", _RIGHT),
        ("chart", "box", (8, 79, 304, 143)),
        ("from_line", "field", (8, 79, 304, 0), "small", "dim", _RIGHT),
        ("from_h", "value", 16),
        ("empty", "field", (0, 79, 320, 127), "medium", "dim", _CENTRE),  # "No data yet"
        ("frame", "box", (6, 27, 304, 24)),  # around the tabs while focused
    )
)
_HISTORY_128x64 = const(
    (
        ("clear", "box", (0, 12, 128, 52)),  # cleared first
        ("title_line", "field", (0, 13, 0, 0), "small", "fg", 0),  # "E Today"
        ("total", "field", (0, 13, 127, 0), "small", "fg", _RIGHT),
        ("chart", "box", (0, 24, 128, 40)),  # the axis maximum in its top-left corner
        ("from_line", "field", (0, 24, 127, 0), "small", "fg", _RIGHT),
        ("from_h", "value", 11),
        ("frame", "box", (0, 12, 128, 11)),  # around the title line while focused
    )
)
_PERIOD_NAMES = const(("Today", "8 days", "5 weeks", "13 months"))


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
    # A bar's cost: "£3.02", whole pounds from £10 ("£12": the total has the pence).
    if v >= 995000:
        return "£%d" % ((v + 50000) // 100000)
    return fmt.money(v)


_MONO_TITLES = tuple("%s %s" % (f, p) for f in (x.letter for x in FU.FUELS) for p in _PERIOD_NAMES)
_UNIT_TEXT = const(("  kWh", "  cost"))
_SC_NOTE = const("incl. standing charge")  # every day's cost; half-hour bars: energy only


class History(Screen):
    name = "history"
    title = "History"
    focusable = True
    deps = M.D_HISTORY | M.D_ENERGY
    chart: tuple
    total: tuple
    frame: tuple
    from_line: tuple
    from_h: int
    tabs: "tuple | None" = None
    head: "tuple | None" = None
    empty: "tuple | None" = None
    clear: "tuple | None" = None
    title_line: "tuple | None" = None
    _vals: list
    _xlabs: list
    _vlabs: list
    _ylabs: list
    _in: list

    def __init__(self, t):
        super().__init__(t, _HISTORY_320x240, _HISTORY_128x64)
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
        self._from = None  # "from 15 Jan 11:00" while the history starts inside the period
        self._box = self.chart  # where the bars go (below the "from" line when there is one)
        self._in = [None] * 7  # inputs of the prepared state (see _prepare)

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
        # electricity exported in the period (kWh view only; None: the home does not export)
        xwh = None if self.fuel != M.FUEL_ELEC or self.cost else m.view_export(self.period)
        k = self._in
        if (
            ver is not None
            and ver == k[0]
            and m.history_source is k[1]
            and sel == k[2]
            and vf == k[3]
            and hh == k[4]
            and mono == k[5]
            and xwh == k[6]
        ):
            return
        k[0] = ver
        k[1] = m.history_source
        k[2] = sel
        k[3] = vf
        k[4] = hh
        k[5] = mono
        k[6] = xwh
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
        if self.cost and period == M.P_DAY and not empty:
            # the day's cost, as on Home: its half-hours (energy only) + its standing charge
            sc = m.fuels[self.fuel].standing_mp_day
            total += sc or 0
        self._total = total
        self._empty = empty
        self._ymax = ymax
        ylab = _axis_money if self.cost else _axis_kwh
        for j in range(3):
            self._ylabs[j] = ylab(ymax * j // 2)
        # Where the history starts, when that is inside the period (not why: no tenancy talk).
        # The export of the period goes on the same line (the bars are import only).
        self._from = None
        self._box = self.chart
        if 0 < vf <= now and _slot_index(period, vf, now) >= 0:
            self._from = "from " + fmt.day_hhmm(vf)
        if self.cost:  # the standing charge rule, stated (docs/meters.md "Standing charge")
            f = self._from
            self._from = _SC_NOTE if f is None else (f if mono else f + ", " + _SC_NOTE)
        if xwh is not None:
            x = ("Exp " + fmt.kwh(xwh).replace(" kWh", "kWh")) if mono else (
                "Exported " + fmt.kwh(xwh))  # fmt: skip
            self._from = x if self._from is None else self._from + ("  " if mono else ", ") + x
        if self._from is not None:
            x, y, w, h = self.chart
            self._box = (x, y + self.from_h, w, h - self.from_h)
        tot = fmt.money(total) if self.cost else fmt.kwh(total)
        # The total as the panel shows it: "Total 4.25 kWh", or "4.25kWh" on 128x64.
        self._tot = tot.replace(" kWh", "kWh") if mono else "Total " + tot
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
        if mono:  # an initial "J" looks like "|" there: the quarters' names in full instead

            def quarter(i):
                k = (mn - 13 + i) % 12 + 1
                return fmt.month_name(k) if k % 3 == 1 else None

            return quarter
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
        col = fuel_colour(t, self.fuel)
        if self.clear is not None:
            x, y, w, h = self.clear
            cv.fill_rect(x, y, w, h, t.bg)
        if self.tabs is not None:
            x, y, w, h = self.tabs
            tw = w // 4
            for i in range(4):
                sel = i == self.period
                cv.fill_rect(x + i * tw, y, tw - 4, h, col if sel else t.panel)
                cv.text_in(t.small, _PERIOD_NAMES[i], x + i * tw, y, tw - 4, h,
                           t.on_accent if sel else t.dim, 1)  # fmt: skip
        if self.head is not None:
            x, y, w, h = self.head
            cv.fill_rect(x, y, w, h, t.bg)
            W.fuel_icon(cv, x + 8, y + 4, self.fuel, col, small=True)
            xe = cv.text(t.bold, FU.FUELS[self.fuel].name, x + 22, y + 2, col)
            cv.text(t.small, _UNIT_TEXT[1 if self.cost else 0], xe, y + 5, t.dim)
        if self.title_line is not None:
            W.field(cv, t, self.title_line, _MONO_TITLES[self.fuel * 4 + self.period])
        W.field(cv, t, self.total, self._tot)
        if self._from is not None:
            x, y, w, _ = self.chart
            cv.fill_rect(x, y, w, self.from_h, t.bg)
            W.field(cv, t, self.from_line, self._from)
        W.bar_chart(cv, t, self._box, self._vals, self._n, col,
                    fuel_colour(t, self.fuel, cur=True), self._cur, t.bg, self._ymax,
                    self._ylabs, self._xlabs, self._vlabs)  # fmt: skip
        if self.empty is not None and self._total == 0 and self._empty:
            W.field(cv, t, self.empty, "No data yet")
        if self.focus:
            x, y, w, h = self.frame
            cv.rect(x, y, w, h, t.fg)


# -- Tariff ------------------------------------------------------------------------------------
# The supplier, then per fuel its unit rate, standing charge and tier: a card each on 320x240,
# two lines each on 128x64. "fuels" is the box of the electricity one, gas is "pitch" lower.
_TARIFF_320x240 = const(
    (
        (None, "text", (8, 31, 0, 0), "small", "dim", "Supplier", 0),
        ("supplier", "field", (72, 29, 240, 0), "bold", "fg", _FIT),
        ("fuels", "box", (8, 53, 304, 79)),
        ("pitch", "value", 85),
        ("unknown", "value", "Unknown"),
    )
)
_TARIFF_128x64 = const(
    (
        ("supplier", "field", (1, 12, 126, 0), "small", "fg", _FIT),
        ("fuels", "box", (0, 22, 127, 20)),  # (the last line's descenders clear of row 63)
        ("pitch", "value", 20),
        ("unknown", "value", "Supplier unknown"),
    )
)


class Tariff(Screen):
    name = "tariff"
    title = "Tariff"
    deps = M.D_TARIFF
    supplier: tuple
    fuels: tuple
    pitch: int
    unknown: str

    def __init__(self, t):
        super().__init__(t, _TARIFF_320x240, _TARIFF_128x64)

    def draw(self, ui, flags):
        if not flags & M.D_TARIFF:
            return
        cv, t, m = ui.cv, ui.t, ui.m
        W.clear(ui)
        W.decorate(cv, t, self.lay)
        W.field(cv, t, self.supplier, m.supplier or self.unknown)
        x, y, w, h = self.fuels
        for f in m.fuels:
            _tariff_fuel(ui, x, y + f.id * self.pitch, w, h, f)


def _tariff_fuel(ui, x, y, w, h, f):
    # One fuel's tariff. 320x240: its card with the tier badge, the unit rate (big) and the
    # standing charge; 128x64: "Elec  24.50p/kWh", then the standing charge and tier, indented.
    cv, t = ui.cv, ui.t
    nxt = _next_rate(f, ui.m.now())
    if t.mono:
        # with a next rate known (time-of-use) the second line says it, the tier's label
        # moves up: "Elec Peak  24.50p/kWh", "Next 9.00p from 00:30"
        r = fmt.pence(f.unit_rate_mp_kwh) + "/kWh" if f.unit_rate_mp_kwh else "--"
        left = f.fuel.short
        if nxt is not None and f.tier_label:
            left += " " + f.tier_label
        cv.text(t.small, W.ellipsize(t.small, left, w - text_width(t.small, r) - 4), x, y, t.fg)
        cv.text(t.small, r, x + w - text_width(t.small, r), y, t.fg)
        if nxt is not None:
            s = nxt
        else:
            s = "SC " + (fmt.pence(f.standing_mp_day) + "/day" if f.standing_mp_day else "--")
            if f.tier_label:
                s += " " + f.tier_label
        cv.text(t.small, W.ellipsize(t.small, s, w - 6), x + 6, y + 10, t.fg)
        return
    col = fuel_colour(t, f.id)
    W.fuel_card(cv, t, (x, y, w, h), f.id, f.fuel.name, _CARD)
    if f.tier_label or f.tier is not None:
        s = f.tier_label or ("Tier %d" % f.tier)
        tw = text_width(t.small, s) + 12
        tx = x + w - 8 - tw
        cv.fill_rect(tx, y + 6, tw, 16, col)
        cv.text_in(t.small, s, tx, y + 6, tw, 16, t.on_accent, 1)
    if f.unit_rate_mp_kwh is None:
        cv.text(t.medium, "Price not set by supplier", x + 12, y + 30, t.dim)
        return
    cv.text(t.big, fmt.pence(f.unit_rate_mp_kwh), x + 10, y + 24, t.fg)
    cv.text(t.small, "per kWh", x + 12, y + 60, t.dim)
    sx = x + w - 120
    cv.text(t.small, "Standing charge", sx, y + 30, t.dim)
    v = fmt.pence(f.standing_mp_day) + "/day" if f.standing_mp_day is not None else "--"
    cv.text_in(t.bold, v, sx, y + 44, 110, 18, t.fg, 0)
    if nxt is not None:
        s = W.ellipsize(t.small, nxt, w - 90)  # right-aligned, clear of "per kWh"
        cv.text(t.small, s, x + w - 8 - text_width(t.small, s), y + 62, t.fg)


def _next_rate(f, now):
    # "Next 9.00p from 00:30" (local time; another day: "from 16 Jan 00:30"), or None
    r, at = f.next_rate_mp_kwh, f.next_rate_utc
    if r is None or at is None:
        return None
    now_day = fmt.local_midnight_utc(at) == fmt.local_midnight_utc(now)
    return "Next %s from %s" % (fmt.pence(r), fmt.hhmm(at) if now_day else fmt.day_hhmm(at))


# -- Messages ----------------------------------------------------------------------------------
# The supplier's messages: a list ("row" is the first row's box, "rows" fit), then one message
# in full ("text" wrapped into "lines" lines "line_h" apart, and the confirm button).
_MESSAGES_320x240 = const(
    (
        ("row", "box", (8, 25, 304, 40)),
        ("rows", "value", 4),
        ("date", "field", (8, 31, 0, 0), "small", "dim", 0),
        ("text", "field", (8, 49, 304, 0), "medium", "fg", 0),
        ("lines", "value", 7),
        ("line_h", "value", 20),
        ("button", "box", (85, 196, 150, 24)),
    )
)
_MESSAGES_128x64 = const(
    (
        ("row", "box", (0, 12, 128, 11)),
        ("rows", "value", 4),
        ("text", "field", (1, 12, 126, 0), "small", "fg", 0),
        ("lines", "value", 4),
        ("line_h", "value", 10),
        ("button", "box", (0, 53, 128, 11)),
    )
)


class Messages(Screen):
    # List -> detail (opening it marks it read) -> confirm: OK when the supplier asked for a
    # confirmation; an enhanced one first takes an answer (< > through model.ANSWERS).
    name = "messages"
    title = "Messages"
    focusable = True
    deps = M.D_MESSAGES
    row: tuple
    rows: int
    text: tuple
    lines: int
    line_h: int
    button: tuple
    date: "tuple | None" = None

    def __init__(self, t):
        super().__init__(t, _MESSAGES_320x240, _MESSAGES_128x64)
        self.sel = 0
        self.detail = False
        self.answer = 0  # the answer offered for an enhanced confirmation

    def enter(self, ui):
        super().enter(ui)
        self.detail = False
        self.sel = 0

    def open(self, ui, msg):
        # The detail of msg at once (an urgent message started: display.py).
        msgs = ui.m.view_messages()
        for k in range(len(msgs)):
            if msgs[k] is msg:
                self.sel = k
                self.focus = self.detail = True
                self.answer = 0
                ui.m.read_message(msg)
                ui.redraw()
                return

    def _asking(self, ui):
        # -> the message shown in detail while it waits for a confirmation, else None.
        msgs = ui.m.view_messages()
        if self.detail and self.sel < len(msgs):
            msg = msgs[self.sel]
            if msg.confirm and not msg.confirmed:
                return msg
        return None

    def hint(self, ui):
        if self.detail:
            msg = self._asking(ui)
            if msg is None:
                return "BACK list"
            return "< > answer   OK send   BACK list" if msg.enhanced else "OK confirm   BACK list"
        if self.focus:
            return "< > choose   OK open   BACK done"
        return "< > screens   OK open"

    def event(self, ui, ev):
        msgs = ui.m.view_messages()
        if self.detail:
            # In the detail view prev/next are swallowed (no accidental screen change).
            msg = self._asking(ui)
            if ev == EV_BACK:
                self.detail = False
            elif ev == EV_SELECT:
                if msg is not None:
                    ui.m.confirm_message(msg, self.answer if msg.enhanced else -1)
            elif ev in (EV_PREV, EV_NEXT):
                if msg is not None and msg.enhanced:
                    n = len(M.ANSWERS)
                    self.answer = (self.answer + (1 if ev == EV_NEXT else n - 1)) % n
            else:
                return False
            ui.redraw()
            return True
        if not msgs:
            return False
        if self.focus and ev == EV_SELECT:
            self.sel = min(self.sel, len(msgs) - 1)
            self.open(ui, msgs[self.sel])
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
        W.clear(ui)
        msgs = m.view_messages()
        if self.sel >= len(msgs):
            self.sel = 0
            self.detail = False
        if not msgs:
            x, y, w, h = ui.body
            cv.text_in(t.medium, "No messages", x, y, w, h, t.dim, 1)
            return
        if self.detail:
            self._detail(ui, msgs[self.sel])
            return
        first = 0
        if self.sel >= self.rows:
            first = self.sel - self.rows + 1
        x, y, w, h = self.row
        for k in range(first, min(len(msgs), first + self.rows)):
            _message_row(ui, x, y + (k - first) * h, w, h, msgs[k], self.focus and k == self.sel)

    def _detail(self, ui, msg):
        cv, t = ui.cv, ui.t
        if self.date is not None:
            W.field(cv, t, self.date, fmt.date_short(msg.time_utc) + "  " + fmt.hhmm(msg.time_utc))
        # The text wrapped to the width of its field, one line every line_h.
        width = self.text[2][2]
        lines = W.wrap(getattr(t, self.text[3]), msg.text, width)
        for k in range(min(len(lines), self.lines)):
            W.field(cv, t, self.text, lines[k], dy=k * self.line_h)
        if msg.confirm:
            _confirm_button(ui, self.button, msg, self.answer)


def _message_row(ui, x, y, w, h, msg, sel):
    # One message in the list. 320x240: a card with the date, its state ("Please confirm",
    # "Confirmed", "New") and the first line; 128x64: one line, inverted when selected, "! "
    # while a confirmation is asked for, "* " while unread. A protected message shows no text.
    cv, t = ui.cv, ui.t
    asking = msg.confirm and not msg.confirmed
    text = "Protected message" if msg.flags & M.MF_PROTECTED else msg.text.split("\n")[0]
    if t.mono:
        if sel:
            cv.fill_rect(x, y, w, h, t.fg)
        mark = "! " if asking else ("* " if not msg.read else "")
        cv.text(t.small, W.ellipsize(t.small, mark + text, w - 2), x + 1, y,
                t.bg if sel else t.fg)  # fmt: skip
        return
    cv.fill_rect(x, y + 3, w, h - 4, t.sel if sel else t.panel)
    if asking or not msg.read:
        cv.fill_rect(x, y + 3, 3, h - 4, t.warn)
    cv.text(t.small, fmt.date_short(msg.time_utc) + "  " + fmt.hhmm(msg.time_utc), x + 10, y + 6,
            t.dim)  # fmt: skip
    s = ""
    if msg.confirm:
        s = "Confirmed" if msg.confirmed else "Please confirm"
    elif not msg.read:
        s = "New"
    if s:
        c = t.good if msg.confirmed else t.warn
        cv.text(t.small, s, x + w - 8 - text_width(t.small, s), y + 6, c)
    f = t.medium if msg.read else t.bold
    cv.text(f, W.ellipsize(f, text, w - 20), x + 10, y + 21, t.fg)


def _confirm_button(ui, box, msg, answer):
    # Plain: "OK to confirm"; enhanced: the answer offered, "< Yes >"; then what was sent.
    cv, t = ui.cv, ui.t
    x, y, w, h = box
    if msg.confirmed:
        k = msg.answer
        s = "Answered: " + M.ANSWERS[k][0] if msg.enhanced and k >= 0 else "Confirmed"
    elif msg.enhanced:
        s = "< " + M.ANSWERS[answer][0] + " >  OK"
    else:
        s = "OK to confirm"
    if t.mono:
        cv.fill_rect(x, y, w, h, t.fg)
        cv.text_in(t.small, s, x, y, w, h, t.bg, 1)
    elif msg.confirmed:
        cv.text_in(t.bold, s, x, y, w, h, t.good, 1)
    else:
        cv.fill_rect(x, y, w, h, t.warn)
        cv.text_in(t.bold, s, x, y, w, h, t.on_accent, 1)


# -- Prepayment (balances) ---------------------------------------------------------------------
# On an IHD: credit, emergency credit and debt per prepayment meter, the "fuels" box shared by
# them ("gap" between). With model.prepay_actions (a PPMID) the screen of screens_prepay.
_PREPAY_320x240 = const(
    (
        ("fuels", "box", (8, 31, 304, 191)),
        ("gap", "value", 6),
    )
)
_PREPAY_128x64 = const(
    (
        ("fuels", "box", (0, 13, 127, 42)),
        ("gap", "value", 0),
    )
)


class Prepay(Screen):
    name = "prepay"
    title = "Prepayment"
    deps = M.D_PREPAY
    fuels: tuple
    gap: int

    def __init__(self, t):
        super().__init__(t, _PREPAY_320x240, _PREPAY_128x64)
        self.ppmid = None  # screens_prepay.PrepayPanel, created when actions appear

    def _panel(self, ui):
        if ui.m.prepay_actions is None:
            return None
        if self.ppmid is None:
            from ihd.ui.screens_prepay import PrepayPanel

            self.ppmid = PrepayPanel(ui.t)
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
        W.clear(ui)
        if not m.prepay_mode():
            x, y, w, h = ui.body
            cv.text_in(t.medium, "Credit meter", x, y, w, h, t.dim, 1)
            return
        fuels = [f for f in m.fuels if f.present and f.mode == M.MODE_PREPAY]
        x, y, w, h = self.fuels
        ch = h // max(1, len(fuels)) - self.gap
        for k in range(len(fuels)):
            by = y + k * (ch + self.gap)
            _balance(ui, x, by, w, ch, fuels[k])


def _balance(ui, x, y, w, h, f):
    # One prepayment meter. 320x240: its card with the credit (big, red when low), emergency
    # credit and debt on the right; 128x64: "Elec  £12.34", then emergency credit and debt.
    cv, t, m = ui.cv, ui.t, ui.m
    p = m.view_prepay(f.id)
    if t.mono:
        cv.text(t.small, f.fuel.short, x, y, t.fg)
        s = fmt.money(p[0]) if p else "--"
        cv.text(t.small, s, x + w - text_width(t.small, s), y, t.fg)
        if p:
            s = "EC %s  Debt %s" % (fmt.money(p[1] or 0), fmt.money(p[2] or 0))
            cv.text(t.small, W.ellipsize(t.small, s, w - 4), x + 4, y + 10, t.fg)
        return
    W.fuel_card(cv, t, (x, y, w, h), f.id, f.fuel.name + " credit", _CARD)
    if p is None:
        cv.text(t.medium, "No balance yet", x + 12, y + 32, t.dim)
        return
    c = t.bad if f.low_credit or p[0] <= 0 else t.fg
    cv.text(t.big, fmt.money(p[0]), x + 10, y + 26, c)
    rx = x + w - 120
    cv.text(t.small, "Emergency", rx, y + 28, t.dim)
    cv.text(t.bold, fmt.money(p[1] or 0) + (" in use" if f.ec_in_use else ""), rx, y + 41,
            t.warn if f.ec_in_use else t.fg)  # fmt: skip
    tall = h > 80  # room for the debt under the emergency credit
    cv.text(t.small, "Debt", rx, y + 60 if tall else y + 28, t.dim)
    if tall:
        cv.text(t.bold, fmt.money(p[2] or 0), rx, y + 73, t.fg)
    if f.low_credit:
        cv.text(t.small, "Low credit: top up soon", x + 12, y + h - 18, t.bad)


# -- Status ------------------------------------------------------------------------------------
# The device as its stack sees it (status_rows: network, channel, PAN and node id, EUI64, each
# meter's last reading and link quality, NCP resets, versions, the last change of tenancy) in
# pages of "per_page" rows "row_h" apart: the key, the value (cut to fit) and, on 320x240,
# "page/pages" at the top right when there is more than one. A value too wide for the 128x64
# value column gets a row of its own ("wide_col").
_STATUS_320x240 = const(
    (
        ("key_col", "field", (8, 28, 0, 0), "small", "dim", 0),
        ("value_col", "field", (100, 28, 212, 0), "small", "fg", _FIT),
        ("row_h", "value", 17),
        ("per_page", "value", 11),
        ("pages", "field", (8, 28, 304, 0), "small", "dim", _RIGHT),
    )
)
_STATUS_128x64 = const(
    (
        ("key_col", "field", (1, 12, 0, 0), "small", "dim", 0),
        ("value_col", "field", (30, 12, 97, 0), "small", "fg", _FIT),
        ("wide_col", "field", (2, 12, 125, 0), "small", "fg", _FIT),
        ("row_h", "value", 10),
        ("per_page", "value", 5),
    )
)
_LINK_TEXT = const(("down", "joining", "up"))
_TENANCY_TEXT = const((("cot", "Change of tenancy", "CoT"), ("cos", "Change of supplier", "CoS")))


def _hex16(v):
    return "-" if v is None else "0x%04X" % v


def _tenancy(ev, mono):
    # The last change applied: its kind and date only (no names, no readings) -> (key, value).
    key = "CoT" if mono else "Tenancy"
    if ev is None:
        return key, "none recorded"
    date = fmt.date_long(ev[1])
    for kind, word, short in _TENANCY_TEXT:
        if kind == ev[0]:
            return (short, date) if mono else (key, word + " " + date)
    return key, date


def status_rows(m, mono=False):
    # -> [(key, value)] as the Status screen shows them (the unix board's state dump too).
    # mono: the 128x64 keys and texts; a value too wide for the value column on a row of its
    # own under its key (key None).
    now = m.now()
    up = m.link == M.LINK_UP
    rows = [
        ("Net" if mono else "Network", _LINK_TEXT[m.link]),
        ("Chan" if mono else "Channel", "%d" % m.channel if up and m.channel else "-"),
        ("PAN" if mono else "PAN id", _hex16(m.pan_id if up else None)),
        ("Node" if mono else "Node id", _hex16(m.node_id if up else None)),
    ]
    eui = fmt.hex_eui64(m.eui64)
    rows += [("EUI64", ""), (None, eui)] if mono else [("EUI64", eui)]
    for f in m.fuels:
        if not f.present:
            v = "no meter"
        else:
            r = m.view_reading_utc(f.id)
            v = "no reading" if r is None else fmt.age(now, r)
            if mono:
                v = v.replace(" ago", "")
            v += ("  LQI %s" if not mono else " LQI %s") % ("-" if f.lqi is None else f.lqi)
        rows.append((f.fuel.short if mono else f.fuel.short + " meter", v))
    rows.append(("Rst" if mono else "NCP resets", "%d" % m.ncp_resets))
    rows.append(("FW" if mono else "Firmware", m.fw_version))
    ezsp = "v%d" % m.ezsp_version if m.ezsp_version else "-"
    if mono:
        rows += [("NCP", m.ncp_version or "-"), ("EZSP", ezsp)]
    else:
        rows.append(("NCP", (m.ncp_version or "-") + "  EZSP " + ezsp))
    rows.append(_tenancy(m.tenancy_event, mono))
    if m.join_status:
        rows.append(("Join" if mono else "Joining", m.join_status))
    if m.install_code_text:
        rows.append(("IC" if mono else "Install code", m.install_code_text))
    return rows


def _page_starts(rows, per):
    # -> the first row of each page of at most `per` rows; a row without a key stays on the
    # page of the row above it (its key).
    starts = [0]
    while starts[-1] + per < len(rows):
        j = starts[-1] + per
        starts.append(j - 1 if rows[j][0] is None else j)
    return starts


class Status(Screen):
    name = "status"
    title = "Status"
    focusable = True  # only while there is more than one page (event, hint)
    deps = M.D_STATUS | M.D_LINK | M.D_CLOCK
    key_col: tuple
    value_col: tuple
    row_h: int
    per_page: int
    wide_col: "tuple | None" = None
    pages: "tuple | None" = None

    def __init__(self, t):
        super().__init__(t, _STATUS_320x240, _STATUS_128x64)
        self.page = 0
        self._shown = None  # the rows drawn: a minute tick that changes none draws nothing

    def enter(self, ui):
        super().enter(ui)
        self.page = 0

    def reset(self):
        super().reset()
        self._shown = None

    def _pages(self, ui):
        return len(_page_starts(status_rows(ui.m, ui.t.mono), self.per_page))

    def hint(self, ui):
        if self._pages(ui) < 2:
            return "< > screens"
        return "< > pages   BACK done" if self.focus else "< > screens   OK more pages"

    def event(self, ui, ev):
        if self._pages(ui) < 2:  # one page: OK has nothing to show (and paging is over)
            self.focus = False
            return False
        return super().event(ui, ev)

    def focused_event(self, ui, ev):
        if ev in (EV_PREV, EV_NEXT, EV_SELECT):
            self.page += -1 if ev == EV_PREV else 1
            ui.redraw()
            return True
        return False

    def draw(self, ui, flags):
        if not flags & (M.D_STATUS | M.D_LINK | M.D_CLOCK):
            return
        cv, t, m = ui.cv, ui.t, ui.m
        rows = status_rows(m, t.mono)
        if rows == self._shown:  # (the reading ages move on the minute)
            return
        self._shown = rows
        W.clear(ui)
        starts = _page_starts(rows, self.per_page)
        pages = len(starts)
        self.page %= pages
        first = starts[self.page]
        end = starts[self.page + 1] if self.page + 1 < pages else len(rows)
        for k in range(first, end):
            key, val = rows[k]
            dy = (k - first) * self.row_h
            if key is None:  # (128x64 only)
                if self.wide_col is not None:
                    W.field(cv, t, self.wide_col, val, dy=dy)
                continue
            W.field(cv, t, self.key_col, key, dy=dy)
            W.field(cv, t, self.value_col, val, dy=dy)
        if pages > 1 and self.pages is not None:
            W.field(cv, t, self.pages, "%d/%d" % (self.page + 1, pages))


def make_all(t):
    from ihd.ui.screens_prepay import Utrn

    return [Home(t), History(t), Tariff(t), Prepay(t), Messages(t), Status(t), Utrn(t)]
