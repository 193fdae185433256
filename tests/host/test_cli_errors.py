# Every host CLI behaves like a good CLI tool (issue 15, host tools; host_tools/cli.py): --help
# exits 0; a bad input is ONE non-empty line on stderr and a non-zero exit, never a traceback;
# a closed stdout pipe ends a tool quietly. Each case is one a user ran into: toolchain --help,
# missing files (history export, ota inspect), bad scenarios and --until (simulate, run,
# hansim), a serial port that does not exist (flash, ota apply), `export | head -1`, ota inspect
# of a bad file, the ota apply progress bar, simulate's progress and hansim's orderly stop.
# All fast: no test runs a long simulation, and the bad-scenario cases fail before anything
# starts.
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from host_tools import cli, paths, run, simulate
from host_tools.ota import cli as ota_cli

PY = sys.executable


def _run(*args, stdin=subprocess.DEVNULL, timeout=120):
    return subprocess.run(
        [PY, "-m", *args],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        stdin=stdin,
        timeout=timeout,
    )


def assert_one_line_error(p, *words):
    # exactly one non-empty line on stderr, non-zero exit, no traceback
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert p.returncode != 0, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr + p.stdout, p.stderr
    assert len(lines) == 1, p.stderr
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


# ---------------- --help everywhere ----------------

HELP = [
    ("host_tools.toolchain",),
    ("host_tools.toolchain", "check"),
    ("host_tools.simulate",),
    ("host_tools.run",),
    ("host_tools.hansim",),
    ("host_tools.history",),
    ("host_tools.history", "export"),
    ("host_tools.ota",),
    ("host_tools.ota", "build"),
    ("host_tools.ota", "inspect"),
    ("host_tools.ota", "apply"),
    ("host_tools.ota", "keygen"),
    ("host_tools.flash",),
    ("host_tools.screens",),
    ("host_tools.fonts",),
    ("host_tools.bench",),
    ("host_tools.bench_ram",),
    ("host_tools.upy32",),
]


