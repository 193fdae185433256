# package.json, for `mpremote mip install --target / package.json` (or github:OWNER/REPO): it lists
# exactly the firmware files `make flash` puts on a board, at the same device paths
# (host_tools/flash.py: firmware/<path> goes to <path> under the device's root; main.py at the
# root), with the firmware's version, and no stale entries. mpremote's own mip code installs it
# (into a fake device here) as that tree, byte for byte.
import json
import os
import re

from mpremote import mip

from host_tools import flash, paths

PACKAGE_JSON = os.path.join(paths.ROOT, "package.json")


def _pkg():
    with open(PACKAGE_JSON) as f:
        return json.load(f)


def test_lists_exactly_the_firmware_files():
    want = {rel: "firmware/" + rel for _, rel in flash.firmware_modules()}
    got = {}
    for entry in _pkg()["urls"]:
        assert isinstance(entry, list) and len(entry) == 2, entry
        dev, src = entry
        assert dev not in got, "listed twice: %s" % dev
        got[dev] = src
    missing, stale = sorted(set(want) - set(got)), sorted(set(got) - set(want))
    assert not missing and not stale, "package.json urls: add %s; remove %s" % (missing, stale)
    assert got == want
    assert "main.py" in got  # at the device's root, where the board boots it
    for src in got.values():
        assert os.path.isfile(os.path.join(paths.ROOT, src)), src


def test_version_is_the_firmwares():
    with open(os.path.join(paths.FIRMWARE, "ihd", "__init__.py")) as f:
        m = re.search(r'^VERSION = "([^"]+)"', f.read(), re.M)
    assert m
    pkg = _pkg()
    assert pkg["version"] == m.group(1)
    assert pkg.get("deps", []) == []  # the firmware needs nothing from micropython-lib


class _FakeDevice:
    # The part of mpremote's transport that mip uses, over a host directory.
    def __init__(self, root):
        self.root = root
        os.makedirs(root)

    def _p(self, path):
        return os.path.join(self.root, path.lstrip("/"))

    def fs_exists(self, path):
        return os.path.exists(self._p(path))

    def fs_mkdir(self, path):
        os.mkdir(self._p(path))

    def fs_hashfile(self, path, algo):
        raise FileNotFoundError(path)

    def fs_writefile(self, path, data, progress_callback=None):
        with open(self._p(path), "wb") as f:
            f.write(data)


def test_mip_installs_the_flash_layout(tmp_path):
    dev = _FakeDevice(str(tmp_path / "device"))
    mip._install_package(dev, PACKAGE_JSON, mip._PACKAGE_INDEX, "/", None, True)
    installed = {}
    for base, _dirs, files in os.walk(dev.root):
        for f in files:
            p = os.path.join(base, f)
            with open(p, "rb") as fh:
                installed[os.path.relpath(p, dev.root).replace(os.sep, "/")] = fh.read()
    want = {}
    for src, rel in flash.firmware_modules():
        with open(src, "rb") as fh:
            want[rel] = fh.read()
    assert sorted(installed) == sorted(want)
    assert installed == want
