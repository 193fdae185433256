# fw: heapsize=1M
# Issue 15 (device screens), on the real drivers (fake buses): the Status screen shows the
# stack's state as app.py wires it (network, channel, PAN / node id, EUI64 in display order,
# each meter's reading age and LQI, NCP resets, the last change of tenancy) and a hint that is
# true; the header date after every kind of full redraw; where the history starts after a
# change of tenancy; units and 128x64 layouts clear of the panel's edges; the comparison with
# yesterday and the daily budget on Home; the footer naming the board's Status key.
import demo
import uifakes
from ihd.state import model as M
from ihd.ui import fmt
from ihd.ui import input as I
from ihd.ui import screens as S
from ihd.ui import widgets as W
from ihd.ui.canvas import text_width
from ihd.ui.display import Ui

NOW = demo.NOW_UTC
EUI_WIRE = bytes.fromhex("5634120b006f0d00")  # as getEui64 answers: little-endian


def _colour():
    panel, _ = uifakes.st7789(spi=uifakes.CountingSPI())
    return panel


def _mono():
    panel, _ = uifakes.ssd1306(record=False)
    return panel


def _ui(panel, m=None, **kw):
    ui = Ui(panel, m or demo.make_model(), **kw)
    ui.step()
    return ui


# ---- Status: the stack's state, through app.py's listener ----------------------------------


class FakeNcp:
    # What app._show_network reads of zigbee.ncp.Ncp.
    def __init__(self):
        self.up = True
        self.network_state = 2  # NET_JOINED
        self.ezsp_version = 13
        self.stack_version = "7.4.4.0 build 0"
        self.eui64 = EUI_WIRE
        self.channel = 15
        self.pan_id = 0x1A62
        self.node_id = 0x7A3C
        self.reset_count = 2

    def ready(self):
        return self.up


class FakeCommissioner:
    state = None


def _app(m):
    from ihd.app import App

    app = App(None)
    app.model = m
    app.ncp = FakeNcp()
    app.commission = FakeCommissioner()
    return app


def _rows(m, mono=False):
    return dict((k, v) for k, v in S.status_rows(m, mono) if k is not None)


def test_status_shows_the_network_from_the_ncp():
    m = M.Model(now_fn=lambda: NOW)
    rows = _rows(m)
    assert rows["Network"] == "down" and rows["Channel"] == "-" and rows["EUI64"] == "-"
    app = _app(m)
    app._show_network(app.ncp)  # ncp.changed listener
    rows = _rows(m)
    assert rows["Network"] == "up" and m.link == M.LINK_UP
    assert rows["Channel"] == "15" and rows["PAN id"] == "0x1A62" and rows["Node id"] == "0x7A3C"
    assert rows["EUI64"] == "00:0D:6F:00:0B:12:34:56"  # display order, as Zigbee tools print it
    assert rows["NCP resets"] == "2" and rows["NCP"] == "7.4.4.0 build 0  EZSP v13"
    # off the network: no channel or ids shown from the last one
    app.ncp.up = False
    app._show_network(app.ncp)
    rows = _rows(m)
    assert rows["Network"] == "down" and rows["Channel"] == "-" and rows["PAN id"] == "-"
    # the commissioner scanning / joining / rejoining, or the stack without its parent: joining
    app.commission.state = "scanning"
    app._show_network(app.ncp)
    assert _rows(m)["Network"] == "joining"
    app.commission.state = None
    app.ncp.up = True
    app.ncp.network_state = 3  # NET_JOINED_NO_PARENT
    app._show_network(app.ncp)
    assert _rows(m)["Network"] == "joining"


class Msg:
    def __init__(self, sender, ep=1, secured=True, lqi=200):
        self.sender, self.src_ep, self.secured, self.lqi = sender, ep, secured, lqi


