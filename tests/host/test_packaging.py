# `pip install .` gives working ihd-* commands. The package is built from a copy of what it is
# made of (pyproject.toml, README.md, host_tools/) in tmp_path, so the build's build/ and
# *.egg-info never land in the checkout, and installed (not editable, --no-deps, setuptools from
# the dev venv: offline) into a fresh venv that sees the dev venv's packages as its site
# packages. The commands then run outside any checkout: each --help, ihd-hansim serving a
# built-in scenario (package data), ihd-ota keygen/build/inspect; the tools that need the checkout
# say so in one line, and find it through IHD_CHECKOUT. Also: the dependencies pyproject.toml
# declares cover every third-party module host_tools imports, and requirements.txt's pins
# satisfy them.
import ast
import glob
import importlib.metadata
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from host_tools import paths

with open(os.path.join(paths.ROOT, "pyproject.toml"), "rb") as _f:
    PYPROJECT = tomllib.load(_f)
COMMANDS = sorted(PYPROJECT["project"]["scripts"])


def _requirements():
    out = {}
    with open(os.path.join(paths.ROOT, "requirements.txt")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("-"):
                r = Requirement(line)
                out[canonicalize_name(r.name)] = r
    return out


@pytest.fixture(scope="module")
def venv(tmp_path_factory):
    # -> (tmp dir, bin dir, env for running the commands outside a checkout)
    tmp = tmp_path_factory.mktemp("pkg")
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(paths.ROOT, name), src / name)
    shutil.copytree(
        os.path.join(paths.ROOT, "host_tools"),
        src / "host_tools",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    junk_before = _checkout_junk()
    env_dir = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True)
    py = str(env_dir / "bin" / "python")
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dev venv's packages (dependencies, pip, setuptools) as this venv's site packages
    with open(os.path.join(site, "_ihd_dev_site.pth"), "w") as f:
        f.write("import site; site.addsitedir(%r)\n" % sysconfig.get_paths()["purelib"])
    p = subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "--no-index"]
        + [str(src)],
        capture_output=True,
        text=True,
        cwd=str(tmp),
        timeout=180,
    )
    assert p.returncode == 0, p.stdout + p.stderr
    assert _checkout_junk() == junk_before
    env = {k: v for k, v in os.environ.items() if k not in ("IHD_CHECKOUT", "PYTHONPATH")}
    env["PATH"] = str(env_dir / "bin") + os.pathsep + env.get("PATH", "")
    run_dir = tmp / "run"  # outside any checkout
    run_dir.mkdir()
    return run_dir, env_dir / "bin", env


def _checkout_junk():
    # what an in-tree build leaves: *.egg-info, build/lib, build/bdist.* (build/ holds caches)
    junk = glob.glob(os.path.join(paths.ROOT, "*.egg-info"))
    junk += glob.glob(os.path.join(paths.BUILD, "lib")) + glob.glob(paths.BUILD + "/bdist.*")
    return sorted(junk)


def _run(venv, *cmd, ok=True, env=None, timeout=60):
    run_dir, bindir, base_env = venv
    p = subprocess.run(
        [str(bindir / cmd[0]), *cmd[1:]],
        capture_output=True,
        text=True,
        cwd=str(run_dir),
        env=dict(base_env, **(env or {})),
        timeout=timeout,
    )
    if ok:
        assert p.returncode == 0, (cmd, p.stdout, p.stderr)
    return p


