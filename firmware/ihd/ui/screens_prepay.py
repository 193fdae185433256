# PPMID screens (docs/prepay.md "UI"): the Prepayment screen with actions (credit, emergency
# credit, debt per fuel, alert banner, emergency-credit offer, top-up log) and the UTRN entry
# screen. They talk to the prepayment service only through model.prepay_actions, any object
# with: top_up(meter, digits) and retry(meter) and select_emergency_credit(meter) (coroutines
# returning a Result with code, text(), ok(), credit_mp, amount_mp, ec_mp, lock_s,
# maybe_applied), pending(meter), ec_offer(meter), alerts(), acknowledge(meter, kind),
# lock_remaining_s(), top_up_log(), prepayment_meters(). Long calls run as tasks (ui.spawn);
# the screen shows "Sending..." meanwhile. No other I/O here.
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


# ---------------------------------------------------------------------------------------------
class PrepayPanel:
    # State and drawing of the Prepayment screen when the device is a PPMID (actions present).
    # Banner priority: EC dialog > unacknowledged alert > EC offer > last EC result > hint.
    def __init__(self):
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
        if ui.t.mono:
            self._draw_mono(ui)
        else:
            self._draw_colour(ui)

    def _draw_colour(self, ui):
        cv, t, m = ui.cv, ui.t, ui.m
        x0, y0, w, h = ui.body
        cv.fill_rect(x0, y0, w, h, t.bg)
        kind, text, _, good = self.banner(m)
        bx, bw = x0 + t.pad, w - 2 * t.pad
        if kind == "hint":
            cv.text_in(t.small, text, bx, y0 + 4, bw, 20, t.dim, 1)
        else:
            bg = {"alert": t.bad, "offer": t.warn, "busy": t.panel}.get(kind)
            if bg is None:
                bg = t.good if good else t.bad
            fg = t.fg if kind == "busy" else t.on_accent
            cv.fill_rect(bx, y0 + 4, bw, 20, bg)
            s = W.ellipsize(t.small, text, bw - (30 if kind == "alert" else 8))
            cv.text_in(t.small, s, bx + 6, y0 + 4, bw, 20, fg, 0)
            if kind == "alert":
                cv.fill_rect(bx + bw - 26, y0 + 7, 22, 14, t.on_accent)
                cv.text_in(t.small, "OK", bx + bw - 26, y0 + 7, 22, 14, bg, 1)
        fuels = fuel_prepay(m)
        n = max(1, len(fuels))
        cw = (w - t.pad * (n + 1)) // n
        cy, ch = y0 + 30, 96
        for k in range(len(fuels)):
            self._card(ui, fuels[k], x0 + t.pad + k * (cw + t.pad), cy, cw, ch)
        self._log_colour(ui, x0 + t.pad, y0 + 132, w - 2 * t.pad)
        if self.dialog is not None:
            self._dialog_colour(ui)

    def _card(self, ui, f, x, y, w, h):
        cv, t, m = ui.cv, ui.t, ui.m
        col = fuel_colour(t, f.id)
        cv.fill_rect(x, y, w, h, t.panel)
        cv.fill_rect(x, y, w, 3, col)
        W.fuel_icon(cv, x + 8, y + 9, f.id, col, small=True)
        cv.text(t.bold, f.name, x + 22, y + 6, col)
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

    def _log_colour(self, ui, x, y, w):
        cv, t = ui.cv, ui.t
        cv.text(t.small, "Recent top-ups", x, y, t.dim)
        cv.hline(x, y + 15, w, t.line)
        log = ui.m.prepay_actions.top_up_log()
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

    def _dialog_colour(self, ui):
        cv, t, m = ui.cv, ui.t, ui.m
        x0, y0, w, _ = ui.body
        dx, dy, dw, dh = x0 + 24, y0 + 34, w - 48, 128
        cv.fill_rect(dx - 2, dy - 2, dw + 4, dh + 4, t.warn)
        cv.fill_rect(dx, dy, dw, dh, t.panel)
        ec = m.prepay_actions.ec_offer(self.dialog)
        cv.text(t.bold, "Emergency credit", dx + 12, dy + 8, t.warn)
        s = "Take %s for %s?" % (fmt.money(ec or 0), FU.of(self.dialog).word)
        cv.text(t.medium, s, dx + 12, dy + 34, t.fg)
        cv.text(t.small, "It is paid back from your next top-up.", dx + 12, dy + 58, t.dim)
        bw = (dw - 36) // 2
        for i, label in enumerate(("Take it", "Top up")):
            sel = i == self.dialog_sel
            bx = dx + 12 + i * (bw + 12)
            cv.fill_rect(bx, dy + dh - 38, bw, 28, t.warn if sel else t.sel)
            cv.text_in(t.bold, label, bx, dy + dh - 38, bw, 28, t.on_accent if sel else t.fg, 1)

    def _draw_mono(self, ui):
        cv, t, m = ui.cv, ui.t, ui.m
        x0, y0, w, h = ui.body
        cv.fill_rect(x0, y0, w, h, 0)
        f = t.small
        if self.dialog is not None:
            ec = m.prepay_actions.ec_offer(self.dialog)
            cv.text(f, "Emergency credit", x0, y0, 1)
            cv.text(f, "Take %s for %s?" % (fmt.money(ec or 0), FU.of(self.dialog).short), x0,
                    y0 + 10, 1)  # fmt: skip
            cv.text(f, "Repaid at next top-up", x0, y0 + 20, 1)
            for i, label in enumerate(("Take it", "Top up")):
                bx = x0 + i * 64
                if i == self.dialog_sel:
                    cv.fill_rect(bx, y0 + 33, 62, 12, 1)
                else:
                    cv.rect(bx, y0 + 33, 62, 12, 1)
                cv.text_in(f, label, bx, y0 + 33, 62, 12, 0 if i == self.dialog_sel else 1, 1)
            return
        y = y0
        fuels = fuel_prepay(m)
        debt = 0
        for fu in fuels:
            p = m.view_prepay(fu.id)
            tag = fu.fuel.letter
            s = "%s %s" % (tag, fmt.money(p[0]) if p else "--")
            cv.text(f, s, x0, y, 1)
            if p:
                debt += p[2] or 0
                r = ("EC in use %s" if fu.ec_in_use else "EC %s") % fmt.money(p[1] or 0)
                cv.text(f, r, x0 + w - text_width(f, r), y, 1)
            y += 10
        cv.text(f, "Debt %s" % fmt.money(debt), x0, y, 1)
        y += 10
        log = m.prepay_actions.top_up_log()
        if log and y <= y0 + 30:
            utc, meter, amount, code, masked = log[0]
            v = fmt.money(amount) if code == 0 and amount is not None else _LOG_SHORT.get(code)
            s = "%s %s %s" % (fmt.date_short(utc)[4:], FU.of(meter).letter, v or "error")
            cv.text(f, W.ellipsize(f, s, w - 34), x0, y, 1)
            cv.text(f, masked[-4:], x0 + w - text_width(f, masked[-4:]), y, 1)
        kind, text, _, _ = self.banner(m)
        short = {"alert": "LOW CREDIT  OK", "busy": "Sending..."}
        if kind == "offer":
            s = "EC %s: press OK" % text.split(" ")[2]
        elif kind == "alert" and text.endswith("in use"):
            s = "EC IN USE  OK"
        else:
            s = short.get(kind) or ("OK/0-9: top up" if kind == "hint" else text)
        cv.fill_rect(x0, y0 + h - 11, w, 11, 1)
        cv.text_in(f, W.ellipsize(f, s, w - 2), x0, y0 + h - 11, w, 11, 0, 1)