def test_meters_reading_age_and_lqi():
    from ihd.meters.registry import Meter, Registry
    from ihd.meters.service import MeterService

    class Zcl:
        def on_report(self, cluster, fn):
            pass

        def on_command(self, cluster, cmd_id, direction, fn):
            pass

    class Cfg:
        def get(self, k):
            return {"meter_poll_s": 10, "gas_poll_s": 900}.get(k)

    m = M.Model(now_fn=lambda: NOW)
    reg = Registry()
    svc = MeterService(Zcl(), reg, None, m, Cfg())
    for name, node, fuel in (("elec", 0x1234, M.FUEL_ELEC), ("gas", 0x2B7A, M.FUEL_GAS)):
        meter = Meter(name, node, 1)
        reg.bind(meter)
        svc.bind(meter, fuel, fuel)
        m.fuels[fuel].present = True
    rows = _rows(m)
    assert rows["Elec meter"] == "no reading  LQI -"
    svc.heard(Msg(0x1234, lqi=220))  # ncp.messages listener
    svc.heard(Msg(0x2B7A, lqi=180))
    svc.heard(Msg(0x2B7A, lqi=10, secured=False))  # unencrypted: not the meter's rule
    svc.heard(Msg(0x5555, lqi=10))  # not a bound meter
    svc.heard(Msg(0x1234, ep=2, lqi=10))  # another endpoint
    m.set_today(M.FUEL_ELEC, 1000, 24500, NOW - 3600, NOW - 20)
    m.set_today(M.FUEL_GAS, 1000, 6000, NOW - 3600, NOW - 12 * 60)
    rows = _rows(m)
    assert rows["Elec meter"] == "just now  LQI 220", rows
    assert rows["Gas meter"] == "12 min ago  LQI 180", rows
    assert _rows(m, mono=True)["Gas"] == "12 min LQI 180"


def test_status_tenancy_kind_and_date_only():
    m = M.Model(now_fn=lambda: NOW)
    assert _rows(m)["Tenancy"] == "none recorded"
    t = fmt.days_from_civil(2026, 1, 15) * 86400 + 11 * 3600
    m.set_tenancy_event("cot", t)
    assert _rows(m)["Tenancy"] == "Change of tenancy 15 Jan 2026"
    m.set_tenancy_event("cos", t)
    assert _rows(m, mono=True)["CoS"] == "15 Jan 2026"


def test_status_hint_is_true():
    # One page (320x240 with the demo model): no "more", and OK does nothing.
    ui = _ui(_colour())
    ui.go("status")
    ui.step()
    st = ui.cur
    assert st.hint(ui) == "< > screens"
    ui.inputs.post(I.EV_SELECT)
    ui.step()
    assert not st.focus and st.page == 0
    # Joining details make a second page: OK pages through it.
    ui.m.set_join("rejoining (secure)", "8E3F-D340-7A93-9723-A5C6-39B2-6916-D505-4D5B")
    assert st.hint(ui) == "< > screens   OK more pages"
    ui.inputs.post(I.EV_SELECT)
    ui.inputs.post(I.EV_NEXT)
    ui.step()
    assert st.focus and st.page == 1 and st.hint(ui) == "< > pages   BACK done"
    # 128x64: pages of five rows; the EUI64 never parted from its key
    ui = _ui(_mono())
    ui.go("status")
    rows = S.status_rows(ui.m, True)
    starts = S._page_starts(rows, 5)
    assert len(starts) == 3
    for s in starts:
        assert rows[s][0] is not None


def test_status_redraws_on_the_minute_only_when_a_row_changed():
    ui = _ui(_colour())
    ui.go("status")
    ui.step()
    ui.panel.dirty.n = 0
    ui.m.changed(M.D_CLOCK)  # same minute texts: nothing drawn
    ui.step()
    assert ui.panel.dirty.n == 0
    ui.m.set_lqi(M.FUEL_GAS, 100)  # a move of 8 or more: redrawn
    ui.step()
    assert ui.panel.dirty.n > 0


# ---- the header date after a full redraw ---------------------------------------------------


def _date_ink(ui):
    x, y, w, h = ui.date.entry[2]
    n = 0
    for yy in range(y, y + h):
        for xx in range(x, x + w):
            if ui.panel.pixel(xx, yy) != ui.t.header:
                n += 1
    return n


def test_header_date_after_every_full_redraw():
    ui = _ui(_colour())
    full = _date_ink(ui)
    assert full > 50
    for redraw in (
        lambda: ui.m.changed(M.D_ALL),  # everything changed (a change of tenancy)
        lambda: ui.m.set_visible_from(M.FUEL_ELEC, NOW - 60),
        ui.redraw,  # a screen changed its state
        lambda: ui.go("tariff"),
        lambda: ui.m.changed(M.D_CLOCK),
    ):
        redraw()
        ui.step()
        assert _date_ink(ui) == full


