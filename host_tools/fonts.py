# Bitmap font generator: turns a freely licensed TTF (DejaVu Sans) into compact 1bpp font modules
# for the firmware (firmware/ihd/ui/fonts/*.py, bytes literals that can be frozen).
#
#   python -m host_tools.fonts            regenerate every font in FONTS (needs the TTF)
#   python -m host_tools.fonts --check    exit 1 if a committed module differs from a fresh build
#   python -m host_tools.fonts --ttf PATH use this TTF instead of searching for one
#
# The generated modules are committed, so builds and tests never need the TTF. To regenerate, one
# of these must exist (searched in order): $IHD_FONT_TTF, Debian's fonts-dejavu-core
# (/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf, `apt-get install -y fonts-dejavu-core`),
# the copy inside the PyPI package `matplotlib` (mpl-data/fonts/ttf/DejaVuSans.ttf) or the PyPI
# package `rinoh-typeface-dejavusans`. Pillow's FreeType rendering is deterministic for a given
# Pillow + FreeType + TTF version; the TTF version is recorded in each module header.
#
# Module format (read by ihd.ui.writer):
#   HEIGHT     rows per glyph (every glyph has the same height; baseline at BASELINE)
#   BASELINE   rows from the top to the baseline
#   CHARS      the charset as a str; glyph i is CHARS[i]
#   WIDTHS     bytes: advance width of glyph i in pixels (the bitmap is this wide)
#   OFFSETS    bytes: u16 little-endian start of glyph i in BITMAP
#   BITMAP     bytes: glyph rows, MSB first (HLSB), each row (width + 7) // 8 bytes
import glob
import os
import sys

from host_tools import cli, paths

ASCII = "".join(chr(c) for c in range(32, 127))
EXTRA = "£°"
DIGITS = " 0123456789.,:-+£%/pkWhM"

# name: (pixel size, charset, threshold). Non-antialiased rendering (mode "1") keeps small sizes
# crisp; large sizes threshold the antialiased mask for smoother curves.
FONTS = {
    "sans12": (12, ASCII + EXTRA, None),
    "sans16": (16, ASCII + EXTRA, None),
    "bold16": (16, ASCII + EXTRA, None),
    "digits36": (36, DIGITS, 110),
    "sans10": (10, ASCII + EXTRA, None),
    "digits20": (20, DIGITS, 110),
}
BOLD = ("bold16",)
# Hand-drawn glyphs where the rendering does not read: at 10 px DejaVu's "J" is a bare stem with
# a one-pixel hook below the baseline, which on the 128x64 panel reads as "|" ("|an", "|ul").
# Rows top to bottom ("#" ink), one string per row of the font's height.
GLYPHS = {
    "sans10": {
        "J": ("....", "..#.", "..#.", "..#.", "..#.", "..#.", "#.#.", ".#..", "....", "...."),
    },
}

OUT_DIR = os.path.join(paths.FIRMWARE, "ihd", "ui", "fonts")


def find_ttf(bold=False):
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    env = os.environ.get("IHD_FONT_TTF")
    cands = []
    if env:
        cands.append(os.path.join(os.path.dirname(env), name) if bold else env)
    cands.append("/usr/share/fonts/truetype/dejavu/" + name)
    for site in sys.path:
        cands += glob.glob(os.path.join(site, "matplotlib", "mpl-data", "fonts", "ttf", name))
        cands += glob.glob(os.path.join(site, "rinoh*dejavu*", "**", name), recursive=True)
    for c in cands:
        if os.path.exists(c):
            return c
    raise SystemExit(
        "no %s found: apt-get install -y fonts-dejavu-core, or pip install matplotlib" % name
    )


def _glyph_rows(font, ch, top, height, threshold):
    from PIL import Image, ImageDraw

    adv = int(round(font.getlength(ch)))
    img = Image.new("L", (adv + 8, height), 0)
    draw = ImageDraw.Draw(img)
    if threshold is None:
        draw.fontmode = "1"
    draw.text((0, -top), ch, font=font, fill=255)
    cut = threshold if threshold is not None else 128
    px = img.tobytes()  # mode "L": one byte per pixel, rows of adv + 8
    w = adv + 8
    rows = []
    for y in range(height):
        rows.append([1 if px[y * w + x] >= cut else 0 for x in range(adv)])
    return adv, rows


