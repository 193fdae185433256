# Headless simulation: hansim + the firmware on the MicroPython unix port, in fast-forward.
#   python -m host_tools.simulate --scenario NAME --until 6h|2026-01-15T12:00:00Z --out DIR
#       [--interpreter unix64|unix32|unix32-frozen] [--config pico|colour|both]
# --interpreter: 64-bit from .py source, 32-bit from .mpy files (as `make flash` deploys), or
# 32-bit with the firmware frozen in (as the boards' manifests build it; docs/toolchain.md).
# --config: the Pico board's 128x64 mono panel, the ESP32-S3 board's 320x240 colour panel, or
# both (frame dumps at both sizes). The heap defaults to the configuration's budget on 32-bit.
# Leaves in DIR: han.pcap, flash.img (the device storage), log.txt, hansim.log, state.json (the
# device's view at the end), screens/ (PNG of the final frame of each screen, when the UI runs).
# Exit status 0 when the firmware ran without unhandled errors (no crashed task, no traceback).
# --speed defaults to 600 (6 simulated hours in about 36 s); progress on stderr: a line every
# few seconds (simulated time, frames from the meters, scenario events, boots, errors so far),
# one updating line on a terminal. A bad --scenario, --until or --speed is one line on stderr
# before anything starts.
import argparse
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

from host_tools import cli, paths

_ZIGBEE_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
REBOOT_EXIT = 3  # unix board's "reset": the runner starts the firmware again
_BAD_LOG = re.compile(r"crashed|unhandled in event loop|Traceback")
# Board configurations (docs/boards.md): unix board panels, and the RAM budget each must hold
# on the 32-bit build (a Pico leaves MicroPython ~190 KB; the colour framebuffer is 150 KB).
CONFIGS = {"pico": "mono", "colour": "colour", "both": "both"}
BUDGETS = {"pico": "160K", "colour": "320K", "both": "384K"}
DEFAULT_SPEED = 600.0  # the CLI's: 6 simulated hours in ~36 s (Simulation: the scenario's)


class SimulationError(RuntimeError):
    # The simulation cannot go on (hansim did not start, the firmware exited): one line.
    pass


class Control:
    # hansim's line-based JSON control channel.
    def __init__(self, addr):
        host, _, port = addr.rpartition(":")
        self.sock = socket.create_connection((host, int(port)), timeout=10)
        self.f = self.sock.makefile("rw")

    def call(self, **req):
        self.f.write(json.dumps(req) + "\n")
        self.f.flush()
        line = self.f.readline()
        if not line:
            raise SimulationError("hansim control: connection closed (hansim exited?)")
        rsp = json.loads(line)
        if not rsp.get("ok"):
            raise SimulationError("hansim control: %r -> %r" % (req, rsp))
        return rsp

    def zigbee_time(self):
        return int(self.call(cmd="time")["zigbee"])

    def close(self):
        self.sock.close()


def parse_until(text, start_zigbee):
    # "6h", "90m", "+2h30m", "3600s" relative to the start, or an ISO UTC time.
    m = re.fullmatch(r"\+?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?", text.strip())
    if m and any(m.groups()):
        d, h, mi, s = (int(x or 0) for x in m.groups())
        return start_zigbee + ((d * 24 + h) * 60 + mi) * 60 + s
    t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.timezone.utc)
    return int((t - _ZIGBEE_EPOCH).total_seconds())


def until_arg(text):
    # argparse type for --until, --reboot-at, --power-cut-at: checks the form, keeps the text
    # (a duration is relative to the start, known once the scenario is loaded).
    try:
        parse_until(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "%r is neither a duration (6h, 90m, 1d2h, 3600s) nor an ISO UTC time "
            "(2026-01-15T12:00:00Z)" % text
        ) from None
    return text


def speed_arg(text):
    try:
        v = float(text)
    except ValueError:
        v = -1.0
    if not 0 < v < float("inf"):  # also refuses nan
        raise argparse.ArgumentTypeError(
            "%r: a positive number of simulated seconds per real second" % text
        )
    return v


