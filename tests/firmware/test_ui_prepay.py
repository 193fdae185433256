# fw: heapsize=1M
# PPMID screens through the real Ui with the demo's fake actions object: keys on the
# Prepayment screen open the UTRN entry, a typed code is sent once as a task ("Sending..."),
# a mistyped one never reaches the actions' top_up as a top-up, the fuel is chosen when both
# meters are prepayment, emergency credit goes through the dialog, alerts are acknowledged.
import asyncio

import demo
import fwtest
import uifakes
from ihd.ui import entry as E
from ihd.ui import input as I
from ihd.ui.display import Ui

CODE = "73950067887105178605"


def _ui(mono=False):
    panel = uifakes.ssd1306(record=False)[0] if mono else uifakes.st7789()[0]
    m = demo.make_model()
    a = demo.set_ppmid(m)
    ui = Ui(panel, m)
    ui.step()
    ui.go("prepay")
    ui.step()
    return ui, a


def _keys(ui, *evs):
    for ev in evs:
        ui.handle(ev)
    ui.step()


def _digits(s):
    return [I.EV_KEY0 + ord(c) - 48 for c in s]


def test_digit_opens_entry_and_code_is_sent_once():
    async def go():
        for mono in (False, True):
            ui, a = _ui(mono)
            _keys(ui, *_digits(CODE[:1]))
            assert ui.cur.name == "utrn" and ui.cur.entry.digits == "7"
            _keys(ui, *_digits(CODE[1:]))
            _keys(ui, I.EV_SELECT)
            assert ui.cur.entry.state == E.ST_FUEL  # elec and gas are both prepayment
            _keys(ui, I.EV_NEXT, I.EV_PREV, I.EV_SELECT)  # back to elec, confirm
            assert ui.cur.entry.state == E.ST_SENDING
            _keys(ui, I.EV_SELECT, I.EV_HASH)  # impatient presses send nothing more
            await asyncio.sleep_ms(0)
            await asyncio.sleep_ms(0)
            ui.step()
            assert a.calls == [("top_up", "elec", CODE)]
            assert ui.cur.entry.state == E.ST_RESULT and ui.m.prepay_last.ok()
            _keys(ui, I.EV_SELECT)
            assert ui.cur.name == "prepay"

    fwtest.run(go())


def test_mistyped_code_is_not_sent_as_a_top_up():
    async def go():
        ui, a = _ui()
        _keys(ui, I.EV_SELECT)  # no alert, no offer: OK opens the entry
        assert ui.cur.name == "utrn"
        _keys(ui, *_digits(CODE[:19] + "6"))
        _keys(ui, I.EV_HASH)
        assert ui.cur.entry.error == E.MSG_MISTYPED and ui.cur.entry.state == E.ST_ENTER
        a.answer = demo.DemoResult(0x21)  # what the service says for a bad check digit
        await asyncio.sleep_ms(0)
        await asyncio.sleep_ms(0)
        ui.step()
        # The service was told (it counts it and sends nothing); the screen stays in entry.
        assert a.calls == [("top_up", "elec", CODE[:19] + "6")]
        assert ui.cur.entry.state == E.ST_ENTER and ui.m.prepay_last is None
        _keys(ui, I.EV_BACK, *_digits("5"))
        assert ui.cur.entry.error is None and ui.cur.entry.digits == CODE

    fwtest.run(go())


def test_four_buttons_only():
    async def go():
        ui, a = _ui(mono=True)
        a.meters = ["elec"]
        _keys(ui, I.EV_SELECT)
        for ch in CODE:
            d = ord(ch) - 48
            _keys(ui, *([I.EV_NEXT] * d if d else [I.EV_NEXT, I.EV_PREV]))
            _keys(ui, I.EV_SELECT)
        assert ui.cur.entry.digits == CODE
        _keys(ui, I.EV_SELECT)
        await asyncio.sleep_ms(0)
        await asyncio.sleep_ms(0)
        assert a.calls == [("top_up", "elec", CODE)]

    fwtest.run(go())


def test_alert_then_emergency_credit_dialog():
    async def go():
        ui, a = _ui()
        a.alert_list = [("elec", "low_credit", 0)]
        a.offer["elec"] = 500000
        ui.m.changed(0x010)
        ui.step()
        _keys(ui, I.EV_SELECT)  # acknowledges the alert first
        assert a.calls == [("acknowledge", "elec", "low_credit")] and ui.cur.name == "prepay"
        _keys(ui, I.EV_SELECT)  # the offer: the dialog opens
        p = ui.cur.ppmid
        assert p.dialog == "elec"
        _keys(ui, I.EV_NEXT, I.EV_PREV, I.EV_SELECT)  # "Take it"
        assert p.busy
        _keys(ui, I.EV_SELECT)  # swallowed while sending
        await asyncio.sleep_ms(0)
        await asyncio.sleep_ms(0)
        ui.step()
        assert a.calls[1:] == [("select_ec", "elec")]
        assert not p.busy and p.note == ("Emergency credit on: £5.00", True)
        # No offer any more: OK now opens the entry.
        _keys(ui, I.EV_SELECT)
        assert ui.cur.name == "utrn"

    fwtest.run(go())


def test_locked_and_pending_on_open():
    ui, a = _ui()
    a.lock_s = 90
    _keys(ui, I.EV_SELECT)
    assert ui.cur.entry.state == E.ST_LOCKED
    _keys(ui, *_digits("12"))
    assert ui.cur.entry.digits == ""
    _keys(ui, I.EV_BACK)
    assert ui.cur.name == "prepay"
    a.lock_s = 0
    a.pending_codes["gas"] = CODE
    _keys(ui, I.EV_SELECT)
    assert ui.cur.entry.state == E.ST_PENDING and ui.cur.entry.meter == "gas"
    _keys(ui, I.EV_BACK)  # kept for later: nothing sent
    assert a.calls == [] and a.pending_codes["gas"] == CODE
