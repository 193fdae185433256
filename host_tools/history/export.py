# python -m host_tools.history export <dir or image(s)> [--format csv|json] [--block-size N]
# Reads device storage image(s) (littlefs followed by the raw key region: the last RAW_BLOCKS
# erase blocks) with littlefs-python, takes the tenancy keys from the raw region and prints the
# history the device would show: meter, fuel, resolution, start/end (UTC ISO 8601), energy kWh,
# cost pence, flow (import, or export: electricity fed to the grid, the store's EXPORT slot,
# meter "export", cost 0). The firmware's own store code is reused under CPython (upy_shim + a
# `cryptolib` shim over `cryptography`) on an in-memory copy, so the image files are never
# modified.
import csv
import datetime
import json
import os
import sys
import types

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from littlefs import LittleFS, UserContext, errors

from host_tools import cli, paths, upy_shim

RAW_BLOCKS = 2
_BLOCK_SIZES = (4096, 512, 1024, 2048, 8192, 16384)
_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)


class _Aes:
    def __init__(self, key, mode, iv=None):
        if mode != 1:
            raise ValueError("mode")
        self._enc = Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor()

    def encrypt(self, src, dst=None):
        out = self._enc.update(bytes(src))
        if dst is None:
            return out
        dst[:] = out
        return None


def _install():
    upy_shim.install()
    if "cryptolib" not in sys.modules:
        m = types.ModuleType("cryptolib")
        m.__dict__["aes"] = _Aes
        sys.modules["cryptolib"] = m


class RawDev:
    # Block device over an in-memory copy of the raw key region.
    def __init__(self, data, block_size):
        self.data = bytearray(data)
        self.bs = block_size

    def readblocks(self, block, buf, offset=0):
        a = block * self.bs + offset
        buf[:] = self.data[a : a + len(buf)]

    def writeblocks(self, block, buf, offset=0):
        a = block * self.bs + offset
        self.data[a : a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 6:
            self.data[arg * self.bs : (arg + 1) * self.bs] = b"\xff" * self.bs
        return 0


class LfsAdapter:
    # The subset of the MicroPython VFS object API that HistoryStore uses.
    def __init__(self, fs):
        self.fs = fs

    def open(self, path, mode):
        return self.fs.open(path, mode)

    def stat(self, path):
        # littlefs-python raises its own error for a missing path; the store expects OSError
        try:
            return self.fs.stat(path)
        except errors.LittleFSError as e:
            raise OSError(2, "%s: %s" % (path, e)) from e

    def mkdir(self, path):
        self.fs.mkdir(path)

    def rmdir(self, path):
        self.fs.rmdir(path)

    def remove(self, path):
        self.fs.remove(path)

    def ilistdir(self, path):
        for e in self.fs.scandir(path):
            yield (e.name, 0x4000 if e.type == 2 else 0x8000, 0, e.size)


def _mount(image, block_size=None):
    sizes = (block_size,) if block_size else _BLOCK_SIZES
    for bs in sizes:
        if len(image) % bs or len(image) // bs <= RAW_BLOCKS + 2:
            continue
        n = len(image) // bs - RAW_BLOCKS
        ctx = UserContext(buffer=bytearray(image[: n * bs]))
        fs = LittleFS(context=ctx, mount=False, block_size=bs, block_count=n)
        try:
            fs.mount()
        except errors.LittleFSError:
            continue
        return fs, bs, n
    raise SystemExit("not a littlefs image (tried block sizes %s)" % (sizes,))


def _iso(t_s):
    return (_EPOCH + datetime.timedelta(seconds=t_s)).strftime("%Y-%m-%dT%H:%M:%SZ")


def read_image(image, block_size=None):
    # -> list of row dicts for one storage image (bytes).
    _install()
    from ihd.history.keys import KeyRegion
    from ihd.history.store import EXPORT, HistoryStore
    from ihd.runtime import clock
    from ihd.state.fuels import ELEC, FUELS

    # A reader decides nothing by the clock: unsynced, the store repairs no "future-dated" file
    # (store.py _repair_if_future). The clock is this process's module state, which whatever
    # ran before in it (a test, a tool) may have set to any time.
    clock.reset()

    fs, bs, n = _mount(image, block_size)
    raw = RawDev(image[n * bs :], bs)
    keys = KeyRegion(raw, 0, bs)
    store = HistoryStore(LfsAdapter(fs), keys)
    rows = []
    for m in range(store.n):
        vf = store.visible_from(m)
        fuel = FUELS[ELEC if m == EXPORT else m]  # export: electricity's other direction
        for rec in store.dump(m):
            res = "half_hour" if rec[0] == "hh" else "day"
            end = rec[1] + (1800 if rec[0] == "hh" else 86400)
            rows.append(
                {
                    "meter": "export" if m == EXPORT else fuel.key,
                    "fuel": fuel.word,
                    "flow": "export" if m == EXPORT else "import",
                    "resolution": res,
                    # a day rebuilt after a change of tenancy holds only data from T on
                    "start": _iso(max(rec[1], vf)),
                    "end": _iso(end),
                    "energy_kwh": rec[2] / 1000,
                    "cost_pence": rec[3] / 1000,
                }
            )
    return rows


def _inputs(names):
    out = []
    for p in names:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                if name.endswith((".img", ".bin")):
                    out.append(os.path.join(p, name))
        else:
            out.append(p)
    return out


def _read_rows(path, block_size):
    # -> rows of one image file; a file that cannot be read or is no device image: one line.
    try:
        with open(path, "rb") as f:
            image = f.read()
    except OSError as e:
        cli.fail("%s: %s" % (path, e.strerror or e))
    try:
        return read_image(image, block_size)
    except SystemExit as e:  # _mount: not a littlefs image
        cli.fail("%s: %s" % (path, e.code))
    except errors.LittleFSError as e:
        cli.fail("%s: littlefs error: %s" % (path, cli.describe(e)))


@cli.guarded("history")
def main(argv=None):
    ap = cli.ArgumentParser(prog="python -m host_tools.history")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ex = sub.add_parser("export", help="print the stored history of storage image(s)")
    ex.add_argument("paths", nargs="+", help="image file(s) or directories of *.img/*.bin")
    ex.add_argument("--format", choices=("csv", "json"), default="csv")
    ex.add_argument("--block-size", type=int, default=None)
    a = ap.parse_args(argv)
    paths.require_checkout("history export")  # the firmware's store code reads the images
    rows = []
    for p in a.paths:
        if not os.path.exists(p):
            cli.fail("%s: no such file or directory" % p)
    files = _inputs(a.paths)
    if not files:
        cli.fail("no images found in %s (looked for *.img, *.bin)" % ", ".join(a.paths))
    for path in files:
        for r in _read_rows(path, a.block_size):
            if len(files) > 1:
                r["image"] = os.path.basename(path)
            rows.append(r)
    if a.format == "json":
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        cols = ["meter", "fuel", "flow", "resolution", "start", "end", "energy_kwh", "cost_pence"]
        if len(files) > 1:
            cols.insert(0, "image")
        w = csv.DictWriter(sys.stdout, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    return 0
