# fw: interp=unix64,unix32-frozen heapsize=2M timeout=600
# Bytes allocated per history-screen render, every period, colour 320x240 and mono 128x64, with
# the firmware's history source (history.view.HistoryView over a 13-month store):
#   - a render with unchanged history (what each meter reading causes: D_ENERGY | D_HISTORY)
#     allocates nothing (heap locked), in a home that exports too (its export line);
#   - the render after the history changed (a half-hour closed) or after switching period
#     recomputes its bars and labels: bounded (measured on 32-bit: 0.4-2.8 KB; 64-bit about
#     twice that); the view's own update at the half-hour close is not part of the render;
#   - the former path (series recomputed from the store on every render: 16-233 KB per render
#     on 32-bit for this store) is still what a source without a `version` gets.
import gc
import sys

import fwtest
import powercut
import uifakes
from ihd.history import buckets as B
from ihd.history.store import EXPORT
from ihd.history.view import HistoryView
from ihd.state import model as M
from ihd.ui import fmt
from ihd.ui.display import Ui

DAY = 86400
TODAY = fmt.days_from_civil(2026, 1, 15)
T0 = TODAY * DAY
NOW = T0 + 18 * 3600 + 600
WIDE = sys.maxsize > 0x7FFFFFFF  # a 64-bit port: objects twice the size
CHANGED_MAX = 8192 if WIDE else 4096


class Reference:
    # The former app.HistoryView (no version: screens recompute on every render).
    def __init__(self, store):
        self.store = store

    def history(self, fuel_id, period, now_utc):
        s = self.store
        vf = s.visible_from(fuel_id)
        if period == 0:
            rows = s.today(fuel_id, now_utc)
        else:
            res, count = ((B.RES_DAY, 8), (B.RES_WEEK, 5), (B.RES_MONTH, 13))[period - 1]
            rows = s.series(fuel_id, res, now_utc, count)
        return [(max(r[0], vf), r[2] if r[4] else None, r[3] if r[4] else None) for r in rows
                if r[1] > vf]  # fmt: skip


def _store():
    _, s = powercut.boot(block_count=400)
    for d in range(400, 9, -1):
        for m in (0, 1):
            s.backfill_day(m, (TODAY - d) * DAY, 9000 + 13 * d + m, 220000 + 7 * d)
    for d in range(9, -1, -1):
        for i in range(48 if d else 36):
            for m in (0, 1):
                s.append(m, (TODAY - d) * DAY + i * 1800, 100 + i * 7 + m, 2400 + 31 * i, 53350)
    for i in range(18, 30):  # the home exported around noon today
        s.append(EXPORT, TODAY * DAY + i * 1800, 400 + i, 0)
    s.flush()
    return s


def _alloc(fn, *args):
    gc.collect()
    a = gc.mem_alloc()
    fn(*args)
    return gc.mem_alloc() - a


def _check(panel):
    s = _store()
    view = HistoryView(s)
    m = M.Model(now_fn=lambda: NOW)
    m.history_source = view
    for fuel in (0, 1):
        view.history(fuel, 0, NOW)  # the view's cache of the day (a rebuild: allocates)
    view.export_totals(NOW)  # its export cache too
    m.set_export(5000, T0)  # the home exports: the electricity kWh views show it
    ui = Ui(panel, m)
    ui.go("history")
    h = ui.cur
    ui.step()
    flags = M.D_ENERGY | M.D_HISTORY
    # Warm-up pass: the first time the canvas draws a character it interns it (a qstr; now
    # and then a new qstr pool, 7-14 KB, once per boot), which is not per render.
    for fuel in (0, 1):
        for cost in (False, True):
            for p in range(4):
                h.fuel, h.cost, h.period = fuel, cost, p
                h.draw(ui, flags)
    got = []
    for fuel in (0, 1):
        for cost in (False, True):
            for p in range(4):
                h.fuel, h.cost, h.period = fuel, cost, p
                switched = _alloc(h.draw, ui, flags)  # new period: bars and labels prepared
                h.draw(ui, flags)
                with fwtest.HeapLocked():  # unchanged history: nothing allocated
                    h.draw(ui, flags)
                    h.draw(ui, flags)
                t = T0 + (36 + p) * 1800
                view.append(fuel, t, 321, 7800, 53350)  # a half-hour closes (allocates)
                changed = _alloc(h.draw, ui, flags)
                got.append((fuel, cost, p, switched, changed))
                assert switched <= CHANGED_MAX and changed <= CHANGED_MAX, got[-1]
    # the former path allocates per render (sanity: the bound above is an improvement)
    m.history_source = Reference(s)
    h.fuel, h.cost, h.period = 0, False, M.P_13M
    h.draw(ui, flags)
    old = _alloc(h.draw, ui, flags)
    assert old > 10 * CHANGED_MAX, old
    return got


def test_history_render_allocation_colour():
    panel, _ = uifakes.st7789(spi=uifakes.CountingSPI())
    _check(panel)


def test_history_render_allocation_mono():
    panel, _ = uifakes.ssd1306(record=False)
    _check(panel)