@pytest.mark.parametrize("argv", HELP, ids=[" ".join(a).replace("host_tools.", "") for a in HELP])
def test_help_exits_0(argv):
    p = _run(*argv, "--help", timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage:"), p.stdout
    assert "Traceback" not in p.stderr


def test_simulate_help_names_the_default_speed():
    p = _run("host_tools.simulate", "--help")
    assert "default 600" in p.stdout and simulate.DEFAULT_SPEED == 600


# ---------------- 1. toolchain ----------------


@pytest.mark.parametrize("argv", [[], ["bogus"]], ids=["none", "bogus"])
def test_toolchain_usage_errors(argv):
    p = _run("host_tools.toolchain", *argv)
    assert_one_line_error(p, "error")
    assert p.returncode == 2


# ---------------- 2. missing and garbage files ----------------


def test_history_export_missing_file(tmp_path):
    p = _run("host_tools.history", "export", str(tmp_path / "missing.img"))
    assert_one_line_error(p, "missing.img", "no such file")


def test_history_export_not_an_image(tmp_path):
    bad = tmp_path / "garbage.img"
    bad.write_bytes(b"not littlefs" * 1000)
    p = _run("host_tools.history", "export", str(bad))
    assert_one_line_error(p, "garbage.img", "not a littlefs image")


def test_history_export_empty_directory(tmp_path):
    assert_one_line_error(_run("host_tools.history", "export", str(tmp_path)), "no images")


def test_ota_inspect_missing_file(tmp_path):
    p = _run("host_tools.ota", "inspect", str(tmp_path / "missing.ota"))
    assert_one_line_error(p, "missing.ota")


# ---------------- 3. bad scenarios; hansim's error shown ----------------


@pytest.fixture
def bad_scenarios(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"start": ')
    invalid = tmp_path / "invalid.json"
    invalid.write_text(json.dumps({"start": "2026-01-15T06:00:00Z", "meters": []}))
    return {
        "missing": (str(tmp_path / "missing.json"), "not found"),
        "unknown_name": ("no_such_scenario", "not found"),
        "bad_json": (str(bad_json), "invalid JSON"),
        "invalid": (str(invalid), "meters"),
        "directory": (str(tmp_path), "directory"),
    }


@pytest.mark.parametrize("case", ["missing", "unknown_name", "bad_json", "invalid", "directory"])
def test_simulate_bad_scenario_fails_before_starting(case, bad_scenarios, tmp_path):
    scn, word = bad_scenarios[case]
    out = tmp_path / "out"
    t = time.monotonic()
    p = _run("host_tools.simulate", "--scenario", scn, "--until", "6h", "--out", str(out))
    assert_one_line_error(p, "--scenario", word)
    assert not out.exists()  # nothing started: no hansim, no firmware, no output directory
    assert time.monotonic() - t < 30


def test_run_bad_scenario_fails_before_starting(bad_scenarios):
    p = _run("host_tools.run", "--scenario", bad_scenarios["bad_json"][0])
    assert_one_line_error(p, "--scenario", "invalid JSON")


def test_hansim_bad_scenario(bad_scenarios):
    p = _run("host_tools.hansim", "--scenario", bad_scenarios["invalid"][0])
    assert_one_line_error(p, "meters")


def test_run_shows_why_hansim_did_not_start(bad_scenarios, tmp_path):
    # past the up-front check (e.g. a file changed meanwhile): hansim's own error, from its
    # stderr (kept in hansim.log), not "hansim did not start: ''"
    log = tmp_path / "hansim.log"
    with pytest.raises(cli.CliError) as e:
        run.start_hansim(bad_scenarios["bad_json"][0], 60, log_path=str(log))
    msg = str(e.value)
    assert "hansim did not start" in msg and "invalid JSON" in msg and str(log) in msg
    assert "\n" not in msg
    with pytest.raises(cli.CliError, match="invalid JSON"):  # no log file asked for
        run.start_hansim(bad_scenarios["bad_json"][0], 60)


def test_simulation_shows_why_hansim_did_not_start(bad_scenarios, tmp_path):
    sim = simulate.Simulation(bad_scenarios["missing"][0], str(tmp_path / "out"))
    with pytest.raises(simulate.SimulationError, match="hansim did not start: .*not found"):
        sim.start_hansim()
    sim.stop()


# ---------------- 4. bad --until, --speed ----------------


@pytest.mark.parametrize(
    "args, words",
    [
        (["--until", "banana"], ["--until", "banana"]),
        (["--until", ""], ["--until"]),
        (["--until", "2020-01-01T00:00:00Z"], ["not after the scenario's start"]),
        (["--until", "6h", "--reboot-at", "soon"], ["--reboot-at", "soon"]),
        (["--until", "6h", "--speed", "0"], ["--speed"]),
        (["--until", "6h", "--speed", "fast"], ["--speed"]),
    ],
    ids=["banana", "empty", "before_start", "reboot_at", "speed_0", "speed_word"],
)
def test_simulate_bad_times(args, words, tmp_path):
    out = tmp_path / "out"
    p = _run("host_tools.simulate", *args, "--out", str(out))
    assert_one_line_error(p, *words)
    assert p.returncode == 2 and not out.exists()


def test_until_arg_accepts_durations_and_iso():
    for ok in ("6h", "90m", "+2h30m", "1d2h", "3600s", "2026-01-15T12:00:00Z"):
        assert simulate.until_arg(ok) == ok
    assert simulate.parse_until("1h30m", 100) == 100 + 5400


# ---------------- 5. a serial port that does not exist ----------------


def test_flash_nonexistent_port():
    p = _run("host_tools.flash", "--board", "unix", "--port", "/dev/nonexistent")
    assert_one_line_error(p, "/dev/nonexistent", "does not exist")


def test_flash_deploy_needs_a_port():
    assert_one_line_error(_run("host_tools.flash", "--board", "unix"), "--port")


def test_ota_apply_nonexistent_port(tmp_path):
    f = _ota_file(tmp_path)
    p = _run("host_tools.ota", "apply", str(f), "--port", "/dev/nonexistent")
    assert_one_line_error(p, "/dev/nonexistent", "does not exist")


# ---------------- 6. a closed pipe ----------------


@pytest.fixture(scope="module")
def flash_image(tmp_path_factory):
    from tests.host.test_history_export import _build

    img, rows = _build(tmp_path_factory.mktemp("img"))
    assert rows
    return img


def _closed_stdout(*args):
    # the tool's stdout is a pipe whose reader is already gone (as `| head -1` after its line)
    p = subprocess.Popen([PY, "-m", *args], cwd=paths.ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)  # fmt: skip
    assert p.stdout is not None and p.stderr is not None
    p.stdout.close()
    err = p.stderr.read().decode()
    return p.wait(timeout=120), err


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_history_export_into_a_closed_pipe(flash_image, fmt):
    rc, err = _closed_stdout("host_tools.history", "export", flash_image, "--format", fmt)
    assert err == "" and rc == 1, err


def test_history_export_head_1(flash_image):
    # the user's pipeline, as the shell runs it
    p = subprocess.run(
        "%s -m host_tools.history export %s | head -1" % (PY, flash_image),
        shell=True, cwd=paths.ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert p.stdout.startswith("meter,fuel,") and p.stdout.count("\n") == 1
    assert p.stderr == "", p.stderr


def test_ota_inspect_into_a_closed_pipe(tmp_path):
    rc, err = _closed_stdout("host_tools.ota", "inspect", str(_ota_file(tmp_path)))
    assert err == "" and rc == 1, err


def test_main_guard_tells_a_closed_stdout_from_other_broken_pipes(capsys):
    def boom():
        raise BrokenPipeError(32, "Broken pipe")  # e.g. a socket to a subprocess, not stdout

    assert cli.main_guard(boom, "tool") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tool: error: Broken pipe" in err


def test_main_guard_exit_codes(capsys):
    def code(c):
        return lambda: c

    def raises(e):
        def f():
            raise e

        return f

    assert cli.main_guard(code(None), "t") == 0 and cli.main_guard(code(3), "t") == 3
    assert cli.main_guard(raises(SystemExit(0)), "t") == 0
    assert cli.main_guard(raises(SystemExit(2)), "t") == 2
    assert cli.main_guard(raises(SystemExit("line one\nlast line")), "t") == 1
    assert cli.main_guard(raises(cli.CliError("bad thing", 4)), "t") == 4
    assert cli.main_guard(raises(FileNotFoundError(2, "No such file", "x.img")), "t") == 1
    assert cli.main_guard(raises(KeyboardInterrupt()), "t") == 130
    assert cli.main_guard(raises(ValueError("v")), "t", expected=(ValueError,)) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == ["t: error: last line", "t: error: bad thing", "t: error: x.img: No such file",
                   "t: error: interrupted", "t: error: v"]  # fmt: skip
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        cli.main_guard(lambda: 1 // 0, "t")


# ---------------- 7. ota inspect of a bad file exits non-zero ----------------


def _ota_file(tmp_path, name="fw.ota", sign=None):
    tree = tmp_path / "tree"
    tree.mkdir(exist_ok=True)
    (tree / "main.py").write_text("print('hello')\n")
    out = tmp_path / name
    argv = ["build", "--version", "0.2.0.0", "--out", str(out), "--files", str(tree)]
    argv += ["--sign", sign] if sign else []
    assert ota_cli.main(argv) == 0
    return out


def test_ota_inspect_bad_sha256_exits_nonzero(tmp_path):
    data = bytearray(_ota_file(tmp_path).read_bytes())
    data[100] ^= 1  # inside the upgrade image: the SHA-256 element no longer matches
    bad = tmp_path / "bad.ota"
    bad.write_bytes(bytes(data))
    p = _run("host_tools.ota", "inspect", str(bad))
    assert "SHA-256 element: BAD" in p.stdout
    assert_one_line_error(p, "refused", "SHA-256")


def test_ota_inspect_bad_signature_exits_nonzero(tmp_path):
    key = os.path.join(paths.TESTS, "ota_keys", "ota-test-p256.pem")
    pub = os.path.join(paths.TESTS, "ota_keys", "ota-test-p256.pub.pem")
    good = _ota_file(tmp_path, sign=key)
    assert _run("host_tools.ota", "inspect", str(good), "--trust", pub).returncode == 0
    data = bytearray(good.read_bytes())
    data[-10] ^= 0x40  # inside the signature
    bad = tmp_path / "badsig.ota"
    bad.write_bytes(bytes(data))
    p = _run("host_tools.ota", "inspect", str(bad), "--trust", pub)
    assert "signature: BAD" in p.stdout
    assert_one_line_error(p, "refused", "bad signature")


# ---------------- 8. the ota apply progress bar ----------------

_DEVICE = r"""
import sys
size = 10000
print("@@ota stage 4096 10000")
print("I ota: a log line in the middle")
print("@@ota stage 8192 10000")
print("@@ota stage 9900 10000")
print("@@ota verified 0x00020000")
print("@@ota result True verified 0.2.0.0")
"""


def test_apply_progress_bar_ends_at_100_before_other_output(capsys):
    assert ota_cli._follow([PY, "-c", _DEVICE]) == 0
    out = capsys.readouterr().out
    lines = out.split("\n")
    # the log line starts a line of its own, the bar goes on below it
    assert lines[0].endswith("40%") and lines[1] == "I ota: a log line in the middle"
    assert lines[2].endswith("] 100%") and "99%" in lines[2]  # ended at 100%, then newline
    assert lines[3:] == ["verified 0x00020000", "verified 0.2.0.0", ""]


def test_apply_without_a_result_is_one_line(capsys):
    rc = ota_cli.main(["apply", "x"])  # no such file: before anything runs
    assert rc == 1
    with pytest.raises(ota_cli.FF.OtaFormatError, match="gave no result.*no board here"):
        ota_cli._follow([PY, "-c", "print('no board here'); raise SystemExit(1)"], what="board")


# ---------------- 9. simulate: progress, default speed, orderly stop ----------------


class _FakeCtl:
    def __init__(self):
        self.status = {"counters": {"from_devices": 0}, "events_fired": 0, "events_pending": 2}

    def call(self, cmd):
        assert cmd == "status"
        return self.status


class _FakeSim:
    def __init__(self, out):
        self.out = str(out)
        self.ctl = _FakeCtl()
        self.boots = 1


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_lines(tmp_path):
    sim = _FakeSim(tmp_path)
    (tmp_path / "log.txt").write_text("1 I app: fine\n2 E sup: task x crashed\n")
    buf = io.StringIO()
    pr = simulate.Progress(sim, 1000, 1000 + 6 * 3600, out=buf, period_s=0)
    sim.ctl.status.update(counters={"from_devices": 412}, events_fired=1)
    pr(1000 + 5400)
    line = buf.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    assert "+1h30m of 6h00m (25%" in line and "412 meter frames" in line
    assert "events 1/3" in line and "boots 1" in line and "errors 1" in line
    with open(tmp_path / "log.txt", "a") as f:
        f.write("3 E app: Traceback (most recent call last):\n")
    pr.end(1000 + 6 * 3600)
    assert "(100%" in buf.getvalue().splitlines()[-1] and "errors 2" in buf.getvalue()


def test_progress_is_rate_limited_and_one_line_on_a_tty(tmp_path):
    sim = _FakeSim(tmp_path)
    tty = _Tty()
    pr = simulate.Progress(sim, 0, 3600, out=tty)
    for t in range(0, 3600, 60):
        pr(t)  # many checks within a fraction of a second: one update
    pr.end(3600)
    text = tty.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    plain = io.StringIO()
    pr = simulate.Progress(sim, 0, 3600, out=plain)
    for t in range(0, 3600, 60):
        pr(t)
    assert plain.getvalue() == ""  # the first line comes after period_s (5 s) of real time


def test_hansim_stops_orderly_with_a_control_client(tmp_path):
    # SIGINT with a control connection open: no CancelledError traceback in its log
    p = subprocess.Popen([PY, "-m", "host_tools.hansim", "--control", "127.0.0.1:0"],
                         cwd=paths.ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)  # fmt: skip
    assert p.stdout is not None
    line = p.stdout.readline()
    host, _, port = line.split("control ")[1].strip().rpartition(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    f = s.makefile("rw")
    f.write('{"cmd": "time"}\n')
    f.flush()
    assert json.loads(f.readline())["ok"]
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=20)
    s.close()
    assert p.returncode == 0, err
    assert "Traceback" not in err and "CancelledError" not in err, err


def test_simulate_short_run_progress_and_clean_hansim_log(tmp_path):
    # a short run (10 simulated minutes at the default speed, about a second): the final
    # progress line on stderr, the summary on stdout, hansim.log without a traceback
    out = tmp_path / "sim"
    p = _run("host_tools.simulate", "--until", "10m", "--out", str(out), "--config", "pico",
             timeout=180)  # fmt: skip
    assert p.returncode == 0, p.stdout + p.stderr
    assert "simulation finished" in p.stdout
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("sim ") and "+10m of 10m (100%" in last and "errors 0" in last
    log = (out / "hansim.log").read_text()
    assert "Traceback" not in log and "CancelledError" not in log, log
