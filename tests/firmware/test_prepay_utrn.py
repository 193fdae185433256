# UTRN codec: the GBCS Verhoeff variant on the CS01b vector, error detection (every single-digit
# typo and adjacent transposition of the vector, plus a sweep of generated codes), PTUT value
# decode, receipt grouping and log masking.
import fwtest

PORTABLE = True

CS01B = "73950067887105178605"


def _u():
    from ihd.state import utrn

    return utrn


def test_cs01b_vector_is_valid_and_check_digit_matches():
    U = _u()
    assert U.check_digit(CS01B[:19]) == 5
    assert U.validate(CS01B) == U.OK and U.is_valid(CS01B)
    assert U.make(CS01B[:19]) == CS01B


def _textbook_verhoeff(digits):
    # Standard Verhoeff: right to left, permutation row (i + 1) % 8, inverse (0,4,3,2,1,5,...).
    from ihd.state.utrn import _D, _P

    c = 0
    n = len(digits)
    for i in range(n):
        c = _D[c][_P[(i + 1) % 8][ord(digits[n - 1 - i]) - 48]]
    return (0, 4, 3, 2, 1, 5, 6, 7, 8, 9)[c]


def test_variant_is_not_textbook_verhoeff():
    # The CS01b vector happens to get 5 from the textbook algorithm too (1 in 10 chance), so
    # it alone cannot catch a "fixed" table: on generated inputs the two must mostly differ.
    U = _u()
    assert _textbook_verhoeff(CS01B[:19]) == 5
    seed, differ = 7, 0
    for _ in range(100):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        s = str(U.PPTD_OFFSET + seed * 977)[:19]
        differ += _textbook_verhoeff(s) != U.check_digit(s)
    assert differ > 70
    assert U.check_digit("1234567890123456789") == 8  # regression value


def test_every_single_digit_typo_is_caught():
    U = _u()
    n = 0
    for i in range(20):
        for d in "0123456789":
            if d != CS01B[i]:
                bad = CS01B[:i] + d + CS01B[i + 1 :]
                assert U.validate(bad) == U.E_CHECK, bad
                n += 1
    assert n == 180


def test_every_adjacent_transposition_is_caught():
    U = _u()
    for i in range(19):
        a, b = CS01B[i], CS01B[i + 1]
        if a != b:
            bad = CS01B[:i] + b + a + CS01B[i + 2 :]
            assert U.validate(bad) == U.E_CHECK, bad


def test_generated_codes_single_errors_and_transpositions_in_pptd():
    # Over many generated codes: all single substitutions anywhere and all adjacent swaps inside
    # the 19 PPTD digits are caught (dihedral-group property of the tables). A swap of the last
    # PPTD digit with the check digit itself is not guaranteed to be caught by this variant.
    U = _u()
    seed = 12345
    for _ in range(40 if fwtest.IS_UPY else 200):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        pptd = str(U.PPTD_OFFSET + (seed << 20))[:19]
        code = U.make(pptd)
        assert U.is_valid(code)
        for i in range(20):
            d = str((int(code[i]) + 1 + seed % 9) % 10)
            if d != code[i]:
                assert not U.is_valid(code[:i] + d + code[i + 1 :])
        for i in range(18):
            if code[i] != code[i + 1]:
                assert not U.is_valid(code[:i] + code[i + 1] + code[i] + code[i + 2 :])


def test_format_errors():
    U = _u()
    assert U.validate("") == U.E_EMPTY
    assert U.validate(CS01B[:19]) == U.E_LENGTH
    assert U.validate(CS01B + "1") == U.E_LENGTH
    assert U.validate("7395A067887105178605") == U.E_CHARS
    assert U.validate(None) == U.E_CHARS
    # receipts print groups: separators are accepted
    assert U.validate("7395 0067 8871 0517 8605") == U.OK
    assert U.validate("7395-0067-8871-0517-8605") == U.OK
    assert U.normalise(b"7395 0067") == "73950067"


def test_value_decode_cs01b_is_1250_pence():
    U = _u()
    assert U.decode(CS01B) == (U.CLASS_PENNIES, 1250, 1250)
    assert U.amount_mp(CS01B) == 1_250_000  # £12.50 in 1e-5 GBP
    assert U.counter_bits(CS01B) == 6


def test_value_decode_pounds_class_and_limits():
    U = _u()
    # PTUT high dword: counter 3, class pounds, value 20 -> £20
    hi = (3 << 15) | (1 << 13) | 20
    code = U.make(str(U.PPTD_OFFSET + (hi << 32) + 0xDEADBEEF))
    assert U.decode(code) == (U.CLASS_POUNDS, 20, 2000)
    assert U.amount_mp(code) == 2_000_000
    hi = (2 << 13) | 5  # value class 2: reserved
    assert U.decode(U.make(str(U.PPTD_OFFSET + (hi << 32)))) is None
    # below the class-5 offset: not a PTUT
    assert U.decode(U.make("1234567890123456789")) is None
    hi = 8191
    assert U.decode(U.make(str(U.PPTD_OFFSET + (hi << 32)))) == (0, 8191, 8191)


def test_grouping_and_masking():
    U = _u()
    assert U.group(CS01B) == "7395 0067 8871 0517 8605"
    assert U.group("739500") == "7395 00"
    assert U.group("") == ""
    assert U.mask(CS01B) == "**** **** **** **** 8605"
    assert U.mask("7395 0067 8871 0517 8605") == "**** **** **** **** 8605"
    assert "7395" not in U.mask(CS01B)
