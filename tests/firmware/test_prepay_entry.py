# UTRN entry state machine (ihd.ui.entry): keypad and four-button input, local check digit,
# fuel choice, sending, results, no-answer retry only on request, lockout countdown.
from ihd.state import utrn as U
from ihd.ui import entry as E

PORTABLE = True

CODE = "73950067887105178605"  # GBCS CS01b, valid
TYPO = "73950067887105178606"  # last digit wrong


class R:
    # Stand-in for the service's Result.
    def __init__(self, code, credit_mp=None, lock_s=0):
        self.code = code
        self.credit_mp = credit_mp
        self.amount_mp = None
        self.lock_s = lock_s

    def ok(self):
        return self.code in (0, 0x30)


def _typed(e, code=CODE):
    for ch in code:
        assert e.digit(ord(ch) - 48) is None
    return e


def test_result_codes_mirror_the_service():
    from ihd.state import prepay as P

    assert (E.R_ACCEPTED, E.R_BAD_CHECK, E.R_NO_ANSWER) == (P.ACCEPTED, P.BAD_CHECK, P.NO_ANSWER)
    assert (E.R_BAD_ANSWER, E.R_LOCKED) == (P.BAD_ANSWER, P.LOCKED)
    assert P.message(P.BAD_CHECK) == E.MSG_MISTYPED and P.message(P.BAD_FORMAT) == E.MSG_SHORT


def test_keypad_entry_grouped_and_sent_once():
    e = E.Entry()
    e.open(["elec"])
    _typed(e, CODE[:10])
    assert e.text() == "7395 0067 88"
    _typed(e, CODE[10:])
    assert e.text() == "7395 0067 8871 0517 8605"
    e.digit(1)  # a 21st digit is ignored
    assert len(e.digits) == 20
    assert e.submit() == (E.REQ_TOP_UP, "elec", CODE)
    assert e.state == E.ST_SENDING
    # While sending, keys do nothing and nothing is sent again.
    assert e.submit() is None and e.select() is None and e.digit(3) is None
    e.finish(R(E.R_ACCEPTED, credit_mp=1650000))
    assert e.state == E.ST_RESULT and e.result.credit_mp == 1650000
    assert e.submit() == (E.REQ_LEAVE,)


def test_short_code_and_typo_caught_locally():
    e = E.Entry()
    e.open(["elec"])
    _typed(e, CODE[:19])
    assert e.submit() is None and e.error == E.MSG_SHORT and e.state == E.ST_ENTER
    e.delete()
    _typed(e, TYPO[18:])
    req = e.submit()
    # Not a top-up: the service is only told (rate limit); it sends nothing for a bad check.
    assert req == (E.REQ_BAD_CHECK, "elec", TYPO)
    assert e.state == E.ST_ENTER and e.error == E.MSG_MISTYPED
    e.finish(R(E.R_BAD_CHECK))
    assert e.state == E.ST_ENTER and e.digits == TYPO  # the user fixes the typo
    e.delete()
    assert e.error is None
    e.digit(5)
    assert e.submit()[0] == E.REQ_TOP_UP


def test_every_single_digit_typo_is_caught_before_sending():
    for i in range(20):
        for d in "0123456789":
            if d == CODE[i]:
                continue
            e = E.Entry()
            e.open(["elec"])
            _typed(e, CODE[:i] + d + CODE[i + 1 :])
            assert e.submit()[0] == E.REQ_BAD_CHECK


def test_fuel_choice_when_both_meters_are_prepayment():
    e = E.Entry()
    e.open(["elec", "gas"])
    _typed(e)
    assert e.submit() is None and e.state == E.ST_FUEL
    e.up()
    assert e.fuel_sel == 1
    e.delete()  # back to the code, still typed
    assert e.state == E.ST_ENTER and e.digits == CODE
    e.submit()
    assert e.choose(1) == (E.REQ_TOP_UP, "gas", CODE)


def test_four_button_entry():
    e = E.Entry()
    e.open(["elec"])
    for ch in CODE:
        d = ord(ch) - 48
        # next raises the candidate from 0 (first press: 1), prev lowers it (first press: 9)
        if d <= 5:
            for _ in range(d):
                e.up()
            if d == 0:
                e.up()
                e.down()
        else:
            for _ in range(10 - d):
                e.down()
        assert e.cand == d, (ch, e.cand)
        assert e.select() is None
    assert e.digits == CODE and e.cand == -1
    assert e.select() == (E.REQ_TOP_UP, "elec", CODE)


def test_back_deletes_then_leaves():
    e = E.Entry()
    e.open(["elec"])
    e.digit(7)
    assert e.delete() is None and e.digits == ""
    assert e.delete() == (E.REQ_LEAVE,)
    e.digit(7)
    assert e.cancel() == (E.REQ_LEAVE,) and e.digits == ""


def test_no_answer_keeps_code_and_retries_only_on_request():
    e = E.Entry()
    e.open(["elec"])
    _typed(e)
    e.submit()
    e.finish(R(E.R_NO_ANSWER))
    assert e.state == E.ST_RESULT
    assert e.delete() == (E.REQ_LEAVE,)  # leaving keeps it pending (service side)
    # Reopened later with the pending code: OK asks for the retry, nothing else sends it.
    e.open(["elec"], pending=("elec", CODE))
    assert e.state == E.ST_PENDING and e.pending_code == CODE
    assert e.submit() == (E.REQ_RETRY, "elec")
    assert e.state == E.ST_SENDING
    e.finish(R(E.R_ACCEPTED, credit_mp=10))
    assert e.state == E.ST_RESULT
    # From the no-answer result, OK is the retry.
    e.open(["elec"])
    _typed(e)
    e.submit()
    e.finish(R(E.R_NO_ANSWER))
    assert e.select() == (E.REQ_RETRY, "elec")
    e.finish(R(E.R_NO_ANSWER))
    # A digit in the pending view starts a new code instead.
    e.open(["elec"], pending=("elec", CODE))
    e.digit(4)
    assert e.state == E.ST_ENTER and e.digits == "4"


def test_rejection_back_to_edit_and_lockout_countdown():
    e = E.Entry()
    e.open(["elec"])
    _typed(e)
    e.submit()
    e.finish(R(2))  # duplicate
    assert e.state == E.ST_RESULT and not e.result.ok()
    assert e.select() is None and e.state == E.ST_ENTER and e.digits == CODE
    e.submit()
    e.finish(R(1, lock_s=60), now_ms=1000)  # the third rejection locked entry
    assert e.state == E.ST_RESULT
    e.select()
    assert e.state == E.ST_LOCKED
    assert e.lock_left_s(1000) == 60 and e.lock_left_s(31500) == 30
    assert e.digit(1) is None and e.digits == CODE and e.submit() is None
    assert e.lock_left_s(61000) == 0 and e.state == E.ST_ENTER and e.digits == ""
    # Opened while the service is locked; and the service answering LOCKED.
    e.open(["elec"], lock_s=120, now_ms=0)
    assert e.state == E.ST_LOCKED and e.lock_left_s(0) == 120
    e.reset()
    _typed(e)
    e.submit()
    e.finish(R(E.R_LOCKED, lock_s=30), now_ms=0)
    assert e.state == E.ST_LOCKED and e.lock_left_s(0) == 30


def test_sending_survives_reopen():
    e = E.Entry()
    e.open(["elec"])
    _typed(e)
    e.submit()
    assert e.delete() == (E.REQ_LEAVE,)
    e.open(["elec"])
    assert e.state == E.ST_SENDING
    assert U.is_valid(e.digits)
