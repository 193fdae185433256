# Widgets and layouts (in the spirit of nano-gui: a widget owns its place on the panel and
# redraws itself only when its value changes).
#
# A layout says what is where on one resolution: a tuple of entries, each
#   (name, kind, (x, y, w, h), arguments of the kind...)
# in absolute panel coordinates, fonts and colours named by their Theme attribute ("small",
# "dim"). A layout is written `_NAME = const((...))` with literals only (an imported name would
# make it be built at run time): folded into the code, it stays in flash when frozen, no RAM.
# Kinds:
#   decoration (name None), drawn by decorate() in the order given:
#     "fill"  colour                    a filled box
#     "text"  font, colour, text, align a fixed text in the box (h 0: top at y)
#     "icon"  fuel index, small         a fuel icon at (x, y), in the fuel's colour
#     "card"  fuel index, style         a fuel card titled with the fuel's name (fuel_card)
#     "status" colour, ok               status_icon() centred on (x, y)
#   named, placed on a screen object by place() (screen.<name> = ...):
#     "label" font, bg, align           a Label: cached text that clears its own box
#     "per-fuel" font, bg, align, dx, dy  a Label per fuel (a tuple), each (dx, dy) further on
#     "field" font, colour, align       the entry itself: text drawn in full with field()
#     "box"                             the box (x, y, w, h) itself: an area the screen fills
#     "value" v (in place of the box)   a number or text the screen reads (a row height, ...)
# Alignment: 0 left, 1 centre, 2 right, + FIT (4): cut to the width with "...".
# MIT license
from array import array

from micropython import const

from ihd.state.fuels import ELEC, FUELS
from ihd.ui.canvas import glyph_index, text_width
from ihd.ui.theme import fuel_colour

_LIM = const(0x3FFFFFFF)  # largest small int of a 32-bit port
_FIT = const(4)

# Icon outlines (relative coordinates for framebuf.poly), designed on a 16x20 box.
_BOLT = array("h", (9, 0, 1, 11, 7, 11, 5, 20, 14, 7, 8, 7, 11, 0))
_FLAME = array("h", (8, 0, 13, 6, 15, 12, 13, 17, 8, 20, 3, 17, 1, 12, 3, 7, 6, 10))
_BOLT_S = array("h", (5, 0, 0, 6, 4, 6, 3, 10, 8, 4, 4, 4, 6, 0))
_FLAME_S = array("h", (4, 0, 7, 3, 8, 6, 7, 9, 4, 10, 1, 9, 0, 6, 2, 3, 3, 5))


class Label:
    # A text in a fixed box: its layout entry says where (x, y, w, h), in which font, on which
    # background and how aligned; it remembers the text and colour it last drew, so show() with
    # the same ones draws (and pushes) nothing and allocates nothing. reset() when something
    # else painted over its box. Label i of a "per-fuel" entry sits i * (dx, dy) further on.
    # (3 attributes, 48 B on a 32-bit port: the entry itself is constant data.)
    i = 0

    def __init__(self, entry, i=0):
        self.entry = entry
        if i:
            self.i = i
        self.text = None
        self.fg = 0

    def reset(self):
        self.text = None

    def show(self, ui, s, fg):
        # -> True if it drew.
        if s == self.text and fg == self.fg:
            return False
        self.text = s
        self.fg = fg
        e = self.entry
        t = ui.t
        x, y, w, h = e[2]
        if self.i:
            x += self.i * e[6]
            y += self.i * e[7]
        ui.cv.fill_rect(x, y, w, h, getattr(t, e[4]))
        ui.cv.text_in(getattr(t, e[3]), s, x, y, w, h, fg, e[5])
        return True


def place(obj, layout):
    # Gives obj an attribute per named entry of the layout (the module comment has the kinds).
    for e in layout:
        name = e[0]
        if name is None:
            continue
        kind = e[1]
        if kind == "label":
            v = Label(e)
        elif kind == "per-fuel":
            v = (Label(e), Label(e, 1))
        elif kind == "field":
            v = e
        else:  # "box", "value"
            v = e[2]
        setattr(obj, name, v)


