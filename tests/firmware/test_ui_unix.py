# fw: heapsize=1M
# Unix board pieces: keyboard mapping, terminal renderer (changed cells only), frame dumps.
import keys
from ihd.ui import input as I
from term import TermPanel


class Out:
    def __init__(self):
        self.parts = []

    def write(self, s):
        self.parts.append(s)

    def text(self):
        return "".join(self.parts)


def test_key_mapping():
    assert keys.parse("\x1b[D\x1b[C\x1b[A\x1b[B") == [I.EV_PREV, I.EV_NEXT, I.EV_PREV, I.EV_NEXT]
    assert keys.parse("awd\r\x7f") == [I.EV_PREV, I.EV_PREV, I.EV_NEXT, I.EV_SELECT, I.EV_BACK]
    assert keys.parse("s") == [I.EV_LONG_SELECT]
    assert keys.parse("\x1b") == [I.EV_BACK]  # lone Esc
    assert keys.parse("0129*#") == [
        I.EV_KEY0,
        I.EV_KEY0 + 1,
        I.EV_KEY0 + 2,
        I.EV_KEY0 + 9,
        I.EV_STAR,
        I.EV_HASH,
    ]
    assert keys.parse("q") == [keys.QUIT]


def test_term_scales_and_rewrites_only_changed_cells():
    out = Out()
    p = TermPanel(320, 240, cols=80, rows=31, out=out)
    assert p.scale == 4 and p.cols == 80 and p.rows == 30
    p.fill(0)
    p.show()
    full = out.text()
    assert full.count("\u2580") == 80 * 30
    out.parts = []
    p.show()  # nothing changed
    assert "\u2580" not in out.text()
    p.fill_rect(8, 8, 8, 8, 0xF800)  # 2x1 cells
    p.show_rect(8, 8, 8, 8)
    assert out.text().count("\u2580") == 2
    assert "38;2;248;0;0" in out.text() or "48;2;248;0;0" in out.text()


def test_term_mono():
    out = Out()
    p = TermPanel(128, 64, mono=True, cols=200, rows=50, out=out)
    assert p.scale == 1 and p.rows == 32
    p.pixel(0, 0, 1)
    p.show()
    assert out.text().count("\u2580") == 128 * 32


def test_frame_dump_header(tmp="/tmp/ihd_ui_dump_test.fb"):
    import os
    import struct

    import framedump

    p = TermPanel(128, 64, mono=True, cols=200, rows=50, out=Out())
    framedump.dump(p, tmp)
    with open(tmp, "rb") as f:
        data = f.read()
    os.remove(tmp)
    magic, ver, fmt, w, h = struct.unpack_from("<4sBBHH", data)
    assert (magic, ver, fmt, w, h) == (b"IHDF", 1, framedump.FMT_MONO_VLSB, 128, 64)
    assert len(data) == 16 + 1024


def test_status_key_is_the_terminals():
    # The footer names board.STATUS_KEY: on the unix board the key that opens Status.
    import board

    assert keys.parse(board.STATUS_KEY) == [I.EV_LONG_SELECT]


def test_term_too_small_says_what_size_is_needed():
    out = Out()
    p = TermPanel(320, 240, cols=80, rows=24, out=out)
    assert p.scale == 6
    p.clear_screen()
    note = p.size_note()
    assert note.startswith("screen at 1/6: 160x61 shows 1/2, 320x121 full size"), note
    assert note in out.text()  # on the line under the screen
    assert "\x1b[%d;1H" % (1 + p.rows) in out.text()
    p = TermPanel(320, 240, cols=160, rows=61, out=Out())  # what it asked for
    assert p.scale == 2 and p.size_note().startswith("screen at 1/2: 320x121 full size")
    assert TermPanel(128, 64, mono=True, cols=128, rows=33, out=Out()).size_note() == ""