def load_scenario(name_or_path):
    # -> (the scenario argument to give hansim, the loaded Scenario); raises ScenarioError or
    # OSError. A path is taken from the working directory (made absolute: hansim runs from the
    # repository root); relative paths inside the scenario, as in hansim, from the root.
    from host_tools.hansim import scenario

    if os.path.exists(name_or_path):
        name_or_path = os.path.abspath(name_or_path)
    here = os.getcwd()
    os.chdir(paths.ROOT)
    try:
        return name_or_path, scenario.load(name_or_path)
    finally:
        os.chdir(here)


def add_board_args(ap, configs, default_config):
    # --interpreter and --config, the same for simulate, run and bench.
    ap.add_argument(
        "--interpreter",
        choices=paths.INTERPRETERS,
        default="unix64",
        help="64-bit .py source, 32-bit .mpy files, or 32-bit, firmware frozen",
    )
    ap.add_argument(
        "--config",
        choices=configs,
        default=default_config,
        help="pico: 128x64 mono; colour: 320x240; both: frame dumps at both sizes",
    )


def main_script(outdir):
    # main.py copied beside the run's files: MicroPython puts the script's directory first on
    # sys.path, so firmware/main.py run in place would import `ihd` from source even on the
    # frozen build.
    dst = os.path.join(outdir, "main.py")
    with open(os.path.join(paths.FIRMWARE, "main.py"), "rb") as f:
        data = f.read()
    with open(dst, "wb") as f:
        f.write(data)
    return dst


