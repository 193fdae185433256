# View model: dirty flags, setters, privacy-filtered views, message handling (both interpreters).
from ihd.state import model as M

PORTABLE = True


class Store:
    def history(self, fuel, period, now_utc):
        return [(100, 1, 2), (200, 3, 4), (300, 5, 6)]


def test_dirty_flags_and_wake():
    m = M.Model(now_fn=lambda: 1000)
    c = M.Changes(m)  # a consumer's flags: everything is dirty at first
    c2 = M.Changes(m)  # a second display keeps its own flags
    assert c.take() == M.D_ALL
    assert c.take() == 0
    c.wake.clear()
    m.set_demand(M.FUEL_ELEC, 500, 990)
    m.set_ambient(M.AMBIENT_LOW)
    assert c.wake.is_set()
    assert c.take() == M.D_LIVE | M.D_AMBIENT
    m.set_ambient(M.AMBIENT_LOW)  # unchanged: no flag
    assert c.take() == 0
    m.set_visible_from(M.FUEL_GAS, 5)
    assert c.take() == M.D_ALL
    assert c2.take() == M.D_ALL and not c2.alert


def test_views_respect_visible_from():
    m = M.Model(now_fn=lambda: 1000)
    m.history_source = Store()
    m.set_today(M.FUEL_ELEC, 4000, 98000, 150, 990)
    m.set_demand(M.FUEL_ELEC, 700, 990)
    assert m.view_today(M.FUEL_ELEC) == (4000, 98000)
    m.elec.visible_from_utc = 200
    assert m.view_today(M.FUEL_ELEC) is None  # the total covers time before 200
    assert m.view_demand(M.FUEL_ELEC) == 700
    assert m.history(M.FUEL_ELEC, M.P_DAY) == [(200, 3, 4), (300, 5, 6)]
    assert m.history(M.FUEL_GAS, M.P_DAY) == Store().history(0, 0, 0)
    m.elec.visible_from_utc = 995
    assert m.view_demand(M.FUEL_ELEC) is None
    assert m.view_reading_utc(M.FUEL_ELEC) is None


def test_messages_and_confirm():
    m = M.Model(now_fn=lambda: 1000)
    seen = []
    m.confirmed.connect(seen.append)
    c = M.Changes(m)
    c.take()
    m.add_message(M.Message(1, "a", 500))
    assert not c.alert
    m.add_message(M.Message(2, "b", 600, confirm=True))
    assert c.alert and [x.id for x in m.messages] == [2, 1]
    m.add_message(M.Message(1, "a2", 700))  # same id replaces
    assert [x.text for x in m.messages] == ["b", "a2"]
    m.confirm_message(m.messages[0])
    assert seen and seen[0].confirmed
    m.elec.visible_from_utc = 650
    assert [x.id for x in m.view_messages()] == [1]
    m.remove_message(1)
    assert [x.id for x in m.messages] == [2]
    assert c.take() & M.D_MESSAGES


def test_prepay_mode():
    m = M.Model(now_fn=lambda: 1000)
    c = M.Changes(m)
    assert not m.prepay_mode()
    m.set_today(M.FUEL_GAS, 0, 0, 0, 0)
    m.set_prepay(M.FUEL_GAS, M.MODE_PREPAY, 500000, 0, 0, 900, low_credit=True)
    assert m.prepay_mode() and c.alert
    assert m.view_prepay(M.FUEL_GAS) == (500000, 0, 0)
    c.alert = False
    m.set_prepay(M.FUEL_GAS, M.MODE_PREPAY, 400000, 0, 0, 950, low_credit=True, alert=False)
    assert not c.alert  # the service alerts once per crossing, not on every low report


class Days:
    # Half-hour rows per UTC day (day -> {slot: Wh}), as history(P_DAY, at) serves them.
    def __init__(self, days):
        self.days = days

    def history(self, fuel, period, now_utc):
        d = now_utc // 86400
        return [(d * 86400 + 1800 * i, wh, 0) for i, wh in sorted(self.days.get(d, {}).items())]


def test_comparison_rule():
    day = 9000
    now = day * 86400 + 3 * 3600 + 600  # 03:10: half-hours 0-5 complete, 6 in progress
    m = M.Model(now_fn=lambda: now)
    yday = {i: 100 for i in range(48)}
    m.history_source = Days({day - 1: yday, day: {i: 110 for i in range(7)}})
    assert m.vs_yesterday(M.FUEL_ELEC) == 10  # the half-hour in progress does not count
    # only the half-hours both days have: a gap today leaves yesterday's one out too
    m.history_source = Days({day - 1: yday, day: {0: 150, 1: None, 5: 150}})
    assert m.vs_yesterday(M.FUEL_ELEC) == 50
    m.history_source = Days({day - 1: yday, day: {0: 150}})  # one half-hour: too little
    assert m.vs_yesterday(M.FUEL_ELEC) is None
    m.history_source = Days({day: {i: 110 for i in range(6)}})  # no yesterday
    assert m.vs_yesterday(M.FUEL_ELEC) is None
    m.history_source = Days({day - 1: {i: 0 for i in range(48)}, day: {0: 5, 1: 5}})
    assert m.vs_yesterday(M.FUEL_ELEC) is None  # nothing used yesterday: no percentage
    m.history_source = Days({day - 1: yday, day: {i: 87 for i in range(6)}})
    assert m.vs_yesterday(M.FUEL_ELEC) == -13


def test_today_cost_and_status_setters():
    m = M.Model(now_fn=lambda: 1000)
    c = M.Changes(m)
    assert m.today_cost_mp() is None
    m.set_today(M.FUEL_ELEC, 4000, 98000, 0, 990)
    m.set_today(M.FUEL_GAS, 9000, 54000, 0, 990)
    assert m.today_cost_mp() == 152000
    m.gas.cost_unknown = True  # a tariff clear: gas's cost not known
    assert m.today_cost_mp() == 98000
    c.take()
    m.set_lqi(M.FUEL_ELEC, 200)
    assert c.take() == M.D_STATUS
    m.set_lqi(M.FUEL_ELEC, 195)  # a small move: stored, redrawn with the next minute
    assert c.take() == 0 and m.elec.lqi == 195
    m.set_link(M.LINK_UP)
    assert c.take() == M.D_LINK | M.D_STATUS
    m.set_link(M.LINK_UP)
    assert c.take() == 0