# ---- history: where it starts --------------------------------------------------------------


def test_history_says_where_it_starts():
    for panel in (_colour(), _mono()):
        m = demo.make_model()
        ui = _ui(panel, m)
        ui.go("history")
        h = ui.cur
        ui.step()
        assert h._from is None  # visible from 1 Nov 2024: before every period
        m.elec.visible_from_utc = fmt.days_from_civil(2025, 12, 1) * 86400
        h.period = M.P_13M
        ui.redraw()
        ui.step()
        assert h._from == "from 1 Dec 00:00"
        h.period = M.P_5W  # weeks from Monday 15 Dec: the history covers all of them
        ui.redraw()
        ui.step()
        assert h._from is None
        m.elec.visible_from_utc = fmt.local_midnight_utc(NOW) + 11 * 3600
        h.period = M.P_DAY
        ui.redraw()
        ui.step()
        assert h._from == "from 15 Jan 11:00"
        x, y, w, hh = h.chart
        assert h._box == (x, y + h.from_h, w, hh - h.from_h)  # the bars below the line
        m.gas.visible_from_utc = 0  # gas: never rewound, no line
        h.fuel = M.FUEL_GAS
        ui.redraw()
        ui.step()
        assert h._from is None and h._box == h.chart


def test_export_shown_only_when_the_home_exports():
    for panel in (_colour(), _mono()):
        mono = panel is not None and panel.height == 64
        m = demo.make_model()
        ui = _ui(panel, m)
        home = ui.cur
        assert m.view_export_today() is None and m.view_export(M.P_8D) is None
        if home.export is not None:
            assert home.export.text == ""
        ui.go("history")
        h = ui.cur
        h.period = M.P_8D
        ui.redraw()
        ui.step()
        assert h._from is None  # no export line, the bars use the whole chart
        m.history_source.export = [2840, 19650, 61200, 812000]
        m.set_export(3150, fmt.local_midnight_utc(NOW))
        ui.step()
        assert h._from == ("Exp 19.7kWh" if mono else "Exported 19.7 kWh")
        h.cost = True  # export has no cost: not on the cost bars (which state their rule)
        ui.redraw()
        ui.step()
        assert h._from == "incl. standing charge"
        h.cost, h.fuel = False, M.FUEL_GAS
        ui.redraw()
        ui.step()
        assert h._from is None
        ui.go("home")
        ui.step()
        if home.export is not None:
            assert home.export.text == "Exported 3.15 kWh"
        else:
            home.turn = 3
            ui.redraw()
            ui.step()
            assert home.summary.text == "Exported 3.15 kWh"
        m.set_export(None, 0)  # a change of tenancy: nothing exported since T
        ui.step()
        assert m.view_export(M.P_DAY) is None


# ---- units and 128x64 layouts ----------------------------------------------------------------


def test_cost_bars_carry_the_unit():
    assert S._value_money(302000) == "£3.02"
    assert S._value_money(1234000) == "£12"  # whole pounds from £10: the total has the pence
    ui = _ui(_colour())
    ui.go("history")
    h = ui.cur
    h.period, h.cost = M.P_8D, True
    ui.redraw()
    ui.step()
    assert all(s is None or s.startswith("£") for s in h._vlabs)


def test_mono_month_labels_are_not_bare_initials():
    ui = _ui(_mono())
    ui.go("history")
    h = ui.cur
    h.period = M.P_13M
    ui.redraw()
    ui.step()
    labs = [s for s in h._xlabs[:13] if s]
    assert labs == ["Jan", "Apr", "Jul", "Oct", "Jan"], labs


def _edge_ink(panel):
    # Rows lit in the last column, or in the last row lit at all, that are not solid rules
    # (the header's underline, a chart's baseline: lit from x 96 to 127).
    right = [y for y in range(64) if panel.pixel(127, y)
             and not all(panel.pixel(x, y) for x in range(96, 128))]  # fmt: skip
    bottom = [x for x in range(128) if panel.pixel(x, 63)]
    return right, bottom