class Simulation:
    def __init__(self, scenario, out, speed=None, ezsp_version=None, corrupt=None, extra_env=None,
                 hansim_args=(), heapsize=None, interpreter="unix64", config="both",
                 ota_keys=None):  # fmt: skip
        # ota_keys: PEM public keys the device trusts for OTA images (docs/ota.md "Trust");
        # default: this checkout's development key (host_tools/ota/signing.py dev_key).
        self.scenario = scenario
        self.ota_keys = ota_keys
        self.out = os.path.abspath(out)
        self.speed = speed
        self.ezsp_version = ezsp_version
        self.corrupt = corrupt
        self.extra_env = dict(extra_env or {})
        self.hansim_args = list(hansim_args)
        if config not in CONFIGS:
            raise ValueError("config must be one of " + ", ".join(CONFIGS))
        self.config = config
        self.interp = paths.interpreter(interpreter)
        if heapsize is None and interpreter != "unix64":
            heapsize = BUDGETS[config]
        self.heapsize = heapsize
        self.hansim = None
        self.fw = None
        self.ctl = None
        self.ncp_addr = None
        self.boots = 0
        # Exit codes after which the firmware is started again, as a board resets: 3 = its own
        # reset; a test adds 1 (fatal error -> watchdog reset) to run a crash loop.
        self.restart_codes = (REBOOT_EXIT,)
        os.makedirs(self.out, exist_ok=True)

    # ---- processes ----

    def start_hansim(self):
        cmd = [sys.executable, "-m", "host_tools.hansim", "--scenario", self.scenario]
        cmd += ["--tcp", "127.0.0.1:0", "--control", "127.0.0.1:0"]
        cmd += ["--pcap", os.path.join(self.out, "han.pcap")]
        if self.speed:
            cmd += ["--speed", str(self.speed)]
        if self.ezsp_version:
            cmd += ["--ezsp-version", str(self.ezsp_version)]
        if self.corrupt:
            cmd += ["--corrupt", str(self.corrupt)]
        cmd += self.hansim_args
        log_path = os.path.join(self.out, "hansim.log")
        with open(log_path, "w") as log:
            self.hansim = subprocess.Popen(
                cmd, cwd=paths.ROOT, stdout=subprocess.PIPE, stderr=log, text=True
            )
        assert self.hansim.stdout is not None
        line = self.hansim.stdout.readline()
        m = re.search(r"listening tcp (\S+) control (\S+)", line)
        if not m:
            try:  # let it finish writing its error
                self.hansim.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.hansim.kill()
                self.hansim.wait()
            why = cli.last_line_of(log_path) or cli.one_line(line) or "no output"
            raise SimulationError("hansim did not start: %s (log: %s)" % (why, log_path))
        self.ncp_addr = m.group(1)
        self.ctl = Control(m.group(2))
        if not self.speed:
            self.speed = float(self.ctl.call(cmd="time")["speed"])

    def start_firmware(self):
        assert self.ncp_addr is not None and self.speed is not None, "start_hansim() first"
        self.boots += 1
        env = dict(os.environ)
        env.update(
            MICROPYPATH=self.interp.micropypath(),
            IHD_PANELS=CONFIGS[self.config],
            IHD_NCP="tcp:" + self.ncp_addr,
            IHD_FLASH=os.path.join(self.out, "flash.img"),
            IHD_LOG=os.path.join(self.out, "log.txt"),
            IHD_STATE=os.path.join(self.out, "state.json"),
            IHD_DISPLAY="dump:" + os.path.join(self.out, "frames"),
            IHD_TIME_SCALE=str(int(self.speed)),
            IHD_KEYS_FIFO=os.path.join(self.out, "keys.txt"),
            IHD_OTA_KEYS=self._ota_keys(),
        )
        env.update(self.extra_env)
        with open(os.path.join(self.out, "log.txt"), "a") as f:
            f.write("=== boot %d ===\n" % self.boots)
        cmd = [self.interp.exe]
        if self.heapsize:  # a board-like RAM budget for the whole firmware
            cmd += ["-X", "heapsize=" + self.heapsize]
        self.fw = subprocess.Popen(
            cmd + [main_script(self.out)],
            cwd=self.out,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=open(os.path.join(self.out, "console.txt"), "a"),  # noqa: SIM115
            stderr=subprocess.STDOUT,
        )

    def _ota_keys(self):
        if self.ota_keys is None:
            from host_tools.ota import signing

            self.ota_keys = signing.dev_pub_file()
        return os.path.abspath(self.ota_keys)

    def stop_firmware(self, graceful=True):
        # graceful: the app's own orderly stop (flushes pending history, dumps its state), asked
        # for as a "quit" key, then Ctrl-C if it does not stop; else a power cut (SIGKILL).
        # Ctrl-C alone is not the first choice: the unix port raises KeyboardInterrupt from the
        # signal handler, and one landing inside a garbage collection leaves the heap locked
        # ("MemoryError: ... heap is locked" at the stop, a test-harness artefact).
        if self.fw is None:
            return
        if self.fw.poll() is None and graceful:
            with open(os.path.join(self.out, "keys.txt"), "a") as f:
                f.write("quit\n")
            try:
                self.fw.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if self.fw.poll() is None:
            self.fw.send_signal(signal.SIGINT if graceful else signal.SIGKILL)
            try:
                self.fw.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.fw.kill()
                self.fw.wait()
        self.fw = None

    def stop(self):
        self.stop_firmware()
        if self.ctl is not None:
            self.ctl.close()
        if self.hansim is not None and self.hansim.poll() is None:
            self.hansim.send_signal(signal.SIGINT)
            try:
                self.hansim.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.hansim.kill()

    def send_keys(self, *names, gap_s=0.05):
        # Presses keys on the device (unix board IHD_KEYS_FIFO): "0".."9", "*", "#", "ok",
        # "back", "next", "prev", "long_ok", "long_back"; "7395 0067" types the digits.
        keys = []
        for n in names:
            keys += list(n.replace(" ", "")) if n[:1].isdigit() else [n]
        with open(os.path.join(self.out, "keys.txt"), "a") as f:
            for k in keys:
                f.write(k + "\n")
                f.flush()
                time.sleep(gap_s)

    # ---- time ----

    def now(self):
        assert self.ctl is not None, "start_hansim() first"
        return self.ctl.zigbee_time()

    def run_until(self, t_zigbee, max_real_s=None, progress=None):
        # Wait (real time) until hansim's simulated clock reaches t_zigbee. progress: called
        # with the simulated time (zigbee seconds) at every check (Progress rate-limits itself).
        deadline = time.monotonic() + (max_real_s or 3600)
        while True:
            now = self.now()
            if progress is not None:
                progress(now)
            if now >= t_zigbee:
                return now
            if self.fw is not None and self.fw.poll() is not None:
                if self.fw.returncode not in self.restart_codes:
                    last = cli.last_line_of(os.path.join(self.out, "console.txt"))
                    raise SimulationError(
                        "firmware exited early (rc %s)%s"
                        % (self.fw.returncode, ": " + last if last else "")
                    )
                self.fw = None  # the device reset itself (e.g. to activate a firmware update)
                self.start_firmware()
            if time.monotonic() > deadline:
                raise TimeoutError("simulation did not reach %d" % t_zigbee)
            time.sleep(min(0.5, max(0.02, (t_zigbee - now) / self.speed)))

    # ---- results ----

    def log_text(self):
        try:
            with open(os.path.join(self.out, "log.txt")) as f:
                log = f.read()
            with open(os.path.join(self.out, "console.txt")) as f:
                return log + f.read()
        except OSError:
            return ""

    def errors(self):
        return [line for line in self.log_text().splitlines() if _BAD_LOG.search(line)]

    def state(self):
        with open(os.path.join(self.out, "state.json")) as f:
            return json.load(f)

    def render_screens(self):
        frames = os.path.join(self.out, "frames")
        if not os.path.isdir(frames):
            return
        from host_tools import screens

        out = os.path.join(self.out, "screens")
        os.makedirs(out, exist_ok=True)
        for name in sorted(os.listdir(frames)):
            if name.endswith(".fb"):
                screens.to_png(os.path.join(frames, name), out)


