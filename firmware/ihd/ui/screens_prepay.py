# PPMID screens (docs/prepay.md "UI"): the Prepayment screen with actions (credit, emergency
# credit, debt per fuel, alert banner, emergency-credit offer, top-up log) and the UTRN entry
# screen. They talk to the prepayment service only through model.prepay_actions, any object
# with: top_up(meter, digits) and retry(meter) and select_emergency_credit(meter) (coroutines
# returning a Result with code, text(), ok(), credit_mp, amount_mp, ec_mp, lock_s,
# maybe_applied), pending(meter), ec_offer(meter), alerts(), acknowledge(meter, kind),
# lock_remaining_s(), top_up_log(), prepayment_meters(). Long calls run as tasks (ui.spawn);
# the screen shows "Sending..." meanwhile. No other I/O here.
# As in screens.py, each screen is preceded by its layouts (one per resolution; the kinds are in
# widgets.py); the 128x64 panel shows compact variants of the same parts (banner, balances,
# log, dialog), chosen by the theme, in the boxes the layout gives them.
# MIT license
import time

from micropython import const

from ihd.state import fuels as FU
from ihd.state import model as M
from ihd.ui import entry as E
from ihd.ui import fmt
from ihd.ui import widgets as W
from ihd.ui.canvas import text_width
from ihd.ui.input import (
    EV_BACK,
    EV_HASH,
    EV_KEY0,
    EV_LONG_BACK,
    EV_NEXT,
    EV_PREV,
    EV_SELECT,
    EV_STAR,
)
from ihd.ui.theme import fuel_colour

_EC_SELECTED = const(0x30)
_CENTRE = const(1)
_RIGHT = const(2)
# Fuel card offsets (widgets.fuel_card): stripe on top, icon x, icon y, title x, title y.
_CARD_TOP = const((1, 8, 9, 22, 6))
# Short log outcome per service result code (0 = accepted: the amount is shown instead).
_LOG_SHORT = {1: "invalid", 2: "used", 3: "error", 4: "limit", 5: "locked", 6: "too big",
              0x22: "no answer", 0x23: "unclear", 0x27: "refused"}  # fmt: skip
_ALERT_TEXT = {
    "low_credit": "Low %s credit: top up soon",
    "ec_in_use": "%s: emergency credit in use",
}


def _ms():
    return time.ticks_ms()


