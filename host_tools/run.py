# `make run`: the live demo. Starts hansim with a scenario (fast-forward) and the firmware on the
# MicroPython unix port wired to it, with the IHD screen drawn in this terminal. Ctrl-C (or q)
# stops both processes cleanly.
import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from host_tools import paths
from host_tools.ota import signing
from host_tools.simulate import BUDGETS, add_board_args, main_script


def start_hansim(scenario, speed, extra=()):
    # -> (process, "tcp:HOST:PORT"); hansim prints one "listening" line when ready.
    cmd = [sys.executable, "-m", "host_tools.hansim", "--scenario", scenario]
    cmd += ["--tcp", "127.0.0.1:0", "--speed", str(speed)] + list(extra)
    p = subprocess.Popen(
        cmd, cwd=paths.ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert p.stdout is not None
    line = p.stdout.readline()
    if "listening" not in line:
        p.kill()
        raise SystemExit("hansim did not start: %r" % line)
    addr = line.split()[-1]
    return p, "tcp:" + addr


def firmware_env(ncp, flash_img, display, extra=None, interp=None):
    env = dict(os.environ)
    env.update(
        MICROPYPATH=(interp or paths.interpreter()).micropypath(),
        IHD_NCP=ncp,
        IHD_FLASH=flash_img,
        IHD_DISPLAY=display,
    )
    env.update(extra or {})
    return env


def main(argv=None):
    ap = argparse.ArgumentParser(description="run the IHD demo against the HAN simulator")
    ap.add_argument("--scenario", default="default")
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--flash", help="littlefs image to use (default: a fresh temporary one)")
    add_board_args(ap, ["pico", "colour"], "colour")
    args = ap.parse_args(argv)
    interp = paths.interpreter(args.interpreter)
    cmd = [interp.exe]
    if args.interpreter != "unix64":  # the board's RAM budget (docs/boards.md)
        cmd += ["-X", "heapsize=" + BUDGETS[args.config]]
    tmp = tempfile.mkdtemp(prefix="ihd-run-")
    flash_img = args.flash or os.path.join(tmp, "flash.img")
    hansim = None
    if os.path.exists(os.path.join(paths.ROOT, "host_tools", "hansim", "__main__.py")):
        hansim, ncp = start_hansim(args.scenario, args.speed)
    else:
        ncp = "tcp:127.0.0.1:1"
    env = firmware_env(
        ncp,
        flash_img,
        "term",
        {
            "IHD_PANELS": "mono" if args.config == "pico" else "colour",
            "IHD_LOG": os.path.join(tmp, "log.txt"),
            "IHD_TIME_SCALE": str(int(args.speed)),
            # the device trusts this checkout's dev key (a scenario's `"sign": "dev"` update)
            "IHD_OTA_KEYS": signing.dev_pub_file(),
            # MicroPython cannot ask the terminal its size; the screen is scaled to fit it
            "COLUMNS": str(shutil.get_terminal_size().columns),
            "LINES": str(shutil.get_terminal_size().lines),
        },
        interp,
    )
    cmd.append(main_script(tmp))
    fw = None
    saved_tty = None
    if sys.stdin.isatty():
        # keys reach the firmware one by one, unechoed (MicroPython's unix build cannot set
        # the terminal mode itself); Ctrl-C still interrupts
        import termios
        import tty

        saved_tty = termios.tcgetattr(sys.stdin.fileno())
        tty.setcbreak(sys.stdin.fileno())
    try:
        while True:
            fw = subprocess.Popen(
                cmd,
                cwd=tmp,
                env=env,
            )
            if fw.wait() != 3:  # 3: the device reset itself (firmware update): start again
                break
    except KeyboardInterrupt:
        pass
    finally:
        for p in (fw, hansim):  # noqa: B007
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGINT)
                try:
                    p.wait(timeout=3)
                except subprocess.TimeoutExpired:
                    p.kill()
        if saved_tty is not None:
            import termios

            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved_tty)
        if sys.stdout.isatty():
            sys.stdout.write("\x1b[0m\x1b[2J\x1b[H\x1b[?25h")  # reset colours, clear, cursor on
        print("stopped; log and flash image in %s" % tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