def reset(obj, layout):
    # Forgets what obj's Labels showed (their area was cleared): the next show() draws.
    for e in layout:
        if e[1] == "label":
            getattr(obj, e[0]).reset()
        elif e[1] == "per-fuel":
            for lab in getattr(obj, e[0]):
                lab.reset()


def decorate(cv, t, layout):
    # Draws the layout's decoration (the parts that never change).
    for e in layout:
        if e[0] is not None:
            continue
        kind = e[1]
        x, y, w, h = e[2]
        if kind == "fill":
            cv.fill_rect(x, y, w, h, getattr(t, e[3]))
        elif kind == "text":
            text_box(cv, getattr(t, e[3]), e[5], x, y, w, h, getattr(t, e[4]), e[6])
        elif kind == "icon":
            fuel_icon(cv, x, y, e[3], fuel_colour(t, e[3]), e[4])
        elif kind == "card":
            fuel_card(cv, t, e[2], e[3], FUELS[e[3]].name, e[4])
        elif kind == "status":
            status_icon(cv, t, x, y, getattr(t, e[3]), e[4])


def clear(ui):
    # Paints the screen body (the frame's "body" box) with the background.
    x, y, w, h = ui.body
    ui.cv.fill_rect(x, y, w, h, ui.t.bg)


def text_box(cv, font, s, x, y, w, h, c, align=0):
    # Text in a box (h 0: top at y, else centred); align as in the layouts, FIT cuts it.
    if align & _FIT:
        s = ellipsize(font, s, w)
    if not h:
        h = font.HEIGHT
    return cv.text_in(font, s, x, y, w, h, c, align & 3)


def field(cv, t, e, s, c=None, dy=0):
    # Draws s in a "field" entry (its font, colour unless c is given, alignment), dy lower (the
    # rows of a list); -> the x after the text.
    x, y, w, h = e[2]
    return text_box(cv, getattr(t, e[3]), s, x, y + dy, w, h,
                    getattr(t, e[4]) if c is None else c, e[5])  # fmt: skip


def fuel_icon(cv, x, y, fuel_id, c, small=False):
    # A bolt for electricity, a flame for gas.
    if fuel_id == ELEC:
        cv.poly(x, y, _BOLT_S if small else _BOLT, c)
    else:
        cv.poly(x, y, _FLAME_S if small else _FLAME, c)


def fuel_card(cv, t, box, fuel_id, title, style):
    # A panel with a stripe, the fuel's icon and a title in the fuel's colour. style =
    # (stripe on top, icon x, icon y, title x, title y), offsets in the card (the screens'
    # cards differ by a pixel or two; kept so the output stays the same).
    x, y, w, h = box
    top, ix, iy, tx, ty = style
    col = fuel_colour(t, fuel_id)
    cv.fill_rect(x, y, w, h, t.panel)
    if top:
        cv.fill_rect(x, y, w, 3, col)
    else:
        cv.fill_rect(x, y, 3, h, col)
    fuel_icon(cv, x + ix, y + iy, fuel_id, col, small=True)
    cv.text(t.bold, title, x + tx, y + ty, col)


def link_icon(cv, t, x, y, state, bg):
    # Three signal bars (w 14, h 12 colour; w 9, h 8 mono); state: 0 down, 1 joining, 2 up.
    s = 1 if t.mono else 2
    cv.fill_rect(x, y, 7 * s, 6 * s, bg)
    on = t.good if state == 2 else (t.warn if state == 1 else t.bad)
    n = 3 if state == 2 else (2 if state == 1 else 0)
    for i in range(3):
        bh = (i + 1) * 2 * s
        bx = x + i * 3 * s
        by = y + 6 * s - bh
        if i < n:
            cv.fill_rect(bx, by, 2 * s, bh, on)
        elif t.mono:
            cv.rect(bx, by, 2, bh, t.fg)
        else:
            cv.fill_rect(bx, by, 2 * s, bh, t.line)
    if state == 0:
        # A cross over the bars: no link.
        cv.fb.line(x, y, x + 7 * s - 1, y + 6 * s - 1, t.bad)
        cv.fb.line(x, y + 6 * s - 1, x + 7 * s - 1, y, t.bad)


