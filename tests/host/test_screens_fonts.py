# The committed bitmap font modules are exactly what host_tools/fonts.py generates from the TTF
# (skipped where no DejaVu TTF is installed: builds and tests never need it).
import pytest

from host_tools import fonts


def _have_ttf():
    try:
        fonts.find_ttf()
        fonts.find_ttf(bold=True)
        return True
    except SystemExit:
        return False


@pytest.mark.skipif(not _have_ttf(), reason="DejaVu TTF not installed (fonts-dejavu-core)")
def test_font_modules_are_up_to_date():
    assert fonts.main(["--check"]) == 0


def test_font_module_format():
    from host_tools import upy_shim

    upy_shim.install()
    from ihd.ui.fonts import digits36, sans12

    for f in (sans12, digits36):
        n = len(f.CHARS)
        assert len(f.WIDTHS) == n and len(f.OFFSETS) == 2 * n
        last = f.OFFSETS[-2] | f.OFFSETS[-1] << 8
        stride = (f.WIDTHS[-1] + 7) // 8
        assert last + stride * f.HEIGHT == len(f.BITMAP)
        assert 0 < f.BASELINE <= f.HEIGHT
