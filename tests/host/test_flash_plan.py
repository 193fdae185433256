# `make flash` copies only changed files (host_tools/flash.py): the board's files are read by
# one `mpremote exec` of flash.HASH_SCRIPT ("@@sha <sha256> <path>" per file, recursing, the
# board's /flash storage left alone), the plan is the staged files whose hash differs plus the
# .py files that would shadow a staged .mpy, and the deploy prints a line per file. No hardware:
# the hash script runs on the MicroPython unix port, and a stand-in mpremote (FAKE_MPREMOTE)
# does what mpremote would to a directory that plays the board. --dry-run never writes.
import hashlib
import os
import shutil
import stat
import sys

import pytest

from host_tools import cli, flash, paths

FAKE_MPREMOTE = r"""#!%(python)s
# mpremote stand-in: "connect PORT cmd... + cmd..." on the directory $FAKE_BOARD.
import os, shutil, subprocess, sys
board = os.environ["FAKE_BOARD"]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:3]) + "\n")
args = sys.argv[1:]
assert args[0] == "connect"
if os.environ.get("FAKE_UNREACHABLE"):
    print("mpremote: failed to access %%s (it may be in use by another program)" %% args[1])
    sys.exit(1)
steps, cur = [], []
for a in args[2:]:
    if a == "+":
        steps.append(cur)
        cur = []
    else:
        cur.append(a)
steps.append(cur)
for st in steps:
    if st[0] == "exec":
        p = subprocess.run([%(micropython)r, "-c", st[1]], cwd=board, capture_output=True,
                           text=True)
        sys.stdout.write(p.stdout)
        if p.returncode:
            sys.stderr.write(p.stderr)
            sys.exit(1)
    elif st[:2] == ["fs", "cp"]:
        src, dst = [a for a in st[2:] if a != "-f"]
        print("cp %%s %%s" %% (src, dst), flush=True)
        if os.environ.get("FAKE_FAIL_AT") == dst:
            print("mpremote: cp: could not write %%s" %% dst)
            sys.exit(1)
        shutil.copyfile(src, os.path.join(board, dst[1:]))
    elif st[:2] == ["fs", "rm"]:
        print("rm %%s" %% st[2])
        os.remove(os.path.join(board, st[2][1:]))
    elif st == ["reset"]:
        pass
    else:
        sys.exit("fake mpremote: unknown step %%r" %% st)
"""


def _sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _tree(root):
    out = {}
    for base, _, files in os.walk(root):
        for f in files:
            p = os.path.join(base, f)
            out[os.path.relpath(p, root)] = _sha(p)
    return out


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    out_dir, manifest = flash.stage("unix", str(tmp_path_factory.mktemp("stage") / "unix"))
    return out_dir, manifest


@pytest.fixture
def board(tmp_path, monkeypatch, staged):
    # flash.main against a directory that plays the board, through the fake mpremote
    exe = tmp_path / "mpremote"
    exe.write_text(FAKE_MPREMOTE % {"python": sys.executable,
                                    "micropython": paths.micropython_exe()})  # fmt: skip
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    dev = tmp_path / "board"
    dev.mkdir()
    log = tmp_path / "mpremote.log"
    log.write_text("")
    monkeypatch.setenv("FAKE_BOARD", str(dev))
    monkeypatch.setenv("FAKE_LOG", str(log))
    real = flash._venv_exe
    monkeypatch.setattr(flash, "_venv_exe", lambda n: str(exe) if n == "mpremote" else real(n))
    monkeypatch.setattr(flash, "stage", lambda b, out_dir=None: staged)  # staged once
    return dev, log


# ---------------- the pieces ----------------