def _mmss(s):
    return "%d:%02d" % (s // 60, s % 60)


def fuel_prepay(m):
    return [f for f in m.fuels if f.present and f.mode == M.MODE_PREPAY]


# -- Prepayment (PPMID) ------------------------------------------------------------------------
# bar: the alert, offer, result or hint line; cards: the balances, side by side (320x240) or
# one line per fuel and the debt (128x64); log: the last top-ups; dialog: the emergency credit
# question, over the screen (320x240) or instead of it (128x64).
_PPMID_320x240 = const(
    (
        ("bar", "box", (8, 29, 304, 20)),
        ("cards", "box", (8, 55, 304, 96)),  # one card per prepayment fuel, 8 px apart
        ("log", "box", (8, 157, 304, 64)),
        ("dialog_box", "box", (24, 59, 272, 128)),
    )
)
_PPMID_128x64 = const(
    (
        ("bar", "box", (0, 53, 128, 11)),
        ("cards", "box", (0, 12, 127, 40)),  # lines of 10 px: the fuels, then the debt
        ("log", "box", (0, 12, 127, 40)),  # the last top-up, on the next line if one is left
        ("dialog_box", "box", (0, 12, 128, 52)),
        ("dialog_only", "value", True),
    )
)


class PrepayPanel:
    # State and drawing of the Prepayment screen when the device is a PPMID (actions present).
    # Banner priority: EC dialog > unacknowledged alert > EC offer > last EC result > hint.
    bar: tuple
    cards: tuple
    log: tuple
    dialog_box: tuple
    dialog_only = False  # the dialog replaces the screen instead of covering part of it

    def __init__(self, t):
        self.lay = _PPMID_128x64 if t.mono else _PPMID_320x240
        W.place(self, self.lay)
        self.dialog = None  # meter name while the EC confirmation is open
        self.dialog_sel = 0  # 0 take emergency credit, 1 top up instead
        self.busy = False  # EC request in flight
        self.note = None  # (text, good) after an EC request, until the next key

    def enter(self):
        self.dialog = None
        self.note = None

    def banner(self, m):
        # -> (kind, text, meter, alert_kind): kind "alert" | "offer" | "note" | "busy" | "hint"
        a = m.prepay_actions
        if self.busy:
            return ("busy", "Sending...", None, None)
        al = a.alerts()
        if al:
            meter, kind = al[0][0], al[0][1]
            s = _ALERT_TEXT.get(kind, "%s: check credit")
            word = FU.of(meter).word if kind == "low_credit" else FU.of(meter).short
            return ("alert", s % word, meter, kind)
        for f in fuel_prepay(m):
            name = f.fuel.key
            ec = a.ec_offer(name)
            if ec is not None:
                s = "Emergency credit %s available - press OK" % fmt.money(ec)
                return ("offer", s, name, None)
        if self.note is not None:
            return ("note", self.note[0], None, self.note[1])
        return ("hint", "OK or type a code to top up", None, None)

    def hint(self, ui):
        if self.dialog is not None:
            return "< > choose   OK confirm   BACK cancel"
        kind = self.banner(ui.m)[0]
        if kind == "alert":
            return "OK dismiss   < > screens"
        if kind == "offer":
            return "OK emergency credit   0-9 top up"
        return "OK top up   < > screens"

    # -- events --
    def event(self, scr, ui, ev):
        m = ui.m
        if self.busy:
            return ev in (EV_SELECT, EV_HASH)  # a second press must not send twice
        if self.dialog is not None:
            if ev in (EV_PREV, EV_NEXT):
                self.dialog_sel ^= 1
            elif ev in (EV_SELECT, EV_HASH):
                meter = self.dialog
                self.dialog = None
                if self.dialog_sel == 0:
                    self._take_ec(ui, meter)
                else:
                    open_entry(ui)
                    return True
            elif ev in (EV_BACK, EV_STAR):
                self.dialog = None
            else:
                return True
            ui.redraw()
            return True
        if EV_KEY0 <= ev <= EV_KEY0 + 9:
            self.note = None
            open_entry(ui, ev - EV_KEY0)
            return True
        if ev in (EV_SELECT, EV_HASH):
            kind, _, meter, akind = self.banner(m)
            self.note = None
            if kind == "alert":
                m.prepay_actions.acknowledge(meter, akind)
            elif kind == "offer":
                self.dialog = meter
                self.dialog_sel = 0
            else:
                open_entry(ui)
                return True
            ui.redraw()
            return True
        if self.note is not None and ev in (EV_PREV, EV_NEXT, EV_BACK):
            self.note = None
        return False

    def _take_ec(self, ui, meter):
        self.busy = True
        a = ui.m.prepay_actions

        async def run():
            try:
                r = await a.select_emergency_credit(meter)
            except Exception:
                r = None
            self.busy = False
            if r is None:
                self.note = ("Emergency credit: no answer", False)
            elif r.code == _EC_SELECTED:
                ec = r.ec_mp
                self.note = ("Emergency credit on: %s" % fmt.money(ec) if ec is not None
                             else "Emergency credit on", True)  # fmt: skip
            else:
                self.note = (r.text(), False)
            ui.m.prepay_last = r
            ui.m.changed(M.D_PREPAY)

        ui.spawn(run())

    # -- drawing --
    def draw(self, ui, flags):
        if not flags & M.D_PREPAY:
            return
        W.clear(ui)
        if self.dialog is not None and self.dialog_only:
            _dialog(ui, self.dialog_box, self.dialog, self.dialog_sel)
            return
        _bar(ui, self.bar, self.banner(ui.m))
        y = _balances(ui, self.cards, fuel_prepay(ui.m))
        _top_ups(ui, self.log, y)
        if self.dialog is not None:
            _dialog(ui, self.dialog_box, self.dialog, self.dialog_sel)


def _bar(ui, box, banner):
    # The banner: 320x240 a coloured strip (an alert with an "OK" key cap); 128x64 an
    # inverted line with a short text.
    cv, t = ui.cv, ui.t
    kind, text, _, good = banner
    x, y, w, h = box
    if t.mono:
        short = {"alert": "LOW CREDIT  OK", "busy": "Sending..."}
        if kind == "offer":
            s = "EC %s: press OK" % text.split(" ")[2]
        elif kind == "alert" and text.endswith("in use"):
            s = "EC IN USE  OK"
        else:
            s = short.get(kind) or ("OK/0-9: top up" if kind == "hint" else text)
        cv.fill_rect(x, y, w, h, t.fg)
        cv.text_in(t.small, W.ellipsize(t.small, s, w - 2), x, y, w, h, t.bg, 1)
        return
    if kind == "hint":
        cv.text_in(t.small, text, x, y, w, h, t.dim, 1)
        return
    bg = {"alert": t.bad, "offer": t.warn, "busy": t.panel}.get(kind)
    if bg is None:
        bg = t.good if good else t.bad
    fg = t.fg if kind == "busy" else t.on_accent
    cv.fill_rect(x, y, w, h, bg)
    s = W.ellipsize(t.small, text, w - (30 if kind == "alert" else 8))
    cv.text_in(t.small, s, x + 6, y, w, h, fg, 0)
    if kind == "alert":
        cv.fill_rect(x + w - 26, y + 3, 22, 14, t.on_accent)
        cv.text_in(t.small, "OK", x + w - 26, y + 3, 22, 14, bg, 1)


def _balances(ui, box, fuels):
    # 320x240: a card per prepayment fuel side by side; 128x64: a line per fuel and the total
    # debt. -> the y under them.
    cv, t, m = ui.cv, ui.t, ui.m
    x, y, w, h = box
    if t.mono:
        f = t.small
        debt = 0
        for fu in fuels:
            p = m.view_prepay(fu.id)
            cv.text(f, "%s %s" % (fu.fuel.letter, fmt.money(p[0]) if p else "--"), x, y, t.fg)
            if p:
                debt += p[2] or 0
                r = ("EC in use %s" if fu.ec_in_use else "EC %s") % fmt.money(p[1] or 0)
                cv.text(f, r, x + w - text_width(f, r), y, t.fg)
            y += 10
        cv.text(f, "Debt %s" % fmt.money(debt), x, y, t.fg)
        return y + 10
    n = max(1, len(fuels))
    cw = (w + 8) // n - 8
    for k in range(len(fuels)):
        _card(ui, fuels[k], x + k * (cw + 8), y, cw, h)
    return y + h


def _card(ui, f, x, y, w, h):
    cv, t, m = ui.cv, ui.t, ui.m
    W.fuel_card(cv, t, (x, y, w, h), f.id, f.fuel.name, _CARD_TOP)
    p = m.view_prepay(f.id)
    if p is None:
        cv.text(t.medium, "No balance yet", x + 8, y + 34, t.dim)
        return
    credit, ec, debt = p
    c = t.bad if f.low_credit or credit <= 0 else t.fg
    cv.text(t.big, fmt.money(credit), x + 6, y + 26, c)
    rows = (
        ("Emergency", ("%s in use" if f.ec_in_use else "%s") % fmt.money(ec or 0),
         t.warn if f.ec_in_use else t.fg),
        ("Debt", fmt.money(debt or 0), t.fg),
    )  # fmt: skip
    yy = y + 63
    for label, v, vc in rows:
        cv.text(t.small, label, x + 8, yy, t.dim)
        cv.text(t.small, v, x + w - 8 - text_width(t.small, v), yy, vc)
        yy += 15


def _top_ups(ui, box, y):
    # 320x240: the last three top-ups (date, fuel, amount or outcome, the code's end) in the
    # box; 128x64: the last one at y, if that line is still in the box.
    cv, t = ui.cv, ui.t
    x, by, w, h = box
    log = ui.m.prepay_actions.top_up_log()
    if t.mono:
        f = t.small
        if log and y + 10 <= by + h:
            utc, meter, amount, code, masked = log[0]
            v = fmt.money(amount) if code == 0 and amount is not None else _LOG_SHORT.get(code)
            s = "%s %s %s" % (fmt.date_short(utc)[4:], FU.of(meter).letter, v or "error")
            cv.text(f, W.ellipsize(f, s, w - 34), x, y, t.fg)
            cv.text(f, masked[-4:], x + w - text_width(f, masked[-4:]), y, t.fg)
        return
    y = by
    cv.text(t.small, "Recent top-ups", x, y, t.dim)
    cv.hline(x, y + 15, w, t.line)
    if not log:
        cv.text(t.small, "None yet", x, y + 20, t.dim)
        return
    yy = y + 19
    for utc, meter, amount, code, masked in log[:3]:
        ok = code == 0
        cv.text(t.small, fmt.date_short(utc)[4:] + "  " + fmt.hhmm(utc), x, yy, t.dim)
        cv.text(t.small, FU.of(meter).short, x + 92, yy, t.fg)
        v = fmt.money(amount) if ok and amount is not None else _LOG_SHORT.get(code, "error")
        cv.text(t.small, v, x + 190 - text_width(t.small, v), yy, t.good if ok else t.bad)
        s = masked[-9:]
        cv.text(t.small, s, x + w - text_width(t.small, s), yy, t.dim)
        yy += 15


def _dialog(ui, box, meter, sel):
    # "Take emergency credit?" with two buttons: 320x240 a framed box over the screen, 128x64
    # the whole body.
    cv, t, m = ui.cv, ui.t, ui.m
    x, y, w, h = box
    ec = m.prepay_actions.ec_offer(meter)
    labels = ("Take it", "Top up")
    if t.mono:
        f = t.small
        cv.text(f, "Emergency credit", x + 1, y, t.fg)
        cv.text(f, "Take %s for %s?" % (fmt.money(ec or 0), FU.of(meter).short), x + 1, y + 10,
                t.fg)  # fmt: skip
        cv.text(f, "Repaid at next top-up", x + 1, y + 20, t.fg)
        for i in range(2):
            bx = x + i * 64
            if i == sel:
                cv.fill_rect(bx, y + 33, 62, 12, t.fg)
            else:
                cv.rect(bx, y + 33, 62, 12, t.fg)
            cv.text_in(f, labels[i], bx, y + 33, 62, 12, t.bg if i == sel else t.fg, 1)
        return
    cv.fill_rect(x - 2, y - 2, w + 4, h + 4, t.warn)
    cv.fill_rect(x, y, w, h, t.panel)
    cv.text(t.bold, "Emergency credit", x + 12, y + 8, t.warn)
    s = "Take %s for %s?" % (fmt.money(ec or 0), FU.of(meter).word)
    cv.text(t.medium, s, x + 12, y + 34, t.fg)
    cv.text(t.small, "It is paid back from your next top-up.", x + 12, y + 58, t.dim)
    bw = (w - 36) // 2
    for i in range(2):
        on = i == sel
        bx = x + 12 + i * (bw + 12)
        cv.fill_rect(bx, y + h - 38, bw, 28, t.warn if on else t.sel)
        cv.text_in(t.bold, labels[i], bx, y + h - 38, bw, 28, t.on_accent if on else t.fg, 1)


def open_entry(ui, digit=None):
    ui.go("utrn")
    if digit is not None:
        ui.screen("utrn").key_digit(ui, digit)


# -- Top up (UTRN entry) -----------------------------------------------------------------------
# The code in 20 slots ("slots": x, y of the first one, slot width, gap between groups of 4),
# the state's title and, under the code, what the state shows. Fixed texts per state are in
# _PAGES_* (decoration, indexed by entry state); "titles" and "count" are per state too.
# fmt: off
_UTRN_320x240 = const((
    ("title_line", "field", (0, 29, 320, 16), "small", "dim", _CENTRE),
    ("titles", "value", ("Type the 20-digit code from your receipt",
                         "Which meter is this code for?", "Sending to the %s meter...", "",
                         "", "This code was sent but not confirmed")),
    ("code_box", "box", (8, 49, 304, 40)),
    ("slots", "box", (14, 58, 13, 8)),
    ("slot_font", "value", "digits"),
    ("count", "field", (8, 97, 0, 0), "small", "dim", 0),
    ("count_text", "value", "%d of 20 digits"),
    ("for_fuel", "field", (8, 97, 304, 0), "small", "dim", _RIGHT),  # one meter: its fuel
    ("error", "box", (8, 97, 304, 60)),  # icon, the error and "Nothing was sent"
    ("options", "box", (8, 111, 304, 56)),  # one per meter, 12 px apart
    ("countdown", "field", (0, 169, 320, 22), "digits", "fg", _CENTRE),  # locked: time left
    ("result", "box", (0, 25, 320, 199)),
))
_UTRN_128x64 = const((
    ("title_line", "field", (1, 12, 0, 0), "small", "fg", 0),
    ("titles", "value", ("Code from receipt", "Which meter?", "Sending...", "", "",
                         "Not confirmed:")),
    ("slots", "box", (0, 25, 6, 2)),
    ("slot_font", "value", "small"),
    ("count", "field", (0, 12, 127, 0), "small", "fg", _RIGHT),
    ("count_text", "value", "%d/20"),
    ("sending_to", "field", (1, 43, 0, 0), "small", "fg", 0),  # "to the gas meter"
    ("error", "box", (0, 41, 128, 11)),  # inverted: the error; under it "Nothing was sent"
    ("options", "box", (0, 45, 126, 14)),  # one per meter, 2 px apart
    ("countdown", "field", (0, 40, 128, 20), "big", "fg", _CENTRE),
    ("result", "box", (0, 12, 128, 52)),
))
# Fixed texts of each entry state: ST_ENTER (no error), ST_FUEL, ST_SENDING, ST_RESULT,
# ST_LOCKED, ST_PENDING (ihd.ui.entry).
_PAGES_320x240 = const((
    (
        (None, "text", (8, 127, 0, 0), "small", "dim", "Check the code as you type it:", 0),
        (None, "text", (8, 143, 0, 0), "small", "dim",
         "it is checked here before it goes to the meter.", 0),
    ),
    (),
    (
        (None, "text", (0, 127, 320, 20), "bold", "fg", "Sending...", _CENTRE),
        (None, "text", (0, 153, 320, 16), "small", "dim",
         "This takes a few seconds. Please wait.", _CENTRE),
    ),
    (),
    (
        (None, "status", (160, 65, 0, 0), "bad", False),
        (None, "text", (0, 95, 320, 20), "bold", "bad", "Too many wrong codes", _CENTRE),
        (None, "text", (0, 121, 320, 20), "medium", "fg", "Top-up is locked for a while",
         _CENTRE),
        (None, "text", (0, 151, 320, 16), "small", "dim", "Try again in", _CENTRE),
    ),
    (
        (None, "text", (0, 121, 320, 16), "small", "fg",
         "The meter did not answer. OK sends it again;", _CENTRE),
        (None, "text", (0, 139, 320, 16), "small", "fg",
         "the meter will not add the same code twice.", _CENTRE),
        (None, "text", (0, 161, 320, 16), "small", "dim", "BACK keeps it for later.", _CENTRE),
    ),
))
_PAGES_128x64 = const((
    (
        (None, "text", (0, 43, 0, 0), "small", "fg", "OK send  BACK delete", 0),
        (None, "text", (0, 53, 0, 0), "small", "fg", "< > digit (no keypad)", 0),
    ),
    (),
    (),
    (),
    (
        (None, "text", (0, 14, 128, 10), "small", "fg", "Too many wrong codes", _CENTRE),
        (None, "text", (0, 28, 128, 10), "small", "fg", "Try again in", _CENTRE),
    ),
    (
        (None, "text", (0, 43, 0, 0), "small", "fg", "OK send again", 0),
        (None, "text", (0, 53, 0, 0), "small", "fg", "BACK keep for later", 0),
    ),
))
# fmt: on


class Utrn:
    # Top-up code entry (not in the prev/next rotation: reached from the Prepayment screen).
    name = "utrn"
    title = "Top up"
    deps = M.D_PREPAY
    focusable = False
    hidden = True
    title_line: tuple
    titles: tuple
    slots: tuple
    slot_font: str
    count: tuple
    count_text: str
    error: tuple
    options: tuple
    countdown: tuple
    result: tuple
    code_box: "tuple | None" = None
    for_fuel: "tuple | None" = None
    sending_to: "tuple | None" = None

    def __init__(self, t):
        self.lay = _UTRN_128x64 if t.mono else _UTRN_320x240
        self.pages = _PAGES_128x64 if t.mono else _PAGES_320x240
        W.place(self, self.lay)
        self.focus = False
        self.entry = E.Entry()
        self._shown_s = -1

    def reset(self):
        pass

    def enter(self, ui):
        a = ui.m.prepay_actions
        if a is None:
            self.entry.open([])
            return
        meters = a.prepayment_meters()
        pend = None
        for mt in meters:
            code = a.pending(mt)
            if code:
                pend = (mt, code)
                break
        self.entry.open(meters, a.lock_remaining_s(), _ms(), pend)

    def hint(self, ui):
        e = self.entry
        st = e.state
        if st == E.ST_ENTER:
            if e.cand >= 0:
                return "< > digit   OK next   BACK delete"
            return "0-9 type   OK send   BACK delete"
        if st == E.ST_FUEL:
            return "< > or 1/2 choose   OK send   BACK edit"
        if st == E.ST_SENDING:
            return "Please wait"
        if st == E.ST_PENDING or (st == E.ST_RESULT and e._kept()):
            return "OK send again   BACK later"
        if st == E.ST_RESULT and e.result is not None and not e.result.ok():
            return "OK edit code   BACK done"
        return "OK / BACK done"

    def tick(self, ui):
        # Once a second while locked or sending: redraw the countdown / progress.
        e = self.entry
        if e.state == E.ST_LOCKED:
            s = e.lock_left_s(_ms())
            if s != self._shown_s:
                self._shown_s = s
                return M.D_PREPAY
        return 0

    def key_digit(self, ui, d):
        self.entry.digit(d)
        ui.redraw()

    def event(self, ui, ev):
        e = self.entry
        if EV_KEY0 <= ev <= EV_KEY0 + 9:
            d = ev - EV_KEY0
            req = e.choose(d - 1) if e.state == E.ST_FUEL else e.digit(d)
        elif ev == EV_NEXT:
            req = e.up()
        elif ev == EV_PREV:
            req = e.down()
        elif ev == EV_SELECT:
            req = e.select()
        elif ev == EV_HASH:
            req = e.submit()
        elif ev in (EV_BACK, EV_STAR):
            req = e.delete()
        elif ev == EV_LONG_BACK:
            req = e.cancel()
        else:
            return False
        self._run(ui, req)
        ui.redraw()
        return True

    def _run(self, ui, req):
        if req is None:
            return
        op = req[0]
        if op == E.REQ_LEAVE:
            ui.go("prepay")
            return
        a = ui.m.prepay_actions
        if a is None:
            return
        e = self.entry

        async def run():
            try:
                if op == E.REQ_RETRY:
                    r = await a.retry(req[1])
                else:
                    r = await a.top_up(req[1], req[2])
            except Exception:
                r = None
            if r is None:
                e.state = E.ST_ENTER
                e.error = "Error: please try again"
            else:
                e.finish(r, _ms())
                if op != E.REQ_BAD_CHECK:
                    ui.m.prepay_last = r
            ui.m.changed(M.D_PREPAY)

        ui.spawn(run())

    # -- drawing --
    def draw(self, ui, flags):
        if not flags & M.D_PREPAY:
            return
        cv, t = ui.cv, ui.t
        e = self.entry
        st = e.state
        W.clear(ui)
        if ui.m.prepay_actions is None:
            x, y, w, h = ui.body
            cv.text_in(t.medium, "Top-up not available", x, y, w, h, t.dim, 1)
            return
        if st == E.ST_RESULT:
            _result(ui, self.result, e)
            return
        page = self.pages[st]
        if st != E.ST_ENTER or not e.error:
            W.decorate(cv, t, page)
        if st == E.ST_LOCKED:
            W.field(cv, t, self.countdown, _mmss(e.lock_left_s(_ms())))
            return
        title = self.titles[st]
        if "%" in title:
            title = title % FU.of(e.meter).word
        W.field(cv, t, self.title_line, title, t.warn if st == E.ST_PENDING else None)
        if self.code_box is not None:
            x, y, w, h = self.code_box
            cv.fill_rect(x, y, w, h, t.panel)
            if st == E.ST_ENTER:
                cv.rect(x, y, w, h, t.warn if e.error else t.line)
        self._code_slots(ui, getattr(t, self.slot_font), st == E.ST_SENDING)
        if st == E.ST_ENTER:
            W.field(cv, t, self.count, self.count_text % len(e.digits))
            if self.for_fuel is not None and len(e.meters) == 1:
                W.field(cv, t, self.for_fuel, "for " + FU.of(e.meters[0]).word)
            if e.error:
                _entry_error(ui, self.error, e.error)
        elif st == E.ST_FUEL:
            _options(ui, self.options, e.meters, e.fuel_sel)
        elif st == E.ST_SENDING and self.sending_to is not None:
            W.field(cv, t, self.sending_to, "to the %s meter" % FU.of(e.meter).word)

    def _code_slots(self, ui, font, dim):
        # 20 digit slots in groups of 4 as on the receipt; the cursor slot underlined (twice on
        # 128x64).
        cv, t = ui.cv, ui.t
        e = self.entry
        x, y, slot, gap = self.slots
        digits = e.pending_code if e.state == E.ST_PENDING else e.digits
        n = len(digits or "")
        typed = t.line if dim else t.fg
        for i in range(20):
            sx = x + i * slot + (i // 4) * gap
            if digits is not None and i < n:
                cv.text_in(font, digits[i], sx, y, slot, font.HEIGHT, typed, 1)
            elif i == n and e.cand >= 0:
                cv.text_in(font, chr(48 + e.cand), sx, y, slot, font.HEIGHT, t.elec_cur, 1)
            ul = t.elec_cur if i == n and e.state == E.ST_ENTER else t.line
            cv.hline(sx + 1, y + font.HEIGHT + 1, slot - 2, ul)
            if t.mono and i == n and e.state == E.ST_ENTER:
                cv.hline(sx + 1, y + font.HEIGHT + 2, slot - 2, ul)


def _entry_error(ui, box, error):
    # A code refused before sending: 320x240 an icon, the error and "Nothing was sent: check
    # the receipt."; 128x64 the error (shortened) inverted, "Nothing was sent" under it.
    cv, t = ui.cv, ui.t
    x, y, w, h = box
    if t.mono:
        cv.fill_rect(x, y, w, h, t.fg)
        s = "Mistyped: check digits" if error == E.MSG_MISTYPED else error
        cv.text_in(t.small, s, x, y, w, h, t.bg, 1)
        cv.text_in(t.small, "Nothing was sent", x, y + h + 1, w, 10, t.fg, 1)
        return
    W.status_icon(cv, t, x + 14, y + 42, t.bad, False)
    cv.text(t.bold, error, x + 36, y + 24, t.bad)
    cv.text(t.small, "Nothing was sent: check the receipt.", x + 36, y + 44, t.dim)


def _options(ui, box, meters, sel):
    # Which meter the code is for: one option per meter across the box, the chosen one lit.
    cv, t = ui.cv, ui.t
    x, y, w, h = box
    n = len(meters)
    gap = 2 if t.mono else 12
    ow = (w - gap * (n - 1)) // n
    for i in range(n):
        fu = FU.of(meters[i])
        on = i == sel
        ox = x + i * (ow + gap)
        if t.mono:
            if on:
                cv.fill_rect(ox, y, ow, h, t.fg)
            else:
                cv.rect(ox, y, ow, h, t.fg)
            cv.text_in(t.small, "%d %s" % (i + 1, fu.short), ox, y, ow, h, t.bg if on else t.fg,
                       1)  # fmt: skip
            continue
        col = fuel_colour(t, fu.index)
        cv.fill_rect(ox, y, ow, h, col if on else t.panel)
        fg = t.on_accent if on else col
        W.fuel_icon(cv, ox + 12, y + 10, fu.index, fg)
        cv.text(t.bold, fu.name, ox + 36, y + 10, fg)
        cv.text(t.small, "press %d" % (i + 1), ox + 36, y + 32, fg)


def _result(ui, box, e):
    # The service's answer. 320x240: an icon, the outcome in its colour, then the amount and
    # the credit, or what to do; 128x64: the outcome inverted, then the same in short.
    cv, t = ui.cv, ui.t
    x, y, w, h = box
    r = e.result
    if r is None:
        return
    kept = e._kept()
    fuel = FU.of(r.fuel)
    if t.mono:
        f = t.small
        head = "No answer: code kept" if kept else r.text()
        if r.maybe_applied:
            head = "Used: 1st try worked?"
        cv.fill_rect(x, y, w, 11, t.fg)
        cv.text_in(f, W.ellipsize(f, head, w - 2), x, y, w, 11, t.bg, 1)
        if r.ok():
            if r.amount_mp is not None:
                s = "+%s %s" % (fmt.money(r.amount_mp), fuel.short)
                cv.text_in(f, s, x, y + 13, w, 10, t.fg, 1)
            if r.credit_mp is not None:
                cv.text(f, "Credit", x, y + 30, t.fg)
                s = fmt.money(r.credit_mp)
                cv.text(t.big, s, x + w - text_width(t.big, s), y + 26, t.fg)
            return
        lines = ("OK: send again", "BACK: keep for later") if kept else (
            "Nothing was added", "OK: edit the code")  # fmt: skip
        cv.text_in(f, lines[0], x, y + 16, w, 10, t.fg, 1)
        cv.text_in(f, lines[1], x, y + 28, w, 10, t.fg, 1)
        if r.utrn:
            cv.text_in(f, r.utrn[-9:], x, y + 40, w, 10, t.fg, 1)
        return
    ok = r.ok() or r.maybe_applied
    col = t.good if ok else (t.warn if kept else t.bad)
    W.status_icon(cv, t, x + w // 2, y + 30, col, None if kept else ok)
    head = r.text()
    if r.maybe_applied:
        head = "Code already used"
    elif kept:
        head = "No answer from the meter"
    cv.text_in(t.bold, head, x, y + 54, w, 20, col, 1)
    if r.ok():
        if r.amount_mp is not None:
            s = "%s added to %s" % (fmt.money(r.amount_mp), fuel.word)
            cv.text_in(t.medium, s, x, y + 78, w, 20, t.fg, 1)
        if r.credit_mp is not None:
            cv.text_in(t.small, "Credit now", x, y + 106, w, 16, t.dim, 1)
            cv.text_in(t.big, fmt.money(r.credit_mp), x, y + 124, w, 36, t.fg, 1)
        return
    if r.maybe_applied:
        lines = ("The first try most likely got through.", "Check the credit shown.")
    elif kept:
        lines = ("The code is kept and was not lost.", "OK sends it again now,",
                 "BACK keeps it for later.")  # fmt: skip
    else:
        lines = ("Nothing was added.", "Check the code and the meter,",
                 "or call your supplier.")  # fmt: skip
    yy = y + 82
    for s in lines:
        cv.text_in(t.medium, s, x, yy, w, 20, t.fg, 1)
        yy += 22
    if r.utrn:
        cv.text_in(t.small, r.utrn, x, yy + 8, w, 16, t.dim, 1)
