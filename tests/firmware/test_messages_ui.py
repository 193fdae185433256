# fw: heapsize=1M
# The messages on the device (ui/screens.py Messages, the header's unread envelope): opening
# marks read, confirm (plain) and answer (enhanced: < > through model.ANSWERS, OK sends), an
# urgent message opens at once on every display, a message not started / ended is not shown.
import demo
import fwtest
import uifakes
from ihd.state import model as M
from ihd.ui import input as I
from ihd.ui.display import Ui


def _ui(mono=False):
    panel = uifakes.ssd1306(record=False)[0] if mono else uifakes.st7789()[0]
    if not mono:
        panel.spi = uifakes.CountingSPI()
    m = demo.make_model()
    ui = Ui(panel, m)
    ui.step()
    fwtest.run(panel.show_dirty())
    return ui, panel, m


def _keys(ui, *evs):
    for ev in evs:
        ui.inputs.post(ev)
    ui.step()


def test_unread_envelope_follows_reading():
    for mono in (False, True):
        ui, panel, m = _ui(mono)
        assert ui._unread == 0
        demo.add_unread(m)
        ui.step()
        assert ui._unread == 2 and m.unread() == 2
        ui.go("messages")
        _keys(ui, I.EV_SELECT, I.EV_SELECT)  # focus, open the newest
        assert ui.cur.detail and m.messages[0].read and ui._unread == 1
        _keys(ui, I.EV_BACK, I.EV_NEXT, I.EV_SELECT)
        assert m.unread() == 0 and ui._unread == 0


def test_enhanced_answer_chosen_then_sent():
    got = []
    ui, panel, m = _ui()
    m.confirmed.connect(got.append)
    demo.add_unread(m)
    ui.go("messages")
    _keys(ui, I.EV_SELECT, I.EV_SELECT)  # the enhanced one (newest)
    assert ui.cur.hint(ui).startswith("< > answer")
    _keys(ui, I.EV_NEXT, I.EV_NEXT, I.EV_PREV)  # Yes -> No -> Call me -> No
    assert ui.cur.name == "messages" and ui.cur.answer == 1 and not got
    _keys(ui, I.EV_SELECT)
    assert len(got) == 1 and got[0].id == 4 and got[0].answer == 1 and got[0].confirmed
    assert ui.cur.hint(ui) == "BACK list"
    _keys(ui, I.EV_SELECT)  # once only
    assert len(got) == 1


def test_urgent_message_opens_at_once_on_every_display():
    ui, panel, m = _ui()
    ui2, _, _ = _ui(mono=True)
    ui2.m = m  # a second display of the same model (the unix board's frame dumps)
    ui2._urgent = m.urgent_seq
    ui.go("tariff")
    msg = M.Message(9, "Supply interruption tonight 22:00-23:00", m.now(), control=M.MSG_HIGH)
    m.add_message(msg)
    m.show_message(msg)
    ui.step()
    ui2.step()
    for u in (ui, ui2):
        assert u.cur.name == "messages" and u.cur.detail
        assert u.cur.sel == [x.id for x in m.view_messages()].index(9)
    assert msg.read
    ui.step()  # once: BACK stays on the list
    _keys(ui, I.EV_BACK)
    assert not ui.cur.detail


def test_not_started_and_ended_are_not_listed():
    ui, panel, m = _ui()
    now = m.now()
    m.add_message(M.Message(7, "later", now + 60))
    m.add_message(M.Message(8, "ended", now - 120, end_utc=now - 60))
    m.add_message(M.Message(10, "on", now - 120, end_utc=now + 60))
    shown = [x.id for x in m.view_messages()]
    assert 7 not in shown and 8 not in shown and 10 in shown


def test_protected_message_has_no_preview():
    for mono in (False, True):
        ui, panel, m = _ui(mono)
        drawn = []
        text = ui.cv.text

        def rec(font, s, x, y, c, drawn=drawn, text=text):
            drawn.append(s)
            text(font, s, x, y, c)

        ui.cv.text = rec
        m.add_message(M.Message(11, "PIN 1234", m.now(), flags=M.MF_PROTECTED))
        ui.go("messages")
        ui.step()
        assert any("Protected message" in s for s in drawn), drawn
        assert not any("PIN" in s for s in drawn)
        del drawn[:]
        _keys(ui, I.EV_SELECT, I.EV_SELECT)
        assert ui.cur.detail and any("PIN 1234" in s for s in drawn)
