# `make run`: the live demo. Starts hansim with a scenario (fast-forward) and the firmware on the
# MicroPython unix port wired to it, with the IHD screen drawn in this terminal. Ctrl-C (or q)
# stops both processes cleanly. hansim's stderr goes to hansim.log beside the run's log and
# flash image; a bad --scenario, or hansim failing to start, is one line on stderr.
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from host_tools import cli, paths
from host_tools.ota import signing
from host_tools.simulate import BUDGETS, add_board_args, load_scenario, main_script, speed_arg


def start_hansim(scenario, speed, extra=(), log_path=None):
    # -> (process, "tcp:HOST:PORT"); hansim prints one "listening" line when ready. Its stderr
    # goes to log_path (else an anonymous temporary file); if it does not start, the last line
    # it wrote there is the one-line error (cli.CliError).
    cmd = [sys.executable, "-m", "host_tools.hansim", "--scenario", scenario]
    cmd += ["--tcp", "127.0.0.1:0", "--speed", str(speed)] + list(extra)
    log = open(log_path, "w+") if log_path else tempfile.TemporaryFile("w+")  # noqa: SIM115
    with log:
        p = subprocess.Popen(cmd, cwd=paths.ROOT, stdout=subprocess.PIPE, stderr=log, text=True)
        assert p.stdout is not None
        line = p.stdout.readline()
        if "listening" not in line:
            try:  # let it finish writing its error
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
            log.seek(0)
            why = cli.one_line(log.read()[-8192:]) or cli.one_line(line) or "no output"
            where = " (log: %s)" % log_path if log_path else ""
            cli.fail("hansim did not start: %s%s" % (why, where))
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


@cli.guarded("run")
def main(argv=None):
    ap = cli.ArgumentParser(
        prog="python -m host_tools.run", description="run the IHD demo against the HAN simulator"
    )
    ap.add_argument("--scenario", default="default", help="built-in name or JSON path")
    ap.add_argument("--speed", type=speed_arg, default=60.0, help="simulated s per real s")
    ap.add_argument("--flash", help="littlefs image to use (default: a fresh temporary one)")
    add_board_args(ap, ["pico", "colour"], "colour")
    args = ap.parse_args(argv)
    from host_tools.hansim.scenario import ScenarioError

    try:  # before anything starts (the terminal is not yet taken over)
        scenario, _ = load_scenario(args.scenario)
    except (ScenarioError, OSError, UnicodeDecodeError) as e:
        cli.fail("--scenario: %s" % cli.describe(e))
    from host_tools.upy32 import Upy32Error  # needs the checkout: imported once it is known

    try:
        interp = paths.interpreter(args.interpreter)
    except Upy32Error as e:  # the 32-bit interpreter could not be built
        cli.fail("--interpreter %s: %s" % (args.interpreter, cli.one_line(e)))
    cmd = [interp.exe]
    if args.interpreter != "unix64":  # the board's RAM budget (docs/boards.md)
        cmd += ["-X", "heapsize=" + BUDGETS[args.config]]
    tmp = tempfile.mkdtemp(prefix="ihd-run-")
    flash_img = args.flash or os.path.join(tmp, "flash.img")
    hansim = None
    if os.path.exists(os.path.join(paths.ROOT, "host_tools", "hansim", "__main__.py")):
        hansim, ncp = start_hansim(scenario, args.speed, log_path=os.path.join(tmp, "hansim.log"))
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
