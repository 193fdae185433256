# Widgets: cached labels, status icons (link, ambient, fuel), bar chart with axis labels, text
# wrapping. Each widget clears its own box and draws into the Canvas, which marks it dirty.
# MIT license
from array import array

from micropython import const

from ihd.ui.canvas import glyph_index, text_width

_SLOTS = const(32)
_LIM = const(0x3FFFFFFF)  # largest small int of a 32-bit port

# Icon outlines (relative coordinates for framebuf.poly), designed on a 16x20 box.
_BOLT = array("h", (9, 0, 1, 11, 7, 11, 5, 20, 14, 7, 8, 7, 11, 0))
_FLAME = array("h", (8, 0, 13, 6, 15, 12, 13, 17, 8, 20, 3, 17, 1, 12, 3, 7, 6, 10))
_BOLT_S = array("h", (5, 0, 0, 6, 4, 6, 3, 10, 8, 4, 4, 4, 6, 0))
_FLAME_S = array("h", (4, 0, 7, 3, 8, 6, 7, 9, 4, 10, 1, 9, 0, 6, 2, 3, 3, 5))


class Labels:
    # Remembers what each label slot last showed, so an unchanged value is neither redrawn nor
    # pushed to the panel. reset() on a full redraw.
    def __init__(self):
        self.text = [None] * _SLOTS
        self.fg = [0] * _SLOTS

    def reset(self):
        for i in range(_SLOTS):
            self.text[i] = None

    def draw(self, cv, slot, font, s, x, y, w, h, fg, bg, align=0):
        if self.text[slot] == s and self.fg[slot] == fg:
            return False
        self.text[slot] = s
        self.fg[slot] = fg
        cv.fill_rect(x, y, w, h, bg)
        cv.text_in(font, s, x, y, w, h, fg, align)
        return True


def fuel_icon(cv, x, y, fuel_id, c, small=False):
    if fuel_id == 0:
        cv.poly(x, y, _BOLT_S if small else _BOLT, c)
    else:
        cv.poly(x, y, _FLAME_S if small else _FLAME, c)


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


AMBIENT_TEXT = ("Low", "Medium", "High")


def ambient_colour(t, level):
    return (t.good, t.warn, t.bad)[level] if 0 <= level <= 2 else t.dim


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


def _muldiv(v, a, d):
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


def bar_chart(cv, t, x, y, w, h, values, n, fg, fg_cur, cur, bg, ymax, ylabs, xlabs, vlabs=None):
    # values: sequence of at least n ints or None (missing); cur: index of the slot in progress
    # (drawn in fg_cur) or -1. Labels are prepared by the caller (a render then formats
    # nothing): ylabs = the axis labels of 0, ymax / 2 and ymax (values ymax * k // 2); xlabs[i]
    # = label under slot i or None; vlabs[i] = value label over bar i (used for positive bars
    # of a series of at most 8, colour only) or vlabs None.
    # Layout: y-axis labels on the left, x labels under the bars.
    f = t.small
    cv.fill_rect(x, y, w, h, bg)
    lab_w = 0
    for k in (0, 1, 2):
        lab_w = max(lab_w, text_width(f, ylabs[k]))
    lab_w += 4
    if t.mono:
        lab_w = 0  # no room: the maximum is shown by the caller
    ax = x + lab_w
    aw = w - lab_w
    ah = h - f.HEIGHT - 3
    top = (
        0 if t.mono or n > 8 or vlabs is None else f.HEIGHT + 2
    )  # room for value labels above short series
    ah -= top
    base = y + top + ah
    # Grid: baseline, half, full.
    for k in (0, 1, 2):
        gy = base - (ah - 1) * k // 2
        if t.mono:
            if k == 0:
                cv.hline(ax, gy, aw, t.fg)
            else:
                for gx in range(ax, ax + aw, 4):
                    cv.fb.pixel(gx, gy, t.fg)
        else:
            cv.hline(ax, gy, aw, t.line)
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
            bh = _muldiv(v, ah - 1, ymax)
            if bh < 1:
                bh = 1
            if bh > ah - 1:
                bh = ah - 1
            cv.fill_rect(bx, base - bh, bw, bh, fg_cur if i == cur else fg)
            if top:
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
            if lx + lw > x + w:
                lx = x + w - lw
            cv.text(f, s, lx, base + 3, t.dim)
