# UTRN (Unique Transaction Reference Number, the GB prepayment top-up code): validation, value
# decode, display grouping and log masking. Pure; imports under CPython too.
# Reference: docs zigbee-se.md §6 (GBCS §14, gbcs-parser utrn.ts). A UTRN is 20 decimal digits:
# the 19-digit PPTD (= K-class-5 offset + the 64-bit PTUT) followed by one check digit from a
# Verhoeff variant (GBCS tables 14.8a-c): permutation rows used from K=4 upwards, digits taken
# left to right, and a non-standard inverse table.
from micropython import const

UTRN_LEN = const(20)
PPTD_OFFSET = 7394156990786306048  # K-class-5 offset added to the PTUT (too big for const())
CLASS_PENNIES = const(0)
CLASS_POUNDS = const(1)
MAX_VALUE = const(8191)  # 13-bit PTUT value

# validate() results
OK = const(0)
E_EMPTY = const(1)
E_CHARS = const(2)  # something other than digits (spaces and '-' are allowed separators)
E_LENGTH = const(3)  # not exactly 20 digits
E_CHECK = const(4)  # check digit wrong: mistyped

# GBCS table 14.8a: permutation (8 rows).
_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)
# GBCS table 14.8b: multiplication in the dihedral group D5.
_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
# GBCS table 14.8c: "inverse" table; differs from the textbook Verhoeff inverse on purpose.
_I = (1, 2, 6, 7, 5, 8, 3, 0, 9, 4)
_K0 = const(4)  # start row


def check_digit(digits):
    # digits: str of '0'-'9' (the 19-digit PPTD) -> int check digit. ValueError on non-digits.
    c = 0
    k = _K0
    for ch in digits:
        d = ord(ch) - 48
        if d < 0 or d > 9:
            raise ValueError("not a digit")
        c = _D[c][_P[k][d]]
        k = (k + 1) & 7
    return _I[c]


def normalise(text):
    # Keypad / receipt text -> digits only, or None if it holds anything but digits, spaces and
    # '-' (receipts print groups of 4).
    if text is None:
        return None
    if isinstance(text, (bytes, bytearray)):
        try:
            text = bytes(text).decode()
        except Exception:
            return None
    out = []
    for ch in text:
        if "0" <= ch <= "9":
            out.append(ch)
        elif ch not in " -":
            return None
    return "".join(out)


def validate(text):
    # -> OK or E_*; checks only what the IHD can know (format + check digit), not the MAC.
    d = normalise(text)
    if d is None:
        return E_CHARS
    if not d:
        return E_EMPTY
    if len(d) != UTRN_LEN:
        return E_LENGTH
    if check_digit(d[:19]) != ord(d[19]) - 48:
        return E_CHECK
    return OK


def is_valid(text):
    return validate(text) == OK


def make(pptd19):
    # 19-digit PPTD string -> full 20-digit UTRN (tests, tools).
    return pptd19 + chr(48 + check_digit(pptd19))


def ptut(text):
    # The 64-bit PTUT inside a valid UTRN, or None if the PPTD is outside the class-5 range.
    d = normalise(text)
    if d is None or len(d) != UTRN_LEN:
        return None
    v = int(d[:19]) - PPTD_OFFSET
    if v < 0 or v >> 64:
        return None
    return v


def decode(text):
    # -> (value_class, value, amount_pence) or None. PTUT high dword: 7 zero bits, 10-bit
    # truncated originator counter, 2-bit value class (0 pennies, 1 pounds), 13-bit value.
    # Other value classes and non-zero lead bits are not decodable (None).
    v = ptut(text)
    if v is None:
        return None
    hi = v >> 32
    if hi >> 25:
        return None
    cls = (hi >> 13) & 3
    value = hi & 0x1FFF
    if cls == CLASS_PENNIES:
        return cls, value, value
    if cls == CLASS_POUNDS:
        return cls, value, value * 100
    return None


def amount_mp(text):
    # Top-up value the code carries in 1e-5 GBP (assuming the meter's currency is GBP), or None.
    r = decode(text)
    return None if r is None else r[2] * 1000


def counter_bits(text):
    # 10-bit truncated originator counter (diagnostics only).
    v = ptut(text)
    return None if v is None else (v >> 47) & 0x3FF


def _group4(s):
    return " ".join(s[i : i + 4] for i in range(0, len(s), 4))


def group(text):
    # "73950067887105178605" -> "7395 0067 8871 0517 8605" (as printed on receipts); partial
    # input is grouped the same way ("7395 00").
    return _group4(normalise(text) or "")


def mask(text):
    # For logs and the top-up history: "**** **** **** **** 8605". Never log a whole code.
    d = normalise(text) or ""
    if len(d) <= 4:
        return "*" * len(d)
    return _group4("*" * (len(d) - 4) + d[-4:])