def unread_icon(cv, t, box, n):
    # An envelope (w 14, h 10 colour, with the count beside it; w 9, h 7 mono) while n > 0.
    x, y, w, h = box
    cv.fill_rect(x, y, w, h, t.header)
    if n <= 0:
        return
    ew, eh = (9, 7) if t.mono else (14, 10)
    c = t.fg if t.mono else t.warn
    y += (h - eh) // 2
    cv.rect(x, y, ew, eh, c)
    cv.fb.line(x, y, x + ew // 2, y + eh // 2, c)
    cv.fb.line(x + ew - 1, y, x + ew // 2, y + eh // 2, c)
    if not t.mono:
        cv.text_in(t.small, "%d" % n if n < 10 else "9+", x + ew + 1, box[1], w - ew - 1, h, c, 1)


_AMBIENT_TEXT = const(("Low", "Medium", "High"))
_AMBIENT_TAG = const(("LOW", "MED", "HIGH"))


def ambient(cv, t, box, level):
    # The ambient (traffic light) level in its box: colour a disc over "Medium use", mono an
    # inverted tag; nothing for an unknown level (-1).
    x, y, w, h = box
    cv.fill_rect(x, y, w, h, t.bg)
    if not 0 <= level <= 2:
        return
    if t.mono:
        cv.fill_rect(x + 2, y + 2, w - 2, h - 3, t.fg)
        cv.text_in(t.small, _AMBIENT_TAG[level], x + 2, y + 2, w - 2, h - 3, t.bg, 1)
        return
    c = (t.good, t.warn, t.bad)[level]
    cv.ellipse(x + w // 2 - 1, y + 18, 16, 16, c)
    cv.text_in(t.small, _AMBIENT_TEXT[level], x, y + 38, w, 14, c, 1)
    cv.text_in(t.small, "use", x, y + 50, w, 12, t.dim, 1)


def status_icon(cv, t, cx, cy, c, ok):
    # A disc with a tick (ok True), a cross (False) or "!" (None) in it.
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


def wrap(font, s, width):
    # Greedy word wrap -> list of lines (explicit "\n" honoured).
    out = []
    for para in s.split("\n"):
        line = ""
        for word in para.split(" "):
            cand = word if not line else line + " " + word
            if text_width(font, cand) <= width or not line:
                line = cand
            else:
                out.append(line)
                line = word
        out.append(line)
    return out


def ellipsize(font, s, width):
    # Cut s to fit width, ending in "..." when cut (one pass over the glyph widths).
    widths = font.WIDTHS
    room = width - text_width(font, "...")
    used = 0
    cut = -1
    for i, ch in enumerate(s):
        used += widths[glyph_index(font, ch)]
        if cut < 0 and used > room:
            cut = i
        if used > width:
            return s[:cut] + "..."
    return s


def nice_max(v):
    # Round an axis maximum up to 1, 2 or 5 x 10^n.
    if v <= 0:
        return 1
    m = 1
    while m * 10 <= v:
        m *= 10
    for k in (1, 2, 5, 10):
        if v <= k * m:
            return k * m
    return 10 * m


def muldiv(v, a, d):
    # floor(v * a / d) for 0 <= v <= d, 0 < a < 2^15 without a big int on a 32-bit port (a bar
    # of a 13-month cost chart: v ~ 1e7 mp, a ~ 150 px): binary long multiplication, r < 3d.
    if a <= 0 or v <= _LIM // a or d > _LIM // 3 or v > d:
        return v * a // d
    q = r = 0
    bit = 0x4000
    while bit:
        q <<= 1
        r <<= 1
        if a & bit:
            r += v
        while r >= d:
            r -= d
            q += 1
        bit >>= 1
    return q


def bar_chart(cv, t, box, values, n, fg, fg_cur, cur, bg, ymax, ylabs, xlabs, vlabs=None):
    # values: sequence of at least n ints or None (missing); cur: index of the slot in progress
    # (drawn in fg_cur) or -1. Labels are prepared by the caller (a render then formats
    # nothing): ylabs = the axis labels of 0, ymax / 2 and ymax (values ymax * k // 2); xlabs[i]
    # = label under slot i or None; vlabs[i] = value label over bar i (used for positive bars
    # of a series of at most 8, colour only) or vlabs None.
    # Layout: y-axis labels on the left (on mono only the maximum, in the top-left corner:
    # no bar reaches it; none when every bar carries its value), x labels under the bars.
    x, y, w, h = box
    f = t.small
    cv.fill_rect(x, y, w, h, bg)
    top = 0 if t.mono or n > 8 or vlabs is None else f.HEIGHT + 2  # room for value labels
    lab_w = 0
    if t.mono:
        lab_w = text_width(f, ylabs[2]) + 2
    elif not top:
        for k in (0, 1, 2):
            lab_w = max(lab_w, text_width(f, ylabs[k]))
        lab_w += 4
    ax = x + lab_w
    aw = w - lab_w
    ah = h - f.HEIGHT - 3 - top
    base = y + top + ah
    # Grid: baseline, half, full.
    for k in (0, 1, 2):
        gy = base - (ah - 1) * k // 2
        if t.mono:
            if k == 0:
                cv.hline(ax, gy, aw, t.fg)
            elif k == 2 or (ah - 1) // 2 > f.HEIGHT:  # no half line the maximum's label reaches
                for gx in range(ax, ax + aw, 4):
                    cv.fb.pixel(gx, gy, t.fg)
            if k == 2:
                cv.text(f, ylabs[2], x, gy, t.fg)
        else:
            cv.hline(ax, gy, aw, t.line)
            if lab_w:
                s = ylabs[k]
                cv.text(f, s, ax - 3 - text_width(f, s), gy - f.HEIGHT // 2, t.dim)
    slot = aw // n
    gap = 1 if slot < 6 else (2 if slot < 14 else slot // 4)
    bw = slot - gap
    ox = ax + (aw - slot * n + gap) // 2
    for i in range(n):
        v = values[i]
        bx = ox + i * slot
        if v is not None and v > 0:
            bh = muldiv(v, ah - 1, ymax)
            if bh < 1:
                bh = 1
            if bh > ah - 1:
                bh = ah - 1
            cv.fill_rect(bx, base - bh, bw, bh, fg_cur if i == cur else fg)
            if top and vlabs is not None:
                s = vlabs[i]
                lw = text_width(f, s)
                cv.fill_rect(bx + (bw - lw) // 2, base - bh - f.HEIGHT - 1, lw, f.HEIGHT, bg)
                cv.text(f, s, bx + (bw - lw) // 2, base - bh - f.HEIGHT - 1, t.dim)
        s = xlabs[i]
        if s:
            lw = text_width(f, s)
            lx = bx + bw // 2 - lw // 2
            if lx < ax:
                lx = ax
            if lx + lw > x + w - 1:  # clear of the box's (the panel's) right edge
                lx = x + w - 1 - lw
            cv.text(f, s, lx, base + (2 if t.mono else 3), t.dim)  # (mono: p, y clear of row 63)


def progress(cv, t, box, fill, c):
    # A bar in its box (the box cleared, the bar half its height, vertically centred): an
    # outline, filled fill px from the left in c (fill <= w - 2).
    x, y, w, h = box
    bh = h // 2
    by = y + (h - bh) // 2
    cv.fill_rect(x, y, w, h, t.bg)
    cv.rect(x, by, w, bh, t.line if not t.mono else t.fg)
    if fill > 0:
        cv.fill_rect(x + 1, by + 1, fill, bh - 2, c)
