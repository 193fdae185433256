# `make flash` staging: every module compiles, the .mpy version matches the interpreter, the
# staged tree boots on the unix port, and a dry run prints a plan without touching a device.
import os
import subprocess
import sys

import pytest

from host_tools import flash, paths, toolchain


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    out = tmp_path_factory.mktemp("stage") / "unix"
    out_dir, manifest = flash.stage("unix", str(out))
    return out_dir, manifest


def test_every_module_is_compiled(staged):
    out_dir, manifest = staged
    for _src, rel in flash.firmware_modules():
        want = rel if rel in flash.SOURCE_FILES else rel[:-3] + ".mpy"
        assert want in manifest, want
        assert os.path.getsize(os.path.join(out_dir, want)) > 0
    assert "board.py" in manifest and "main.py" in manifest


def test_mpy_version_matches_interpreter(staged):
    out_dir, manifest = staged
    major, sub = toolchain.interpreter_mpy()
    mpys = [r for r in manifest if r.endswith(".mpy")]
    assert mpys
    for rel in mpys:
        with open(os.path.join(out_dir, rel), "rb") as f:
            hdr = f.read(4)
        assert hdr[0:1] == b"M", rel
        assert hdr[1] == major, (rel, hdr[1], major)
        if hdr[2] >> 2:  # native code: the arch byte also carries the ABI sub-version
            assert hdr[2] & 3 == sub, (rel, hdr[2])


def test_staged_tree_boots_on_unix_port(staged, tmp_path):
    out_dir, _ = staged
    env = dict(
        os.environ,
        MICROPYPATH=out_dir + ":.frozen",
        IHD_NCP="tcp:127.0.0.1:1",  # nothing listens: the app must keep running anyway
        IHD_FLASH=str(tmp_path / "flash.img"),
        IHD_DISPLAY="none",
    )
    p = subprocess.Popen(
        [paths.micropython_exe(), os.path.join(out_dir, "main.py")],
        cwd=str(tmp_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = p.communicate(timeout=4)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    assert "IHD firmware" in out, out
    assert p.returncode is not None and p.returncode <= 0, (
        p.returncode,
        out,
    )  # killed, not crashed


def test_dry_run_prints_plan():
    p = subprocess.run(
        [sys.executable, "-m", "host_tools.flash", "--board", "esp32s3_st7789"]
        + ["--port", "/dev/null", "--dry-run"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "plan:" in p.stdout and "then reset" in p.stdout
    assert "copy main.py" in p.stdout and "copy board.py" in p.stdout
    assert "dry run: no device touched" in p.stdout
    assert "mpremote connect /dev/null" in p.stdout
