# Render figures for the UI on the unix port (docs/ui.md quotes them):
#   MICROPYPATH=firmware:boards/unix:.frozen .venv/bin/micropython -X heapsize=1M \
#       boards/unix/uibench.py
# Per screen: full render time relative to a full-frame fill, bytes pushed for a full frame and
# for typical partial updates, heap in use and allocated per render.
# MIT license
import gc
import time

import demo
import framedump
from ihd.state import model as M
from ihd.ui.display import Ui


def _us(fn, n=5):
    t = time.ticks_us()
    for _ in range(n):
        fn()
    return time.ticks_diff(time.ticks_us(), t) // n


def _push(panel):
    n = 0
    d = panel.dirty
    while d.n:
        d.n -= 1
        j = 4 * d.n
        r = d.r
        n += panel.show_rect(r[j], r[j + 1], r[j + 2] - r[j], r[j + 3] - r[j + 1])
    return n


def bench(panel):
    gc.collect()
    base = gc.mem_alloc()
    m = demo.make_model()
    ui = Ui(panel, m)
    ui.step()
    _push(panel)
    gc.collect()
    print(
        "%dx%d: heap for model+ui %d B (framebuffer %d B)"
        % (panel.width, panel.height, gc.mem_alloc() - base, len(panel.buffer))
    )
    fill_us = _us(lambda: panel.fill(0), 20)
    push_us = _us(panel.show, 3)
    print(
        "  full-frame fill %d us, full push (swap+bus) %d us, %d B"
        % (fill_us, push_us, panel.show())
    )
    for name, fn in demo.SCENES:
        fn(ui)

        def full():
            ui.redraw()
            ui.step()

        us = _us(full)
        full()
        gc.collect()
        gc.disable()
        a0 = gc.mem_alloc()
        full()
        alloc = gc.mem_alloc() - a0
        gc.enable()
        pushed = _push(panel)
        print(
            "  %-15s render %6d us = %5.1f x fill, alloc %5d B, push %6d B"
            % (name, us, us / max(1, fill_us), alloc, pushed)
        )
    # Partial updates on Home.
    ui.go("home")
    ui.step()
    _push(panel)
    cases = (
        (
            "demand change",
            lambda: m.set_demand(M.FUEL_ELEC, (m.elec.demand_w or 0) + 111, m.now()),
        ),
        ("ambient change", lambda: m.set_ambient((m.ambient + 1) % 3)),
        (
            "today energy",
            lambda: m.set_today(
                M.FUEL_GAS,
                (m.gas.today_wh or 0) + 500,
                (m.gas.today_cost_mp or 0) + 3000,
                m.gas.today_from_utc,
                m.now(),
            ),
        ),
        ("minute tick", lambda: m.changed(M.D_CLOCK)),
        ("link down", lambda: m.set_link(M.LINK_DOWN)),
    )
    for name, fn in cases:
        fn()
        t = time.ticks_us()
        ui.step()
        us = time.ticks_diff(time.ticks_us(), t)
        print("  home %-15s render %5d us, push %6d B" % (name, us, _push(panel)))


for p in framedump.make_panels():
    bench(p)
    p = None
    gc.collect()
