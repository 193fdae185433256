# fw: heapsize=1M
# Display loop on the real drivers (fake buses): partial redraws push only what changed,
# navigation and input events, long press, screen saver, message confirmation, the async loop.
import asyncio
import time

import demo
import fwtest
import uifakes
from ihd.state import model as M
from ihd.ui import input as I
from ihd.ui.display import Ui

FULL_565 = 320 * 240 * 2


def _ui(mono=False, **kw):
    if mono:
        panel, bus = uifakes.ssd1306(record=False)
    else:
        panel, _ = uifakes.st7789()
        bus = uifakes.CountingSPI()
        panel.spi = bus
    m = demo.make_model()
    ui = Ui(panel, m, **kw)
    ui.step()
    fwtest.run(panel.show_dirty())
    return ui, panel, m


def _push(ui):
    ui.step()
    return fwtest.run(ui.panel.show_dirty())


def test_first_frame_is_full():
    ui, panel, m = _ui()
    assert panel.dirty.n == 0
    ui.redraw()
    assert _push(ui) >= FULL_565


def test_demand_change_pushes_only_the_value():
    ui, panel, m = _ui()
    m.set_demand(M.FUEL_ELEC, 2345, m.now())
    n = _push(ui)
    assert 0 < n < FULL_565 // 8, n
    # Same value again: labels are cached, nothing to push.
    m.set_demand(M.FUEL_ELEC, 2345, m.now())
    assert _push(ui) == 0


def test_unchanged_tick_pushes_nothing():
    ui, panel, m = _ui()
    m.changed(M.D_CLOCK)
    assert _push(ui) == 0
    ui.go("history")
    _push(ui)
    m.changed(M.D_CLOCK)  # same half hour: the chart is not redrawn
    assert _push(ui) == 0


def test_ambient_change_is_partial():
    ui, panel, m = _ui()
    m.set_ambient(M.AMBIENT_LOW)
    n = _push(ui)
    assert 0 < n < FULL_565 // 20, n


def test_mono_partial_update():
    ui, panel, m = _ui(mono=True)
    m.set_demand(M.FUEL_ELEC, 321, m.now())
    n = _push(ui)
    assert 0 < n < 8 * (7 + 129) // 2, n


def test_navigation_and_long_press():
    ui, panel, m = _ui()
    q = ui.inputs
    q.post(I.EV_NEXT)
    ui.step()
    assert ui.cur.name == "history"
    q.post(I.EV_PREV)
    q.post(I.EV_PREV)
    ui.step()
    assert ui.cur.name == "status"  # wraps (prepay screen hidden on credit)
    q.post(I.EV_BACK)
    ui.step()
    assert ui.cur.name == "home"
    q.post(I.EV_LONG_SELECT)
    ui.step()
    assert ui.cur.name == "status"


def test_prepay_screen_only_in_prepay_mode():
    ui, panel, m = _ui()
    names = [s.name for s in ui._rotation()]
    assert "prepay" not in names
    demo.set_prepay(m)
    assert "prepay" in [s.name for s in ui._rotation()]


def test_history_focus_period_and_units():
    ui, panel, m = _ui()
    ui.go("history")
    h = ui.cur
    for ev in (I.EV_SELECT, I.EV_NEXT, I.EV_NEXT, I.EV_SELECT):
        ui.inputs.post(ev)
    ui.step()
    assert h.focus and h.period == M.P_5W and h.cost and h.fuel == M.FUEL_ELEC
    ui.inputs.post(I.EV_BACK)
    ui.inputs.post(I.EV_NEXT)
    ui.step()
    assert ui.cur.name == "tariff"
    ui.go("history")
    ui.inputs.post(I.EV_KEY0 + 4)
    ui.inputs.post(I.EV_HASH)
    ui.step()
    assert ui.cur.period == M.P_13M and ui.cur.fuel == M.FUEL_GAS


def test_message_confirmation():
    got = []
    ui, panel, m = _ui()
    m.confirmed.connect(got.append)
    ui.go("messages")
    for ev in (I.EV_SELECT, I.EV_SELECT, I.EV_SELECT):  # focus, open, confirm
        ui.inputs.post(ev)
    ui.step()
    assert len(got) == 1 and got[0].confirmed and got[0].id == 2
    ui.inputs.post(I.EV_BACK)
    ui.step()
    assert not ui.cur.detail


