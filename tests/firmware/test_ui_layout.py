# fw: heapsize=1M
# Widgets and layouts (ihd.ui.widgets): a Label draws once, then only for a new text or colour
# (an unchanged one draws, pushes and allocates nothing); every layout fits its panel and names
# fonts and colours its theme has; a frame with nothing new draws and allocates nothing, on
# every screen of both panels.
import demo
import fwtest
import uifakes
from ihd.ui.display import Ui
from ihd.ui.screens_prepay import PrepayPanel

DECOR = ("fill", "text", "icon", "card", "status")
NAMED = ("label", "per-fuel", "field", "box", "value")


def _panels():
    panel, _ = uifakes.st7789(spi=uifakes.CountingSPI())
    yield panel
    panel, _ = uifakes.ssd1306(record=False)
    yield panel


def test_label_draws_only_new_values():
    for panel in _panels():
        ui = Ui(panel, demo.make_model())
        ui.step()
        panel.dirty.n = 0
        lab = ui.clock
        assert lab.show(ui, "12:34", ui.t.fg)
        assert panel.dirty.n > 0
        panel.dirty.n = 0
        with fwtest.HeapLocked():
            assert not lab.show(ui, "12:34", ui.t.fg)
        assert panel.dirty.n == 0
        if not ui.t.mono:  # (on mono every colour is 1)
            assert lab.show(ui, "12:34", ui.t.bad)
        lab.reset()
        assert lab.show(ui, "12:34", ui.t.fg)


def _layouts(ui):
    # Every layout of the panel's resolution (they are constants: reached through their users).
    yield ui.frame
    for s in ui.screens:
        yield s.lay
    yield from ui.screen("utrn").pages
    yield PrepayPanel(ui.t).lay


def test_layouts_fit_and_name_what_the_theme_has():
    for panel in _panels():
        ui = Ui(panel, demo.make_model())
        t = ui.t
        for lay in _layouts(ui):
            names = [e[0] for e in lay if e[0] is not None]
            assert len(names) == len(set(names)), names
            for e in lay:
                kind = e[1]
                assert kind in (DECOR if e[0] is None else NAMED), e
                if kind == "value":
                    continue
                x, y, w, h = e[2]
                assert x >= 0 and y >= 0 and x + w <= t.w and y + h <= t.h, e
                if kind in ("label", "per-fuel", "field", "text"):
                    assert getattr(t, e[3]).HEIGHT > 0, e  # a font
                    assert isinstance(getattr(t, e[4]), int), e  # a colour
                if kind == "per-fuel":
                    assert x + w + e[6] <= t.w and y + h + e[7] <= t.h, e


def test_nothing_new_draws_and_allocates_nothing():
    for panel in _panels():
        m = demo.make_model()
        demo.set_ppmid(m)
        ui = Ui(panel, m)
        for s in ui.screens:
            ui.go(s.name)
            ui.step()
            ui.step()  # a screen's tick may ask for one more pass (the top-up countdown)
            panel.dirty.n = 0
            with fwtest.HeapLocked():
                assert ui.step() == 0, s.name
            assert panel.dirty.n == 0, s.name