def _fmt_span(seconds):
    # 3725 -> "1h02m", 90 -> "1m", 45 -> "45s", 90000 -> "1d1h00m"
    seconds = max(int(seconds), 0)
    d, rem = divmod(seconds, 86400)
    h, rem = divmod(rem, 3600)
    m, sec = divmod(rem, 60)
    if not (d or h):
        return "%dm" % m if m else "%ds" % sec
    return ("%dd" % d if d else "") + "%dh%02dm" % (h, m)


class Progress:
    # Progress of a run on `out` (stderr): a line every `period_s` real seconds, or one line
    # updated in place on a terminal. Shows simulated time and how far to --until, frames the
    # meters sent the IHD (readings, reports, answers), scenario events fired, boots and the
    # error lines in the firmware's log so far.
    def __init__(self, sim, start, until, out=None, period_s=None):
        self.sim = sim
        self.start = start
        self.until = until
        self.out = out or sys.stderr
        self.tty = hasattr(self.out, "isatty") and self.out.isatty()
        self.period_s = period_s if period_s is not None else (0.5 if self.tty else 5.0)
        self.t0 = time.monotonic()
        self.next = self.t0 + (0 if self.tty else self.period_s)
        self.errors = 0
        self.shown = False
        self._offsets = {}

    def __call__(self, now):
        t = time.monotonic()
        if t >= self.next:
            self.next = t + self.period_s
            self.show(now)

    def _new_errors(self):
        for name in ("log.txt", "console.txt"):
            path = os.path.join(self.sim.out, name)
            try:
                with open(path, errors="replace") as f:
                    f.seek(self._offsets.get(name, 0))
                    text = f.read()
            except OSError:
                continue
            cut = text.rfind("\n") + 1  # whole lines only
            self._offsets[name] = self._offsets.get(name, 0) + len(text[:cut].encode())
            self.errors += sum(1 for ln in text[:cut].splitlines() if _BAD_LOG.search(ln))
        return self.errors

    def line(self, now):
        try:
            st = self.sim.ctl.call(cmd="status")
        except (OSError, ValueError, SimulationError):
            st = {}
        frames = st.get("counters", {}).get("from_devices", 0)
        fired = st.get("events_fired", 0)
        events = fired + st.get("events_pending", 0)
        span = max(self.until - self.start, 1)
        pct = min(100, 100 * max(now - self.start, 0) // span)
        utc = (_ZIGBEE_EPOCH + dt.timedelta(seconds=now)).strftime("%Y-%m-%d %H:%M")
        done = "+%s of %s (%d%%, %.0f s real)" % (
            _fmt_span(now - self.start),
            _fmt_span(span),
            pct,
            time.monotonic() - self.t0,
        )
        return "sim %s UTC %s: %d meter frames, events %d/%d, boots %d, errors %d" % (
            utc,
            done,
            frames,
            fired,
            events,
            self.sim.boots,
            self._new_errors(),
        )

    def show(self, now):
        text = self.line(now)
        if self.tty:
            self.out.write("\r" + text + "\x1b[K")
        else:
            self.out.write(text + "\n")
        self.out.flush()
        self.shown = True

    def end(self, now=None):
        # The final figures, and the updating line ended with a newline.
        if now is not None:
            self.show(now)
        if self.tty and self.shown:
            self.out.write("\n")
            self.out.flush()


@cli.guarded("simulate", expected=(SimulationError, TimeoutError))
def main(argv=None):
    ap = cli.ArgumentParser(
        prog="python -m host_tools.simulate",
        description="run hansim + the firmware headless, fast-forward",
    )
    ap.add_argument("--scenario", default="default", help="built-in name or JSON path")
    ap.add_argument(
        "--until", required=True, type=until_arg, help="duration (6h, 90m, 1d2h) or ISO UTC time"
    )
    ap.add_argument("--out", required=True)
    ap.add_argument(
        "--speed",
        type=speed_arg,
        default=DEFAULT_SPEED,
        help="simulated seconds per real second (default %g)" % DEFAULT_SPEED,
    )
    ap.add_argument("--ezsp-version", type=int, choices=(13, 14))
    ap.add_argument("--corrupt", type=float, help="serial link byte corruption rate")
    ap.add_argument(
        "--heapsize",
        help="MicroPython heap for the firmware, e.g. 512K (default: "
        "the configuration's budget on 32-bit, the interpreter's default on 64-bit)",
    )
    add_board_args(ap, sorted(CONFIGS), "both")
    ap.add_argument(
        "--reboot-at",
        action="append",
        type=until_arg,
        default=[],
        help="restart the firmware at this time (duration or ISO), repeatable",
    )
    ap.add_argument(
        "--power-cut-at",
        action="append",
        type=until_arg,
        default=[],
        help="kill the firmware (no flush) at this time and restart it",
    )
    ap.add_argument(
        "--ota-keys",
        help="PEM public keys the device trusts for OTA images (default: this checkout's "
        "development key, build/keys/dev-ota-p256.pub.pem)",
    )
    ap.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = ap.parse_args(argv)
    # Everything checkable is checked before anything starts.
    from host_tools.hansim.scenario import ScenarioError
    from host_tools.hansim.simclock import to_zigbee

    try:
        scenario_arg, scn = load_scenario(args.scenario)
    except (ScenarioError, OSError, UnicodeDecodeError) as e:
        cli.fail("--scenario: %s" % cli.describe(e))
    t0 = to_zigbee(scn.start_unix)
    for opt, values in (("--until", [args.until]), ("--reboot-at", args.reboot_at),
                        ("--power-cut-at", args.power_cut_at)):  # fmt: skip
        for v in values:
            if parse_until(v, t0) <= t0:
                cli.fail("%s %s: not after the scenario's start %s" % (opt, v, _iso(t0)), 2)
    if args.ota_keys and not os.path.isfile(args.ota_keys):
        cli.fail("--ota-keys %s: no such file" % args.ota_keys, 2)
    from host_tools.upy32 import Upy32Error  # needs the checkout: imported once it is known

    try:
        sim = Simulation(scenario_arg, args.out, args.speed, args.ezsp_version, args.corrupt,
                         heapsize=args.heapsize, interpreter=args.interpreter,
                         config=args.config, ota_keys=args.ota_keys)  # fmt: skip
    except Upy32Error as e:  # the 32-bit interpreter could not be built
        cli.fail("--interpreter %s: %s" % (args.interpreter, cli.one_line(e)))
    progress = None
    try:
        sim.start_hansim()
        start = sim.now()
        until = parse_until(args.until, start)
        stops = [(parse_until(t, start), True) for t in args.reboot_at]
        stops += [(parse_until(t, start), False) for t in args.power_cut_at]
        if not args.quiet:
            progress = Progress(sim, start, until)
        sim.start_firmware()
        for t, graceful in sorted(stops):
            sim.run_until(t, progress=progress)
            sim.stop_firmware(graceful)
            sim.start_firmware()
        now = sim.run_until(until, progress=progress)
        if progress is not None:
            progress.end(now)
            progress = None
    finally:
        if progress is not None:  # interrupted or failed: end the updating line first
            progress.end()
        sim.stop()
    sim.render_screens()
    errs = sim.errors()
    for e in errs[:20]:
        print("error: " + e, file=sys.stderr)
    print("simulation finished: %s (%d boots, %d errors)" % (args.out, sim.boots, len(errs)))
    return 1 if errs else 0


def _iso(t_zigbee):
    return (_ZIGBEE_EPOCH + dt.timedelta(seconds=t_zigbee)).strftime("%Y-%m-%dT%H:%M:%SZ")


if __name__ == "__main__":
    sys.exit(main())