def test_hash_script_walks_the_tree_on_micropython(tmp_path, staged):
    # the device side, run on the unix port in a copy of the staged tree
    import subprocess

    out_dir, manifest = staged
    dev = tmp_path / "dev"
    shutil.copytree(out_dir, dev)
    (dev / "flash").mkdir()  # the board's storage: never read
    (dev / "flash" / "history.bin").write_bytes(b"\0" * 5000)
    (dev / "big.bin").write_bytes(bytes(range(256)) * 9)  # more than one 512-byte read
    p = subprocess.run([paths.micropython_exe(), "-c", flash.hash_script()], cwd=str(dev),
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert p.returncode == 0, p.stderr
    got = flash.parse_hashes(p.stdout)
    want = dict(manifest, **{"big.bin": _sha(dev / "big.bin")})
    assert got == want
    assert flash.plan(manifest, got) == []


def test_parse_hashes():
    h = "ab" * 32
    text = "\n".join(
        [
            "noise from boot.py",
            "@@sha %s main.py" % h,
            "@@sha %s ihd/dir with space/x.mpy" % h.upper(),
            "@@sha - nohash.py",
            "@@sha 1234 short.py",  # not a hash: ignored
            "@@sha",
            "@@end",
        ]
    )
    assert flash.parse_hashes(text) == {
        "main.py": h,
        "ihd/dir with space/x.mpy": h,
        "nohash.py": "-",
    }
    assert flash.parse_hashes("@@sha %s main.py\n" % h) is None  # cut short: no @@end
    assert flash.parse_hashes("@@end\n") == {}  # an empty board


def test_plan_and_shadowed():
    manifest = {"main.py": "1", "board.py": "2", "ihd/app.mpy": "3", "ihd/x.mpy": "4"}
    remote = {"main.py": "1", "board.py": "old", "ihd/app.py": "9", "ihd/app.mpy": "3",
              "notes.txt": "5", "ihd/other.py": "6", "nohash.mpy": "-"}  # fmt: skip
    assert flash.plan(manifest, remote) == ["board.py", "ihd/x.mpy"]
    assert flash.shadowed(manifest, remote) == ["ihd/app.py"]
    assert flash.plan(manifest, {}) == sorted(manifest)


def test_mpremote_commands():
    cmd = flash.mpremote_commands("/dev/ttyACM0", "/stage", ["a/b/c.mpy", "main.py"], ["a/x.py"])
    assert cmd[1:3] == ["connect", "/dev/ttyACM0"]
    steps = " ".join(cmd[3:]).split(" + ")
    assert "['a', 'a/b']" in steps[0] and steps[0].startswith("exec")
    assert steps[1:] == [
        "fs cp -f /stage/a/b/c.mpy :a/b/c.mpy",
        "fs cp -f /stage/main.py :main.py",
        "fs rm :a/x.py",
        "reset",
    ]


def test_check_port(tmp_path):
    with pytest.raises(cli.CliError, match="does not exist"):
        flash.check_port(str(tmp_path / "ttyACM9"))
    flash.check_port("/dev/null")  # exists
    flash.check_port("a0")  # an mpremote shortcut: left to mpremote


# ---------------- the whole flow on a stand-in board ----------------


def test_deploy_copies_only_changed_files(board, staged, capsys):
    dev, log = board
    out_dir, manifest = staged
    n = len(manifest)
    assert flash.main(["--board", "unix", "--port", "fake0"]) == 0
    out = capsys.readouterr().out
    assert "plan: %d of %d files to copy, then reset" % (n, n) in out
    assert "  [1/%d] " % n in out and "  [%d/%d] " % (n, n) in out
    assert "deployed %d files to fake0" % n in out
    assert _tree(dev) == manifest

    # nothing changed: nothing copied
    assert flash.main(["--board", "unix", "--port", "fake0"]) == 0
    out = capsys.readouterr().out
    assert "plan: 0 of %d files to copy, then reset" % n in out and "[1/" not in out

    # one file changed, a stale source shadowing a .mpy, the board's own storage
    (dev / "ihd" / "app.mpy").write_bytes(b"old")
    (dev / "ihd" / "app.py").write_text("print('stale')\n")
    (dev / "flash").mkdir()
    (dev / "flash" / "config.json").write_text("{}")
    (dev / "user.txt").write_text("mine")
    assert flash.main(["--board", "unix", "--port", "fake0"]) == 0
    out = capsys.readouterr().out
    assert "plan: 1 of %d files to copy, 1 to remove, then reset" % n in out
    assert "  copy ihd/app.mpy" in out and "  remove ihd/app.py (would shadow ihd/app.mpy)" in out
    assert "  [1/1] ihd/app.mpy" in out
    assert not (dev / "ihd" / "app.py").exists()
    assert _sha(dev / "ihd" / "app.mpy") == manifest["ihd/app.mpy"]
    assert (dev / "flash" / "config.json").read_text() == "{}"  # untouched
    assert (dev / "user.txt").read_text() == "mine"  # not ours: left alone


def test_dry_run_never_touches_the_board(board, staged, capsys):
    dev, log = board
    (dev / "main.py").write_text("old")
    before = _tree(dev)
    assert flash.main(["--board", "unix", "--port", "fake0", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "dry run: no device touched" in out and "copy main.py" in out
    assert log.read_text() == ""  # mpremote never ran: the board is neither read nor written
    assert _tree(dev) == before
    # without a port too
    assert flash.main(["--board", "unix", "--dry-run"]) == 0
    assert "mpremote connect <PORT>" in capsys.readouterr().out and log.read_text() == ""


def test_unreachable_board_is_one_line(board, monkeypatch, capsys):
    dev, log = board
    monkeypatch.setenv("FAKE_UNREACHABLE", "1")
    assert flash.main(["--board", "unix", "--port", "fake0"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "flash: error: cannot read the board's files on fake0" in err
    assert "failed to access fake0" in err and os.listdir(dev) == []


def test_failed_copy_is_one_line(board, monkeypatch, capsys):
    dev, log = board
    monkeypatch.setenv("FAKE_FAIL_AT", ":ihd/app.mpy")
    assert flash.main(["--board", "unix", "--port", "fake0"]) == 1
    cap = capsys.readouterr()
    assert cap.err.count("\n") == 1 and "deploying to fake0 failed at file" in cap.err
    assert "could not write :ihd/app.mpy" in cap.err and "Traceback" not in cap.err