def build(name, ttf=None):
    from PIL import ImageFont

    size, charset, threshold = FONTS[name]
    path = ttf or find_ttf(bold=name in BOLD)
    font = ImageFont.truetype(path, size)
    ascent, descent = font.getmetrics()
    # Trim the line box to the ink actually used by the charset (tighter layouts).
    top, bottom = ascent + descent, 0
    for ch in charset:
        bb = font.getbbox(ch, anchor="ls")  # relative to the baseline
        if bb[2] <= bb[0]:
            continue
        top = min(top, ascent + bb[1])
        bottom = max(bottom, ascent + bb[3])
    top = max(0, top)
    height = bottom - top
    baseline = ascent - top
    widths, offsets, bitmap = bytearray(), bytearray(), bytearray()
    fixed = GLYPHS.get(name, {})
    for ch in charset:
        if ch in fixed:
            rows = [[1 if c == "#" else 0 for c in r] for r in fixed[ch]]
            adv = len(rows[0])
            if len(rows) != height:
                raise ValueError("%s %r: %d rows, the font has %d" % (name, ch, len(rows), height))
        else:
            adv, rows = _glyph_rows(font, ch, top, height, threshold)
        if adv > 255:
            raise ValueError("glyph too wide")
        widths.append(adv)
        offsets += len(bitmap).to_bytes(2, "little")
        stride = (adv + 7) // 8
        for row in rows:
            for b in range(stride):
                v = 0
                for bit in range(8):
                    x = b * 8 + bit
                    if x < adv and row[x]:
                        v |= 0x80 >> bit
                bitmap.append(v)
    if len(bitmap) > 0xFFFF:
        raise ValueError("font too large for u16 offsets")
    return {
        "name": name,
        "size": size,
        "ttf": os.path.basename(path),
        "height": height,
        "baseline": baseline,
        "chars": charset,
        "widths": bytes(widths),
        "offsets": bytes(offsets),
        "bitmap": bytes(bitmap),
    }


def _bytes_literal(data, indent="    "):
    # Wrap a bytes literal over several lines (implicit concatenation inside parentheses).
    out, line = [], ""
    for b in data:
        tok = "\\x%02x" % b
        if len(line) + len(tok) > 84:
            out.append(indent + 'b"' + line + '"')
            line = ""
        line += tok
    if line or not out:
        out.append(indent + 'b"' + line + '"')
    return "(\n" + "\n".join(out) + "\n)"


def render_module(f):
    esc = f["chars"].replace("\\", "\\\\").replace('"', '\\"')
    if len(esc) + 10 <= 99:  # same layout as ruff format, so the modules stay format-clean
        chars = '"%s"' % esc
    else:
        chars = '(\n    "%s"\n)' % '"\n    "'.join(esc[i : i + 60] for i in range(0, len(esc), 60))
    return (
        "# Generated by host_tools/fonts.py from %s at %d px: do not edit.\n"
        "# DejaVu fonts: Bitstream Vera license + public domain changes (free to embed).\n"
        "HEIGHT = %d\n"
        "BASELINE = %d\n"
        "CHARS = %s\n"
        "WIDTHS = %s\n"
        "OFFSETS = %s\n"
        "BITMAP = %s\n"
    ) % (
        f["ttf"],
        f["size"],
        f["height"],
        f["baseline"],
        chars,
        _bytes_literal(f["widths"]),
        _bytes_literal(f["offsets"]),
        _bytes_literal(f["bitmap"]),
    )


@cli.guarded("fonts")
def main(argv=None):
    ap = cli.ArgumentParser(description=__doc__)
    ap.add_argument("--ttf", help="TTF to use for the regular weight")
    ap.add_argument("--out", default=OUT_DIR)
    ap.add_argument("--check", action="store_true", help="compare with committed modules")
    ap.add_argument("names", nargs="*", help="fonts to build (default: all)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    stale = []
    for name in args.names or FONTS:
        f = build(name, None if name in BOLD else args.ttf)
        text = render_module(f)
        path = os.path.join(args.out, name + ".py")
        if args.check:
            old = ""
            if os.path.exists(path):
                with open(path) as fh:
                    old = fh.read()
            if old != text:
                stale.append(name)
            continue
        with open(path, "w") as fh:
            fh.write(text)
        print(
            "%s: %d glyphs, height %d, %d bitmap bytes"
            % (name, len(f["chars"]), f["height"], len(f["bitmap"]))
        )
    if stale:
        print("stale font modules:", " ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
