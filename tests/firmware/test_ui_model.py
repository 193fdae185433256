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