def test_installed_files(venv):
    _, bindir, _ = venv
    py = str(bindir / "python")
    code = (
        "import importlib.metadata as m, host_tools\n"
        "print(host_tools.__file__)\n"
        "for f in m.files('ihd-reference'): print(f)\n"
    )
    out = subprocess.run(
        [py, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    ).stdout.split()
    assert out[0].startswith(str(bindir.parent)), out[0]  # the installed copy, not the checkout
    files = out[1:]
    tops = {f.split("/")[0] for f in files}
    dist_info = "ihd_reference-%s.dist-info" % PYPROJECT["project"]["version"]
    assert tops == {"host_tools", dist_info, ".."}, tops  # .. is bin/
    for name in ("default", "ota_update", "prepay"):
        assert "host_tools/hansim/scenarios/%s.json" % name in files
    assert "host_tools/history/plot.py" in files
    assert {"../../../bin/" + c for c in COMMANDS} <= set(files)


@pytest.mark.parametrize("command", COMMANDS)
def test_help(venv, command):
    p = _run(venv, command, "--help")
    assert "usage:" in p.stdout


def test_hansim_serves_a_builtin_scenario(venv):
    # a built-in scenario (package data), its control channel answering, then SIGINT: exit 0
    run_dir, bindir, env = venv
    cmd = [str(bindir / "ihd-hansim"), "--scenario", "default", "--tcp", "127.0.0.1:0"]
    p = subprocess.Popen(
        cmd + ["--control", "127.0.0.1:0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=str(run_dir),
        env=env,
    )
    try:
        assert p.stdout is not None
        line = p.stdout.readline()
        m = re.match(r"hansim listening tcp 127\.0\.0\.1:\d+ control (\S+):(\d+)$", line)
        assert m, line
        with socket.create_connection((m.group(1), int(m.group(2))), timeout=10) as s:
            f = s.makefile("rw")
            f.write('{"cmd": "time"}\n')
            f.flush()
            assert json.loads(f.readline())["ok"]
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=20)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    bad = _run(venv, "ihd-hansim", "--scenario", "no_such_scenario", ok=False)
    assert bad.returncode != 0 and len(bad.stderr.strip().splitlines()) == 1, bad.stderr


def test_ota_keygen_build_inspect(venv):
    run_dir = venv[0]
    files = run_dir / "bundle"
    (files / "ihd").mkdir(parents=True)
    (files / "ihd" / "hello.py").write_text("print('hello')\n")
    (files / "board.py").write_text("HW = 1\n")
    _run(venv, "ihd-ota", "keygen", "k.pem")
    p = _run(
        venv,
        "ihd-ota",
        "build",
        "--version",
        "0.2.0.0",
        "--files",
        str(files),
        "--sign",
        "k.pem",
        "--out",
        "x.ota",
    )
    assert "signed, key id" in p.stdout and "2 files" in p.stdout, p.stdout
    p = _run(venv, "ihd-ota", "inspect", "x.ota", "--trust", "k.pub.pem")
    assert "signature: valid" in p.stdout and "ihd/hello.py" in p.stdout, p.stdout


def test_checkout_tools_say_so_in_one_line(venv):
    run_dir = venv[0]
    img = run_dir / "flash.img"
    img.write_bytes(b"\x00" * 8192)
    for cmd in (
        ("ihd-history", "export", str(img)),
        ("ihd-history", "plot", str(img), "--out", "charts"),
        ("ihd-simulate", "--until", "1m", "--out", "sim"),
        ("ihd-flash", "--board", "unix", "--dry-run"),
    ):
        p = _run(venv, *cmd, ok=False)
        lines = p.stderr.strip().splitlines()
        assert p.returncode == 1 and len(lines) == 1, (cmd, p.stderr)
        assert "needs a checkout" in lines[0] and "IHD_CHECKOUT" in lines[0], lines
    # found through IHD_CHECKOUT: the firmware's store code runs, and the image is no littlefs
    p = _run(venv, "ihd-history", "export", str(img), ok=False, env={"IHD_CHECKOUT": paths.ROOT})
    assert p.returncode == 1 and "not a littlefs image" in p.stderr, p.stderr
    assert not (run_dir / "charts").exists() and not (run_dir / "sim").exists()


def _third_party_imports():
    local = {"host_tools"}
    for d in (paths.FIRMWARE, *glob.glob(os.path.join(paths.BOARDS, "*"))):
        local |= {os.path.splitext(n)[0] for n in os.listdir(d)}
    out = {}
    for path in glob.glob(os.path.join(paths.ROOT, "host_tools", "**", "*.py"), recursive=True):
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
                names = [node.module]
            else:
                continue
            for n in names:
                top = n.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    out.setdefault(top, os.path.relpath(path, paths.ROOT))
    return out


def test_dependencies_cover_imports_and_match_pins():
    deps = {
        canonicalize_name(Requirement(d).name): Requirement(d)
        for d in PYPROJECT["project"]["dependencies"]
    }
    dists = importlib.metadata.packages_distributions()
    for module, where in sorted(_third_party_imports().items()):
        names = {canonicalize_name(n) for n in dists.get(module, [])}
        assert names & set(deps), "%s (imported in %s) is not in pyproject dependencies" % (
            module,
            where,
        )
    pins = _requirements()
    for name, req in sorted(deps.items()):
        assert name in pins, "%s: in pyproject.toml, not pinned in requirements.txt" % name
        (pin,) = pins[name].specifier
        assert pin.operator == "==", pins[name]
        assert req.specifier.contains(pin.version, prereleases=True), (str(req), str(pin))