def test_screen_saver_dims_and_wakes():
    levels = []
    ui, panel, m = _ui(backlight=levels.append, dim_after_ms=1000, off_after_ms=5000)
    now = time.ticks_ms()
    ui._last_input_ms = now
    ui._saver(time.ticks_add(now, 500))
    assert levels == []
    ui._saver(time.ticks_add(now, 1500))
    assert levels == [15]
    ui._saver(time.ticks_add(now, 6000))
    assert levels[-1] == 0
    ui.go("tariff")
    ui.inputs.post(I.EV_NEXT)  # first press only wakes
    ui.step()
    assert levels[-1] == 100 and ui.cur.name == "tariff"
    # An alert (message to confirm) wakes the screen too.
    ui._set_backlight(0)
    m.add_message(M.Message(9, "Urgent", m.now(), confirm=True))
    ui._saver(time.ticks_ms())
    assert levels[-1] == 100


def test_buttons_short_and_long_press():
    q = I.InputQueue()
    pins = [uifakes.FakePin(1) for _ in range(4)]
    b = I.Buttons(pins, q)
    t = 0
    for _ in range(5):
        b.poll(t)
        t += 10
    pins[1].v = 0  # next pressed
    for _ in range(5):
        b.poll(t)
        t += 10
    assert q.get() == I.EV_NEXT
    pins[1].v = 1
    pins[2].v = 0  # select held
    for _ in range(200):
        b.poll(t)
        t += 10
    assert q.get() == I.EV_LONG_SELECT
    pins[2].v = 1
    for _ in range(5):
        b.poll(t)
        t += 10
    assert q.get() == I.EV_NONE  # no short select after a long press
    pins[3].v = 0
    for _ in range(5):
        b.poll(t)
        t += 10
    pins[3].v = 1
    for _ in range(5):
        b.poll(t)
        t += 10
    assert q.get() == I.EV_BACK


def test_keypad_matrix_scan():
    q = I.InputQueue()

    class Row(uifakes.FakePin):
        pass

    rows = [Row(1) for _ in range(4)]
    pressed = {}

    class Col(uifakes.FakePin):
        def __init__(self, ci):
            super().__init__(1)
            self.ci = ci

        def value(self, v=None):
            for ri in range(4):
                if rows[ri].v == 0 and pressed.get((ri, self.ci)):
                    return 0
            return 1

    kp = I.Keypad(rows, [Col(i) for i in range(3)], q)
    pressed[(3, 1)] = True  # "0"
    kp.poll(0)
    assert q.get() == I.EV_KEY0
    pressed.clear()
    kp.poll(10)
    pressed[(3, 2)] = True  # "#" held -> long select
    kp.poll(20)
    assert q.get() == I.EV_HASH
    kp.poll(2000)
    assert q.get() == I.EV_LONG_SELECT


def test_ui_uses_the_given_queue():
    q = I.InputQueue()  # empty, so falsy: must still be the one the UI reads
    panel, _ = uifakes.st7789()
    ui = Ui(panel, demo.make_model(), inputs=q)
    assert ui.inputs is q
    q.post(I.EV_NEXT)
    ui.step()
    assert ui.cur.name == "history"


def test_queue_is_bounded():
    q = I.InputQueue()
    for _i in range(40):
        q.post(I.EV_NEXT)
    assert len(q) == 16 and q.dropped == 24


def test_async_loop_redraws_on_change():
    ui, panel, m = _ui()

    async def main():
        task = asyncio.create_task(ui.run())
        await asyncio.sleep_ms(20)
        pushed = panel.spi.bytes
        m.set_demand(M.FUEL_ELEC, 4321, m.now())
        await asyncio.sleep_ms(20)
        delta = panel.spi.bytes - pushed
        ui.inputs.post(I.EV_NEXT)
        await asyncio.sleep_ms(20)
        task.cancel()
        await asyncio.sleep_ms(0)
        return delta

    delta = fwtest.run(main())
    assert 0 < delta < FULL_565 // 8
    assert ui.cur.name == "history"