def test_mono_text_clear_of_the_edges():
    # Home's costs, the History totals and axis labels, the clock, the tariff's last line,
    # the EUI64: nothing in the last column or the last row but the rules.
    for name, scene in demo.SCENES:
        if name in ("home", "home_budget", "history_day", "history_13m", "history_from",
                    "tariff", "status", "status_2", "status_3"):  # fmt: skip
            panel = _mono()
            ui = _ui(panel)
            scene(ui)
            ui.step()
            assert _edge_ink(panel) == ([], []), (name, _edge_ink(panel))


def test_mono_top_bar_clear_of_the_axis_label():
    # The tallest bar (= the axis maximum) stays right of the maximum's label.
    panel = _mono()
    ui = _ui(panel)
    cv, t = ui.cv, ui.t
    box = (0, 24, 128, 40)
    ylabs = ("0", "£50", "£100")
    W.bar_chart(cv, t, box, [100] * 13, 13, 1, 1, -1, 0, 100, ylabs, [None] * 13)
    lab_w = text_width(t.small, "£100")
    for x in range(lab_w + 1):
        for y in range(24 + 11, 24 + 27):  # under the label, down to the baseline
            assert not panel.pixel(x, y), (x, y)
    label = [panel.pixel(x, y) for x in range(lab_w) for y in range(24, 34)]
    assert any(label)


# ---- Home: comparison with yesterday, daily budget, the footer -------------------------------


class TwoDays:
    # Half-hours of yesterday and today: 100 Wh each yesterday, 112 Wh each today.
    def history(self, fuel, period, now_utc):
        mid = now_utc - now_utc % 86400
        today = mid == NOW - NOW % 86400
        n = (now_utc - mid) // 1800 + 1 if today else 48
        return [(mid + 1800 * i, 112 if today else 100, 0) for i in range(n)]


def test_comparison_with_yesterday():
    m = M.Model(now_fn=lambda: NOW)  # 18:42: 37 complete half-hours today
    m.history_source = TwoDays()
    assert m.vs_yesterday(M.FUEL_ELEC) == 12
    for panel in (_colour(), _mono()):
        m = demo.make_model()
        m.history_source = TwoDays()
        ui = _ui(panel, m)
        home = ui.cur
        if home.compare is not None:
            assert home.compare[M.FUEL_ELEC].text == "vs yesterday +12%"
        else:
            assert home.summary.text == "E vs yesterday +12%"
    # Privacy: yesterday before visible_from is not compared with.
    m = M.Model(now_fn=lambda: NOW)
    m.history_source = TwoDays()
    m.elec.visible_from_utc = NOW - NOW % 86400 + 3600
    assert m.vs_yesterday(M.FUEL_ELEC) is None


def test_daily_budget():
    m = M.Model(now_fn=lambda: NOW)
    m.set_budget(None)
    assert m.daily_budget_mp is None
    for bad in (0, -5, "500000", True):
        m.set_budget(bad)
        assert m.daily_budget_mp is None, bad
    for panel in (_colour(), _mono()):
        m = demo.make_model()
        ui = _ui(panel, m)
        home = ui.cur
        m.set_budget(450000)
        ui.step()
        text = home.budget_text if home.budget_text is not None else home.summary
        assert text.text == "£3.71 of £4.50", text.text
        assert home._bar == (home.budget_bar[2] - 2) * 371 // 450


def test_footer_names_the_boards_status_key():
    panel = _colour()
    ui = _ui(panel, status_key="s")  # the unix terminal's key (board.STATUS_KEY)
    assert ui.cur.hint(ui) == "< > screens   s: status"
    ui = _ui(panel)
    assert ui.cur.hint(ui) == "< > screens   hold OK: status"


def test_first_key_after_dimming_only_wakes():
    levels = []
    ui = _ui(_colour(), backlight=levels.append)
    ui._set_backlight(15)
    ui.inputs.post(I.EV_NEXT)
    ui.step()
    assert levels[-1] == 100 and ui.cur.name == "home"
    ui.inputs.post(I.EV_NEXT)
    ui.step()
    assert ui.cur.name == "history"
