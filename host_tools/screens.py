# Screenshots: frame dumps (boards/unix/framedump.py) -> PNG, and the whole screen set rendered by
# the real firmware UI on the MicroPython unix port from the deterministic demo model.
#
#   python -m host_tools.screens DUMP.fb [...] --out DIR    convert dumps
#   python -m host_tools.screens --all --out build/screens  render every screen, both resolutions
#   python -m host_tools.screens --all --out tests/golden   regenerate the golden images on purpose
#   --scale N   also write NAME@Nx.png upscaled (nearest) for review
import os
import struct
import subprocess
import sys
import tempfile

from host_tools import cli, paths

MAGIC = b"IHDF"
HEADER = struct.Struct("<4sBBHH6x")
FMT_RGB565, FMT_MONO_VLSB, FMT_MONO_HLSB = 0, 1, 2


def load_dump(data):
    # -> PIL.Image (RGB for colour, "1" for mono)
    from PIL import Image

    magic, ver, fmt, w, h = HEADER.unpack_from(data)
    if magic != MAGIC or ver != 1:
        raise ValueError("not a frame dump")
    raw = data[HEADER.size :]
    if fmt == FMT_RGB565:
        # framebuf.RGB565 stores native little-endian u16: Pillow's "BGR;16" reads that.
        return Image.frombytes("RGB", (w, h), raw[: w * h * 2], "raw", "BGR;16")
    if fmt == FMT_MONO_HLSB:
        return Image.frombytes("1", (w, h), raw[: (w + 7) // 8 * h])
    if fmt == FMT_MONO_VLSB:
        # One byte = 8 vertical pixels (LSB on top) per page: transpose to HLSB rows.
        hl = bytearray((w + 7) // 8 * h)
        stride = (w + 7) // 8
        for page in range(h // 8):
            row = raw[page * w : (page + 1) * w]
            for x, b in enumerate(row):
                if not b:
                    continue
                for bit in range(8):
                    if b >> bit & 1:
                        y = page * 8 + bit
                        hl[y * stride + x // 8] |= 0x80 >> (x % 8)
        return Image.frombytes("1", (w, h), bytes(hl))
    raise ValueError("unknown format %d" % fmt)


def to_png(dump_path, out_dir, scale=0):
    with open(dump_path, "rb") as f:
        img = load_dump(f.read())
    name = os.path.splitext(os.path.basename(dump_path))[0]
    png = os.path.join(out_dir, name + ".png")
    img.save(png, optimize=True)
    if scale and scale > 1:
        big = img.convert("RGB").resize((img.width * scale, img.height * scale), 0)
        big.save(os.path.join(out_dir, "%s@%dx.png" % (name, scale)))
    return png


def demo_module():
    # The demo data (boards/unix/demo.py: the scenes, the demo model) under CPython through
    # host_tools.upy_shim, e.g. for the scene names. The unix board directory is on the unix
    # port's path, not on CPython's: the module is loaded from its file, once.
    mod = sys.modules.get("demo")
    if mod is not None:
        return mod
    import importlib.util

    from host_tools import upy_shim

    upy_shim.install()
    path = os.path.join(paths.BOARDS, "unix", "demo.py")
    spec = importlib.util.spec_from_file_location("demo", path)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load " + path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["demo"] = mod
    spec.loader.exec_module(mod)
    return mod


def render_dumps(dump_dir, only=()):
    # Run the firmware UI on the unix port: every demo scene at both resolutions.
    env = dict(os.environ, MICROPYPATH=paths.micropypath())
    code = "import framedump; framedump.render_all(%r, %r)" % (dump_dir, tuple(only))
    subprocess.run(
        [paths.micropython_exe(), "-X", "heapsize=1M", "-c", code],
        env=env,
        cwd=paths.ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return sorted(os.path.join(dump_dir, n) for n in os.listdir(dump_dir) if n.endswith(".fb"))


def render_all(out_dir, scale=0, only=()):
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        return [to_png(p, out_dir, scale) for p in render_dumps(tmp, only)]


@cli.guarded("screens")
def main(argv=None):
    ap = cli.ArgumentParser(description="frame dumps -> PNG; --all renders every screen")
    ap.add_argument("dumps", nargs="*")
    ap.add_argument("--all", action="store_true", help="render every screen (demo model)")
    ap.add_argument("--only", action="append", default=[], help="scene name (repeatable)")
    ap.add_argument("--out", default=os.path.join(paths.BUILD, "screens"))
    ap.add_argument("--scale", type=int, default=0)
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    pngs = []
    if args.all:
        pngs += render_all(args.out, args.scale, args.only)
    for d in args.dumps:
        pngs.append(to_png(d, args.out, args.scale))
    if not pngs:
        ap.error("nothing to do: give dump files or --all")
    for p in pngs:
        print(p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
