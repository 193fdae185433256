# The prepayment words the service and the screens share (docs/prepay.md): the result codes of a
# top-up or emergency credit request, their texts for the user, and the alert kinds. The service
# (ihd/prepay/) hands the screens a Result carrying one of these codes; the screens tell the codes
# apart and show message(code). Pure; imports under CPython too.
from micropython import const

# Result codes. 0-6 are the meter's ConsumerTopUpResponse ResultType (0 accepted, 1-6 the
# rejections, same numbers); the rest are decided on the IHD (nothing was sent, or nothing came
# back).
ACCEPTED = const(0)
REJ_INVALID = const(1)
REJ_DUPLICATE = const(2)
REJ_ERROR = const(3)
REJ_MAX_CREDIT = const(4)
REJ_KEYPAD_LOCK = const(5)
REJ_TOO_LARGE = const(6)
BAD_FORMAT = const(0x20)  # not 20 digits: not sent
BAD_CHECK = const(0x21)  # check digit wrong (mistyped): not sent
NO_ANSWER = const(0x22)  # sent, no answer in time: code kept for retry
BAD_ANSWER = const(0x23)  # answer unreadable / not a top-up response: code kept for retry
LOCKED = const(0x24)  # too many rejections: entry locked for lock_s seconds
NO_METER = const(0x25)  # no bound meter of that fuel
NOT_PREPAY = const(0x26)  # the meter is in credit mode
REFUSED = const(0x27)  # Default Response error (status in .status), e.g. unsupported
BUSY = const(0x28)  # another top-up / EC request in flight
EC_SELECTED = const(0x30)
EC_NOT_AVAILABLE = const(0x31)

# (code, text) rows: a constant (in flash when frozen; no dict built, no global).
_TEXT = const(
    (
        (ACCEPTED, "Top-up accepted"),
        (REJ_INVALID, "Code not valid for this meter"),
        (REJ_DUPLICATE, "Code already used"),
        (REJ_ERROR, "Meter could not apply the code"),
        (REJ_MAX_CREDIT, "Credit limit reached"),
        (REJ_KEYPAD_LOCK, "Top-up locked on the meter"),
        (REJ_TOO_LARGE, "Top-up too large"),
        (BAD_FORMAT, "Codes have 20 digits"),
        (BAD_CHECK, "Code mistyped: check digits"),
        (NO_ANSWER, "No answer: code kept, retry"),
        (BAD_ANSWER, "Unclear answer: code kept"),
        (LOCKED, "Too many wrong codes: wait"),
        (NO_METER, "Meter not connected"),
        (NOT_PREPAY, "Meter is not in prepayment"),
        (REFUSED, "Meter refused the request"),
        (BUSY, "Busy: please wait"),
        (EC_SELECTED, "Emergency credit on"),
        (EC_NOT_AVAILABLE, "No emergency credit available"),
    )
)


def message(code):
    # The user's text for a result code ("Error" for a code not listed).
    for c, text in _TEXT:
        if c == code:
            return text
    return "Error"


# Alert kinds, per meter (the service raises each once per crossing).
ALERT_LOW_CREDIT = "low_credit"
ALERT_EC_IN_USE = "ec_in_use"