def open_entry(ui, digit=None):
    ui.go("utrn")
    if digit is not None:
        ui.screen("utrn").key_digit(ui, digit)


# ---------------------------------------------------------------------------------------------
class Utrn:
    # Top-up code entry (not in the prev/next rotation: reached from the Prepayment screen).
    name = "utrn"
    title = "Top up"
    deps = M.D_PREPAY
    focusable = False
    hidden = True

    def __init__(self):
        self.focus = False
        self.entry = E.Entry()
        self._shown_s = -1

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
        if ui.t.mono:
            self._draw_mono(ui)
        else:
            self._draw_colour(ui)

    def _code_slots(self, ui, x, y, font, slot, gap, c_typed, c_empty, c_cur, dim=False):
        # 20 digit slots in groups of 4 as on the receipt; the cursor slot underlined.
        cv, t = ui.cv, ui.t
        e = self.entry
        digits = e.pending_code if e.state == E.ST_PENDING else e.digits
        n = len(digits or "")
        for i in range(20):
            sx = x + i * slot + (i // 4) * gap
            if i < n:
                ch = digits[i]
                cv.text_in(font, ch, sx, y, slot, font.HEIGHT, c_empty if dim else c_typed, 1)
            elif i == n and e.cand >= 0:
                cv.text_in(font, chr(48 + e.cand), sx, y, slot, font.HEIGHT, c_cur, 1)
            ul = c_cur if i == n and e.state == E.ST_ENTER else c_empty
            cv.hline(sx + 1, y + font.HEIGHT + 1, slot - 2, ul)
            if t.mono and i == n and e.state == E.ST_ENTER:
                cv.hline(sx + 1, y + font.HEIGHT + 2, slot - 2, ul)

    def _draw_colour(self, ui):
        from ihd.ui.fonts import digits20

        cv, t, m = ui.cv, ui.t, ui.m
        x0, y0, w, h = ui.body
        e = self.entry
        st = e.state
        cv.fill_rect(x0, y0, w, h, t.bg)
        a = m.prepay_actions
        if a is None:
            cv.text_in(t.medium, "Top-up not available", x0, y0, w, h, t.dim, 1)
            return
        if st == E.ST_LOCKED:
            left = e.lock_left_s(_ms())
            self._status_icon(ui, x0 + w // 2, y0 + 40, t.bad, False)
            cv.text_in(t.bold, "Too many wrong codes", x0, y0 + 70, w, 20, t.bad, 1)
            cv.text_in(t.medium, "Top-up is locked for a while", x0, y0 + 96, w, 20, t.fg, 1)
            cv.text_in(t.small, "Try again in", x0, y0 + 126, w, 16, t.dim, 1)
            cv.text_in(digits20, _mmss(left), x0, y0 + 144, w, 22, t.fg, 1)
            return
        if st == E.ST_RESULT:
            self._result_colour(ui)
            return
        # Code box.
        title = {
            E.ST_ENTER: "Type the 20-digit code from your receipt",
            E.ST_FUEL: "Which meter is this code for?",
            E.ST_SENDING: "Sending to the %s meter..." % FU.of(e.meter).word,
            E.ST_PENDING: "This code was sent but not confirmed",
        }.get(st, "")
        cv.text_in(t.small, title, x0, y0 + 4, w, 16, t.warn if st == E.ST_PENDING else t.dim, 1)
        bx, by, bw, bh = x0 + t.pad, y0 + 24, w - 2 * t.pad, 40
        cv.fill_rect(bx, by, bw, bh, t.panel)
        if st == E.ST_ENTER:
            cv.rect(bx, by, bw, bh, t.warn if e.error else t.line)
        slot, gap = 13, 8
        cw = 20 * slot + 4 * gap
        self._code_slots(ui, bx + (bw - cw) // 2, by + 9, digits20, slot, gap, t.fg, t.line,
                         t.elec_cur, dim=st == E.ST_SENDING)  # fmt: skip
        y = by + bh + 8
        if st == E.ST_ENTER:
            s = "%d of 20 digits" % len(e.digits)
            cv.text(t.small, s, bx, y, t.dim)
            if len(e.meters) == 1:
                s = "for " + FU.of(e.meters[0]).word
                cv.text(t.small, s, bx + bw - text_width(t.small, s), y, t.dim)
            if e.error:
                self._status_icon(ui, bx + 14, y + 42, t.bad, False)
                cv.text(t.bold, e.error, bx + 36, y + 24, t.bad)
                s = "Nothing was sent: check the receipt."
                cv.text(t.small, s, bx + 36, y + 44, t.dim)
            else:
                for i, s in enumerate(("Check the code as you type it:", "it is checked here "
                                       "before it goes to the meter.")):  # fmt: skip
                    cv.text(t.small, s, bx, y + 30 + 16 * i, t.dim)
            return
        if st == E.ST_FUEL:
            n = len(e.meters)
            ow = (bw - 12 * (n - 1)) // n
            for i in range(n):
                mt = e.meters[i]
                sel = i == e.fuel_sel
                col = fuel_colour(t, FU.of(mt).index)
                ox = bx + i * (ow + 12)
                cv.fill_rect(ox, y + 14, ow, 56, col if sel else t.panel)
                fg = t.on_accent if sel else col
                W.fuel_icon(cv, ox + 12, y + 24, FU.of(mt).index, fg)
                cv.text(t.bold, FU.of(mt).name, ox + 36, y + 24, fg)
                cv.text(t.small, "press %d" % (i + 1), ox + 36, y + 46, fg)
            return
        if st == E.ST_SENDING:
            cv.text_in(t.bold, "Sending...", x0, y + 30, w, 20, t.fg, 1)
            cv.text_in(t.small, "This takes a few seconds. Please wait.", x0, y + 56, w, 16,
                       t.dim, 1)  # fmt: skip
            return
        if st == E.ST_PENDING:
            s = "The meter did not answer. OK sends it again;"
            cv.text_in(t.small, s, x0, y + 24, w, 16, t.fg, 1)
            s = "the meter will not add the same code twice."
            cv.text_in(t.small, s, x0, y + 42, w, 16, t.fg, 1)
            cv.text_in(t.small, "BACK keeps it for later.", x0, y + 64, w, 16, t.dim, 1)

    def _status_icon(self, ui, cx, cy, c, ok):
        cv, t = ui.cv, ui.t
        r = 14 if not t.mono else 5
        cv.ellipse(cx, cy, r, r, c)
        k = r // 2
        if ok is None:  # "!"
            cv.fill_rect(cx - 1, cy - k - 2, 3, k + 4, t.on_accent)
            cv.fill_rect(cx - 1, cy + k - 1, 3, 3, t.on_accent)
        elif ok:
            for d in (-1, 0, 1):
                cv.fb.line(cx - k, cy + d, cx - 1, cy + k + d, t.on_accent)
                cv.fb.line(cx - 1, cy + k + d, cx + k + 1, cy - k + d, t.on_accent)
        else:
            for d in (-1, 0, 1):
                cv.fb.line(cx - k + d, cy - k, cx + k + d, cy + k, t.on_accent)
                cv.fb.line(cx - k + d, cy + k, cx + k + d, cy - k, t.on_accent)

    def _result_colour(self, ui):
        cv, t = ui.cv, ui.t
        x0, y0, w, _ = ui.body
        e = self.entry
        r = e.result
        kept = e._kept()
        ok = r.ok() or r.maybe_applied
        col = t.good if ok else (t.warn if kept else t.bad)
        self._status_icon(ui, x0 + w // 2, y0 + 30, col, None if kept else ok)
        head = r.text()
        if r.maybe_applied:
            head = "Code already used"
        elif kept:
            head = "No answer from the meter"
        cv.text_in(t.bold, head, x0, y0 + 54, w, 20, col, 1)
        fuel = FU.of(r.fuel).name
        if r.ok():
            if r.amount_mp is not None:
                s = "%s added to %s" % (fmt.money(r.amount_mp), fuel.lower())
                cv.text_in(t.medium, s, x0, y0 + 78, w, 20, t.fg, 1)
            if r.credit_mp is not None:
                cv.text_in(t.small, "Credit now", x0, y0 + 106, w, 16, t.dim, 1)
                cv.text_in(t.big, fmt.money(r.credit_mp), x0, y0 + 124, w, 36, t.fg, 1)
            return
        if r.maybe_applied:
            lines = ("The first try most likely got through.", "Check the credit shown.")
        elif kept:
            lines = ("The code is kept and was not lost.", "OK sends it again now,",
                     "BACK keeps it for later.")  # fmt: skip
        else:
            lines = ("Nothing was added.", "Check the code and the meter,",
                     "or call your supplier.")  # fmt: skip
        y = y0 + 82
        for s in lines:
            cv.text_in(t.medium, s, x0, y, w, 20, t.fg, 1)
            y += 22
        if r.utrn:
            cv.text_in(t.small, r.utrn, x0, y + 8, w, 16, t.dim, 1)

    def _draw_mono(self, ui):
        cv, t, m = ui.cv, ui.t, ui.m
        x0, y0, w, h = ui.body
        f = t.small
        e = self.entry
        st = e.state
        cv.fill_rect(x0, y0, w, h, 0)
        if m.prepay_actions is None:
            cv.text_in(f, "Top-up not available", x0, y0, w, h, 1, 1)
            return
        if st == E.ST_LOCKED:
            cv.text_in(f, "Too many wrong codes", x0, y0 + 2, w, 10, 1, 1)
            cv.text_in(f, "Try again in", x0, y0 + 16, w, 10, 1, 1)
            cv.text_in(t.big, _mmss(e.lock_left_s(_ms())), x0, y0 + 28, w, 20, 1, 1)
            return
        if st == E.ST_RESULT:
            r = e.result
            kept = e._kept()
            head = "No answer: code kept" if kept else r.text()
            if r.maybe_applied:
                head = "Used: 1st try worked?"
            cv.fill_rect(x0, y0, w, 11, 1)
            cv.text_in(f, W.ellipsize(f, head, w - 2), x0, y0, w, 11, 0, 1)
            if r.ok():
                if r.amount_mp is not None:
                    s = "+%s %s" % (fmt.money(r.amount_mp), FU.of(r.fuel).short)
                    cv.text_in(f, s, x0, y0 + 13, w, 10, 1, 1)
                if r.credit_mp is not None:
                    cv.text(f, "Credit", x0, y0 + 30, 1)
                    s = fmt.money(r.credit_mp)
                    cv.text(t.big, s, x0 + w - text_width(t.big, s), y0 + 26, 1)
                return
            lines = ("OK: send again", "BACK: keep for later") if kept else (
                "Nothing was added", "OK: edit the code")  # fmt: skip
            cv.text_in(f, lines[0], x0, y0 + 16, w, 10, 1, 1)
            cv.text_in(f, lines[1], x0, y0 + 28, w, 10, 1, 1)
            if r.utrn:
                cv.text_in(f, r.utrn[-9:], x0, y0 + 40, w, 10, 1, 1)
            return
        title = {
            E.ST_ENTER: "Code from receipt",
            E.ST_FUEL: "Which meter?",
            E.ST_SENDING: "Sending...",
            E.ST_PENDING: "Not confirmed:",
        }.get(st, "")
        cv.text(f, title, x0, y0, 1)
        if st == E.ST_ENTER:
            s = "%d/20" % len(e.digits)
            cv.text(f, s, x0 + w - text_width(f, s), y0, 1)
        self._code_slots(ui, x0, y0 + 13, f, 6, 2, 1, 1, 1)
        y = y0 + 29
        if st == E.ST_ENTER and e.error:
            cv.fill_rect(x0, y, w, 11, 1)
            cv.text_in(f, "Mistyped: check digits" if e.error == E.MSG_MISTYPED else e.error,
                       x0, y, w, 11, 0, 1)  # fmt: skip
            cv.text_in(f, "Nothing was sent", x0, y + 12, w, 10, 1, 1)
        elif st == E.ST_ENTER:
            cv.text(f, "OK send  BACK delete", x0, y + 2, 1)
            cv.text(f, "< > digit (no keypad)", x0, y + 12, 1)
        elif st == E.ST_FUEL:
            for i in range(len(e.meters)):
                mt = e.meters[i]
                bx = x0 + i * 64
                sel = i == e.fuel_sel
                if sel:
                    cv.fill_rect(bx, y + 4, 62, 14, 1)
                else:
                    cv.rect(bx, y + 4, 62, 14, 1)
                s = "%d %s" % (i + 1, FU.of(mt).short)
                cv.text_in(f, s, bx, y + 4, 62, 14, 0 if sel else 1, 1)
        elif st == E.ST_SENDING:
            cv.text(f, "to the %s meter" % FU.of(e.meter).word, x0, y + 2, 1)
        elif st == E.ST_PENDING:
            cv.text(f, "OK send again", x0, y + 2, 1)
            cv.text(f, "BACK keep for later", x0, y + 12, 1)
