# RAM figures per board configuration (pico, colour) and interpreter kind (unix64, unix32,
# unix32-frozen): part of `make bench`, or alone:
#   python -m host_tools.bench_ram [--quick] [--config pico,colour]
#       [--interpreter unix64,unix32,unix32-frozen] [--out docs/ram.md] [--speed 1200]
# 1. minimum heap for a simulated day of the default scenario (bisected on an 8K grid; the
#    lower bound starts at the passing run's live peak, below which no heap can hold the
#    firmware) and, full run only, one simulated week at the budget on unix32-frozen
# 2. the firmware's own live heap peak (after gc.collect, state.json) at the minimum and at the
#    budget
# 3. retained heap per imported module, grouped by package
# 4. bytes allocated per received frame, per meter reading, per render (gc disabled)
# Writes the markdown to --out and build/bench/ram.json; progress lines on stdout as it goes.
import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from host_tools import cli, paths

CONFIGS = ("pico", "colour")
PANELS = {"pico": "mono", "colour": "colour"}  # uibench / framedump panel names
KINDS = paths.INTERPRETERS
STEP = 8 * 1024
UNIX64_UPPER = 2 * 1024 * 1024
SCENARIO = "default"
SPEED = 1200
STATUS_PERIOD_S = 10  # boards/unix/board.py: a status line (and live-heap sample) per 10 real s
OUT_JSON = os.path.join(paths.BUILD, "bench", "ram.json")
RUNS_DIR = os.path.join(paths.BUILD, "bench", "ram-runs")
SCRIPT_HEAP = "2M"  # heap for the import / allocation scripts (not the figure being measured)

_STATUS = re.compile(r"app: up (\d+) s, utc (\S+), heap free (\d+)")


# ---------------------------------------------------------------- sizes


def parse_size(text):
    # "160K" / "2M" / "163840" -> bytes
    t = str(text).strip().upper()
    k = {"K": 1024, "M": 1024 * 1024}.get(t[-1:], 1)
    return int(t[:-1] if k > 1 else t) * k


def heap_arg(n):
    # bytes -> the -X heapsize= spelling ("160K", "2M")
    if n % (1024 * 1024) == 0:
        return "%dM" % (n // (1024 * 1024))
    if n % 1024 == 0:
        return "%dK" % (n // 1024)
    return str(n)


def kb(n):
    # bytes -> "99 KB" (None -> "-")
    return "-" if n is None else "%d KB" % round(n / 1024)


def budget(config):
    from host_tools.simulate import BUDGETS

    return parse_size(BUDGETS[config])


def floor_step(n, step=STEP):
    return n // step * step


def ceil_step(n, step=STEP):
    return -(-n // step) * step


# ---------------------------------------------------------------- bisection


def bisect_heap(run, hi, max_steps, lo=None, infer_lo=None, grow=None, max_grow=2, step=STEP):
    # Smallest passing heap on a `step` grid. run(heap) -> dict with "passed" (and whatever
    # else; "live_peak" for infer_lo). hi: the first heap tried (expected to pass); lo: a heap
    # known to fail, or None. infer_lo(result of the first pass) gives a failing heap without a
    # run (the live peak rounded down: no smaller heap holds it), used if above lo. If hi
    # fails, grow(hi) is tried (at most max_grow times), the failed size the new lower bound.
    # At most max_steps bisection runs after the first pass. -> dict: min (smallest pass, None
    # if none), fail (largest known fail, None if none), inferred (that fail bound was not
    # run), resolution (min - fail, or None), runs [(heap, result)] in order.
    runs = []
    inferred = False

    def once(h):
        r = run(h)
        runs.append((h, r))
        return r["passed"]

    ok = once(hi)
    grown = 0
    while not ok and grow is not None and grown < max_grow:
        lo = hi
        hi = ceil_step(grow(hi), step)
        grown += 1
        ok = once(hi)
    if not ok:
        return {"min": None, "fail": hi, "inferred": False, "resolution": None, "runs": runs}
    if infer_lo is not None:
        guess = infer_lo(runs[-1][1])
        if guess is not None:
            guess = min(floor_step(guess, step), hi - step)
            if lo is None or guess > lo:
                lo = guess
                inferred = True
    steps = 0
    while lo is not None and hi - lo > step and steps < max_steps:
        mid = lo + (hi - lo) // step // 2 * step
        steps += 1
        if once(mid):
            hi = mid
        else:
            lo = mid
            inferred = False
    return {
        "min": hi,
        "fail": lo,
        "inferred": inferred,
        "resolution": None if lo is None else hi - lo,
        "runs": runs,
    }


def live_lower_bound(result):
    # infer_lo for bisect_heap: the live heap after collection the firmware itself measured.
    return result.get("live_peak") or None


# ---------------------------------------------------------------- simulations


def failure_reason(text):
    # The exception (and its innermost frame) of the first traceback in a log, else the first
    # line that simulate.errors() would flag. -> str or None
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if "Traceback" not in line:
            continue
        where = None
        for follow in lines[i + 1 :]:
            if follow.startswith(" "):
                if follow.strip().startswith("File "):
                    where = follow.strip()
                continue
            exc = follow.strip()
            if where:
                m = re.search(r'File "([^"]+)", line (\d+)(?:, in (\S+))?', where)
                if m:
                    where = "%s:%s %s" % (m.group(1), m.group(2), m.group(3) or "")
                return "%s (at %s)" % (exc, where.strip())
            return exc
    from host_tools.simulate import _BAD_LOG

    for line in lines:
        if _BAD_LOG.search(line):
            return line.strip()
    return None


def only_at_stop(text):
    # True if every line simulate.errors() flags is the traceback of an "at shutdown" error
    # (app.shutdown logs it, then the console shows the traceback).
    from host_tools.simulate import _BAD_LOG

    lines = text.splitlines()
    bad = [i for i, line in enumerate(lines) if _BAD_LOG.search(line)]
    return bool(bad) and all(
        "Traceback" in lines[i] and i > 0 and "at shutdown" in lines[i - 1] for i in bad
    )


def status_lines(log):
    # -> [(up_s, utc, heap_free)] from the firmware's status lines.
    return [(int(m.group(1)), m.group(2), int(m.group(3))) for m in _STATUS.finditer(log)]


def keepup(log):
    # Event-loop lag from the status lines (one per STATUS_PERIOD_S real seconds when the
    # firmware keeps up): count and largest gap between them. Lagging if a gap is > 1.5x.
    st = status_lines(log)
    ups = [s[0] for s in st]
    gaps = [b - a for a, b in zip(ups, ups[1:]) if b >= a]  # (a reboot restarts "up")
    worst = max(gaps) if gaps else None
    return {
        "status_lines": len(st),
        "max_gap_s": worst,
        "lagging": worst is not None and worst > STATUS_PERIOD_S * 3 // 2,
    }


def _cpu_s(pid):
    # user + system CPU seconds of a live process (Linux /proc), or None.
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def run_sim(config, kind, heap, days=1, speed=SPEED, scenario=SCENARIO, outroot=RUNS_DIR):
    # One simulated run of `days` days. -> result dict (passed, reason, live_peak, peak, ...).
    from host_tools import upy32
    from host_tools.simulate import Simulation, parse_until

    out = os.path.join(outroot, "%s-%s-%s-%gd" % (config, kind, heap_arg(heap), days))
    shutil.rmtree(out, ignore_errors=True)
    res = {"config": config, "interpreter": kind, "heap": heap, "days": days, "speed": speed}
    res.update(passed=False, reason=None, live_peak=None, peak=None, out=out)
    res["firmware_key"] = upy32.source_key()[:12]
    t0 = time.monotonic()
    sim = Simulation(scenario, out, speed=speed, heapsize=heap_arg(heap), interpreter=kind,
                     config=config)  # fmt: skip
    cpu = None
    try:
        sim.start_hansim()
        start = sim.now()
        sim.start_firmware()
        target = parse_until("%ds" % round(days * 86400), start)
        t_fw = time.monotonic()
        sim.run_until(target, max_real_s=days * 86400 / speed * 3 + 120)
        if sim.fw is not None:
            cpu = _cpu_s(sim.fw.pid)
            if cpu is not None:
                res["fw_cpu_share"] = round(cpu / max(0.001, time.monotonic() - t_fw), 2)
        res["sim_s"] = sim.now() - start
    except (RuntimeError, TimeoutError) as e:
        res["reason"] = str(e)
    finally:
        sim.stop()
    res["real_s"] = round(time.monotonic() - t0, 1)
    res["boots"] = sim.boots
    log = sim.log_text()  # the firmware's log + its console
    errs = sim.errors()
    res["errors"] = len(errs)
    try:
        with open(os.path.join(out, "log.txt")) as f:
            res.update(keepup(f.read()))
    except OSError:
        res.update(keepup(""))
    # the only errors are at the orderly stop (app.shutdown: the unix board's state dump,
    # history flush): the day itself ran
    res["failed_at_stop"] = bool(res["reason"] is None and errs and only_at_stop(log))
    if res["reason"] is None and errs:
        res["reason"] = failure_reason(log) or errs[0]
    elif res["reason"] is not None:
        detail = failure_reason(log)
        if detail:
            res["reason"] += ": " + detail
    try:
        st = sim.state()
    except (OSError, ValueError):
        st = None
    if st is not None:
        res["live_peak"] = st["heap"]["live_peak"]
        res["peak"] = st["heap"]["peak"]
        c = st.get("counters", {})
        res["history_appended"] = c.get("history.appended", 0)
        res["meter_reads"] = c.get("meters.reads", 0)
        # a half-hour per fuel appended as the next starts (the first and the last open one
        # are not): fewer means the firmware fell behind the simulated clock
        res["history_expected"] = 2 * (round(days * 48) - 1)
        if res["history_appended"] < res["history_expected"] - 2:
            res["lagging"] = True
    elif res["reason"] is None:
        res["reason"] = "no state.json (the firmware did not stop in order)"
    res["passed"] = res["reason"] is None
    if res["passed"]:  # flash image and frame dumps are only needed to look into a failure
        shutil.rmtree(os.path.join(out, "frames"), ignore_errors=True)
        try:
            os.remove(os.path.join(out, "flash.img"))
        except OSError:
            pass
    return res


def describe_run(r):
    # "pass (live peak 99 KB) 74 s" / "FAIL: MemoryError ... 12 s"
    if r["passed"]:
        s = "pass (live peak %s, alloc peak %s" % (kb(r["live_peak"]), kb(r["peak"]))
        if r.get("fw_cpu_share") is not None:
            s += ", fw cpu %d%%" % round(100 * r["fw_cpu_share"])
        if r.get("lagging"):
            s += ", LAGGING: status gap %s s, %s/%s half-hours" % (
                r["max_gap_s"],
                r.get("history_appended"),
                r.get("history_expected"),
            )
        s += ")"
    elif r.get("failed_at_stop"):
        s = "FAIL at the stop only: %s" % (r["reason"] or "?")[:160]
    else:
        s = "FAIL: %s" % (r["reason"] or "?")[:160]
    return "%s %d s" % (s, round(r["real_s"]))


def _say(msg, end="\n"):
    print(msg, end=end, flush=True)


def progress_runner(config, kind, days, speed, label="day"):
    def run(heap):
        _say("bench_ram: %s %s %s @%s ... " % (config, kind, label, heap_arg(heap)), end="")
        r = run_sim(config, kind, heap, days=days, speed=speed)
        _say(describe_run(r))
        return r

    return run


def min_heap(config, kind, max_steps, speed=SPEED):
    # Bisected minimum heap for a simulated day (see bisect_heap).
    run = progress_runner(config, kind, 1, speed)
    if kind == "unix64":
        hi = UNIX64_UPPER
        grow = None
    else:
        hi = budget(config)
        grow = lambda h: h * 2  # noqa: E731 - over budget: find where it does fit
    b = bisect_heap(run, hi, max_steps, infer_lo=live_lower_bound, grow=grow)
    runs = b["runs"]
    day = day_only_of([r for _, r in runs])
    passing = {h: r for h, r in runs if r["passed"]}
    at_min = passing.get(b["min"])
    at_budget = dict(runs).get(budget(config)) if kind != "unix64" else None
    return {
        "config": config,
        "interpreter": kind,
        "budget": budget(config),
        "min": b["min"],
        "fail": b["fail"],
        "fail_inferred": b["inferred"],
        "resolution": b["resolution"],
        "live_peak_at_min": at_min and at_min["live_peak"],
        "peak_at_min": at_min and at_min["peak"],
        "first": runs[0][1],
        "at_budget": at_budget,
        "day_only": day,
        "runs": [r for _, r in runs],
    }


def day_only_of(runs):
    # day_only_min over a min_heap() result's runs, the bound from the first pass's live peak.
    first = next((r for r in runs if r["passed"]), None)
    live = first and first.get("live_peak")
    return day_only_min([(r["heap"], r) for r in runs], floor_step(live) if live else None)


def day_only_min(runs, inferred_lo=None):
    # From the same runs, the minimum when a failure only at the orderly stop (the unix
    # board's state dump) counts as a pass: the smallest such heap, and the largest heap below
    # it that failed during the day or inferred_lo (the live-peak bound), whichever is larger.
    # None if no run failed only at the stop.
    if not any(r.get("failed_at_stop") for _, r in runs):
        return None
    ok = [h for h, r in runs if r["passed"] or r.get("failed_at_stop")]
    lo_ok = min(ok)
    fails = [h for h, r in runs if h < lo_ok and not (r["passed"] or r.get("failed_at_stop"))]
    fail, inferred = (max(fails), False) if fails else (None, False)
    if inferred_lo is not None and (fail is None or inferred_lo > fail):
        fail, inferred = inferred_lo, True
    if fail is not None and fail >= lo_ok:
        fail = None
    if fail is None:
        inferred = False
    return {"min": lo_ok, "fail": fail, "inferred": inferred,
            "resolution": None if fail is None else lo_ok - fail}  # fmt: skip


# ---------------------------------------------------------------- MicroPython scripts

IMPORT_SCRIPT = """\
import gc
import sys

MODS = %r


def one(name):
    gc.collect()
    a0 = gc.mem_alloc()
    gc.disable()
    err = None
    try:
        __import__(name)
    except Exception as e:
        err = "%%s: %%s" %% (type(e).__name__, e)
    a1 = gc.mem_alloc()
    gc.enable()
    gc.collect()
    a2 = gc.mem_alloc()
    print("IMPORT %%s %%d %%d %%s" %% (name, a2 - a0, a1 - a0, "ok" if err is None else err))


gc.collect()
print("IMPORT_BASE %%d %%d" %% (gc.mem_alloc(), gc.mem_free()))
for m in MODS:
    one(m)
gc.collect()
print("IMPORT_END %%d %%d" %% (gc.mem_alloc(), gc.mem_free()))
"""

_FIRST = {
    "zigbee": (
        "ash",
        "ezsp",
        "ncp",
        "zcl.types",
        "zcl.frame",
        "zcl.foundation",
        "zcl.clusters",
        "zcl.client",
        "commission",
        "cbke",
        "discovery",
    ),  # fmt: skip
    # leaves first, so that each module's own cost shows
    "state": ("fuels", "model"),
    "ui": (
        "fmt",
        "theme",
        "fonts",
        "canvas",
        "input",
        "widgets",
        "screens",
        "screens_prepay",
        "display",
    ),  # fmt: skip
}
PACKAGES = (
    "runtime",
    "zigbee",
    "state",
    "meters",
    "tenancy",
    "history",
    "prepay",
    "messages",
    "ota",
    "ui",
)
# Firmware modules left out of the import figures: none (the demo data for screenshots and
# benches is boards/unix/demo.py, outside the firmware package).
EXCLUDED = ()


def _modules_under(root, dotted):
    # Importable module names under a package directory (subpackages included), sorted.
    out = []
    for dirpath, dirnames, files in os.walk(root):
        dirnames.sort()
        rel = os.path.relpath(dirpath, root)
        prefix = dotted if rel == "." else dotted + "." + rel.replace(os.sep, ".")
        for f in sorted(files):
            if not f.endswith(".py"):
                continue
            name = prefix if f == "__init__.py" else prefix + "." + f[:-3]
            out.append(name)
    return out


def import_list(firmware=paths.FIRMWARE):
    # The order modules are imported in: asyncio, ihd, each package (its __init__, the modules
    # the brief orders first, then the rest), ihd.app, drivers.
    mods = ["asyncio", "ihd"]
    for pkg in PACKAGES:
        dotted = "ihd." + pkg
        found = _modules_under(os.path.join(firmware, "ihd", pkg), dotted)
        first = [dotted] + ["%s.%s" % (dotted, m) for m in _FIRST.get(pkg, ())]
        for m in first:
            if m in found or m == dotted:
                mods.append(m)
        for m in found:
            if m not in mods:
                mods.append(m)
    mods.append("ihd.app")
    mods += [m for m in _modules_under(os.path.join(firmware, "drivers"), "drivers")]
    return [m for m in mods if m not in EXCLUDED]


def group_of(module):
    # "ihd.zigbee.zcl.client" -> "ihd.zigbee"; "drivers.st7789" -> "drivers"; "ihd.app" stays.
    parts = module.split(".")
    if parts[0] == "ihd" and len(parts) > 2:
        return "ihd." + parts[1]
    if parts[0] == "drivers":
        return "drivers"
    return module


def parse_imports(text):
    # IMPORT_SCRIPT output -> {"base": (alloc, free), "end": ..., "modules": [dict], "groups":
    # {group: retained bytes} in import order, "errors": [module: error]}
    mods, groups, errors = [], {}, []
    base = end = None
    for line in text.splitlines():
        parts = line.split(" ", 4)
        if parts[0] == "IMPORT_BASE":
            base = (int(parts[1]), int(parts[2]))
        elif parts[0] == "IMPORT_END":
            end = (int(parts[1]), int(parts[2]))
        elif parts[0] == "IMPORT" and len(parts) >= 5:
            name, kept, transient, status = parts[1], int(parts[2]), int(parts[3]), parts[4]
            mods.append({"module": name, "retained": kept, "allocated": transient,
                         "status": status})  # fmt: skip
            g = group_of(name)
            groups[g] = groups.get(g, 0) + kept
            if status != "ok":
                errors.append("%s: %s" % (name, status))
    total = None if base is None or end is None else end[0] - base[0]
    return {"base": base, "end": end, "total": total, "modules": mods, "groups": groups,
            "errors": errors}  # fmt: skip


ALLOC_SCRIPT = r"""
# Bytes allocated per operation (gc disabled around N iterations, after a warm-up).
import asyncio
import gc
import struct

from ashfakes import FakeNcp
from ihd.runtime import clock, log
from ihd.zigbee import ash, ezsp, ncp
from ihd.zigbee.zcl import client as ZC

log.set_level(log.ERROR)
N = 200
METER = 0x1234
METERING = 0x0702
SMALL = 12345678  # 12,345.678 kWh in Wh: a household register, a small int everywhere
BIG = 0x123456789ABC  # uint48 above 2**30: a long int on a 32-bit port


class _Null:
    def write(self, b):
        return len(b)

    async def drain(self):
        pass

    async def readinto(self, b):
        await asyncio.sleep(3600)


def report(tsn, summ, demand):
    # Report Attributes, server -> client, default response disabled (as meters send them):
    # CurrentSummationDelivered uint48 + InstantaneousDemand int24.
    s = bytes((0x18, tsn & 0xFF, 0x0A))
    s += struct.pack("<HB", 0x0000, 0x25) + (summ & 0xFFFFFFFFFFFF).to_bytes(6, "little")
    s += struct.pack("<HB", 0x0400, 0x2A) + (demand & 0xFFFFFF).to_bytes(3, "little")
    return s


class Stack:
    # The real Ash -> Ezsp -> Ncp -> Zcl objects, connected, transmit stubbed (as
    # tests/firmware/test_rx_alloc.py builds them).
    def __init__(self, version=13):
        self.fake = FakeNcp(version)
        self.a = ash.Ash(_Null(), _Null())
        self.a.state = ash.ST_CONNECTED
        self.e = ezsp.Ezsp(self.a)
        self.e._set_version(version)
        self.e._extended = True
        self.n = ncp.Ncp(self.e)
        self.z = ZC.Zcl(self.n)
        self.n.messages.connect(self.z.handle_incoming)
        for o in (self.e, self.z):
            lim = getattr(o, "_lim", None)
            if lim is not None:
                lim.period_ms = 1 << 28

        async def sent(*args, **kw):
            return 0

        self.n.send_unicast = sent
        self.frm = 0

    def wires(self, frames):
        out = []
        for zcl in frames:
            w = ash.encode(ash.data_ctrl(self.frm, 0), self.fake.incoming(METER, METERING, zcl))
            self.frm = (self.frm + 1) & 7
            out.append(w)
        return out


def per_feed(st, wires):
    # wires: 8 in-sequence frames, fed round and round (frame numbers wrap at 8).
    a = st.a
    for i in range(24):
        w = wires[i & 7]
        a.feed(w, len(w))
    gc.collect()
    gc.disable()
    m0 = gc.mem_alloc()
    for i in range(N):
        w = wires[i & 7]
        a.feed(w, len(w))
    d = gc.mem_alloc() - m0
    gc.enable()
    return d / N


def out(name, v):
    print("ALLOC %s %.1f" % (name, v))


def frames():
    st = Stack()
    seen = [0]
    if hasattr(st.z, "on_report_records"):

        def rec(f, r):
            seen[0] += 1

        st.z.on_report_records(METERING, rec)
        wires = st.wires([report(i, SMALL + i, 1234) for i in range(8)])
        out("rx_report_records", per_feed(st, wires))
    st = Stack()
    st.z.on_report(METERING, lambda f, a, v: None)
    wires = st.wires([report(i, SMALL + i, 1234) for i in range(8)])
    out("rx_report_value", per_feed(st, wires))
    st = Stack()
    st.z.on_report(METERING, lambda f, a, v: None)
    wires = st.wires([report(i, BIG + i, 1234) for i in range(8)])
    out("rx_report_value_big", per_feed(st, wires))


class _Hist:
    # History stand-in: nothing stored yet, today's totals kept (as history.view.HistoryView).
    def __init__(self):
        self.tot = [0, 0]

    def visible_from(self, h):
        return 0

    def today_totals(self, h, t):
        return self.tot

    def today(self, h, t):
        return ()

    def append(self, *a):
        pass


class _Cfg:
    def get(self, k, d=None):
        from ihd.runtime import config

        return config.DEFAULTS.get(k, d)


def _history(kind, t0):
    # "stub": _Hist; "store": a HistoryStore on a RAM block device (tests/firmware/powercut.py)
    # holding today's earlier half-hours; "view": a history.view.HistoryView over such a store
    # (what app.py hands the meters service).
    if kind == "stub":
        return _Hist()
    import powercut

    _, store = powercut.boot(block_count=128)
    day = t0 - t0 % 86400
    for t in range(day, t0 - t0 % 1800, 1800):
        store.append(0, t, 300, 7350, standing_mp=53350)
    store.flush()
    if kind == "store":
        return store
    from ihd.history.view import HistoryView

    return HistoryView(store)


def readings(kind):
    from ihd.meters import units
    from ihd.meters.registry import Meter, Registry
    from ihd.meters.service import MeterService
    from ihd.state.model import FUEL_ELEC, Model

    t0 = 820000000 // 86400 * 86400 + 20 * 3600 + 60  # 20:01: readings stay in this half-hour
    clock.set_utc(t0)
    hist = _history(kind, t0)
    st = Stack()
    reg = Registry()
    m = Meter("elec", METER, 1)
    reg.bind(m)
    model = Model(now_fn=clock.now)
    svc = MeterService(st.z, reg, hist, model, _Cfg())
    svc.bind(m, FUEL_ELEC, 0)
    ms = svc.states["elec"]
    ms.fmt = units.Formatting()
    ms.unit_rate_mp_kwh = 24500
    ms.standing_mp_day = 53350
    a = st.a

    def rounds(n, base):
        # n rounds of 8 in-order report frames (summation growing: a smaller one would be a
        # meter exchange); wires built outside the measured window. -> bytes allocated
        total = 0
        for rnd in range(n):
            ws = st.wires([report(i, base + 100 * rnd + 10 * i, 1234 + i) for i in range(8)])
            gc.collect()
            gc.disable()
            m0 = gc.mem_alloc()
            for w in ws:
                a.feed(w, len(w))
            total += gc.mem_alloc() - m0
            gc.enable()
        return total

    n = N // 8
    rounds(3, SMALL)  # warm-up (the first reading sets the baseline)
    out("reading_report_" + kind, rounds(n, SMALL + 1000) / (8 * n))
    if kind == "stub" and hasattr(svc, "fold"):  # the fold entry point alone

        def run_fold(n, start):
            for i in range(n):
                svc.fold(FUEL_ELEC, start + i, t0 + 1 + (i & 15))

        run_fold(24, SMALL + 100000)
        gc.collect()
        gc.disable()
        m0 = gc.mem_alloc()
        run_fold(N, SMALL + 200000)
        d = gc.mem_alloc() - m0
        gc.enable()
        out("reading_fold", d / N)
    print("ALLOC_CHECK %s reports=%d negative=%d summ_milli=%s demand=%s today_wh=%s"
          % (kind, svc.c.get("reports"), svc.c.get("negative_deltas"), ms.summ_milli,
             model.elec.demand_w, model.elec.today_wh))


class _Rows:
    # The demo history, computed once: rows handed out by reference with a version, as
    # history.view.HistoryView does (the demo source itself computes every row on every call,
    # in big ints on a 32-bit port: that is not the UI's cost).
    def __init__(self, demo_src, now):
        self.version = 0
        self.rows = {}
        for f in (0, 1):
            for p in range(4):
                self.rows[f * 4 + p] = [list(e) for e in demo_src.history(f, p, now)]

    def history(self, fuel_id, period, now_utc):
        return self.rows[fuel_id * 4 + period]


def renders(which):
    import demo
    import framedump
    from ihd.state import model as M
    from ihd.ui.display import Ui

    for panel in framedump.make_panels(which):
        m = demo.make_model()
        m.history_source = src = _Rows(m.history_source, m.now())
        ui = Ui(panel, m)
        ui.step()
        tag = "%dx%d" % (panel.width, panel.height)

        def measure(fn, n=5):
            fn()
            fn()
            gc.collect()
            gc.disable()
            m0 = gc.mem_alloc()
            for _ in range(n):
                fn()
            d = gc.mem_alloc() - m0
            gc.enable()
            return d / n

        def full():
            ui.redraw()
            ui.step()

        ui.go("home")
        out("render_full_home_" + tag, measure(full))
        w = [1000]

        def demand():
            w[0] = 3000 - w[0]
            m.set_demand(M.FUEL_ELEC, w[0], m.now())
            ui.step()

        out("render_demand_home_" + tag, measure(demand))
        s = ui.screen("history")
        ui.go("history")
        def fresh():
            src.version += 1
            full()

        for p, name in ((M.P_DAY, "day"), (M.P_8D, "8d"), (M.P_5W, "5w"), (M.P_13M, "13m")):
            s.period = p
            out("render_full_history_%s_%s" % (name, tag), measure(full))
            out("render_new_history_%s_%s" % (name, tag), measure(fresh))
        panel = ui = None
        gc.collect()


import sys

what = sys.argv[1:] or ["frames", "readings", "mono", "colour"]
for w in what:
    try:
        if w == "frames":
            frames()
        elif w == "readings":
            for k in ("stub", "store", "view"):
                try:
                    readings(k)
                except Exception as e:
                    print("ALLOC_ERROR readings_%s %s: %s" % (k, type(e).__name__, e))
        else:
            renders(w)
    except Exception as e:
        print("ALLOC_ERROR %s %s: %s" % (w, type(e).__name__, e))
"""


def parse_alloc(text):
    # ALLOC_SCRIPT output -> ({name: bytes per operation}, [errors], [sanity-check lines])
    vals, errors, checks = {}, [], []
    for line in text.splitlines():
        p = line.split(" ", 2)
        if p[0] == "ALLOC" and len(p) == 3:
            vals[p[1]] = float(p[2])
        elif p[0] == "ALLOC_ERROR":
            errors.append(line[len("ALLOC_ERROR ") :])
        elif p[0] == "ALLOC_CHECK":
            checks.append(line[len("ALLOC_CHECK ") :])
    return vals, errors, checks


def parse_stackbench(text):
    m = re.search(r"alloc_per_rx_frame=(\d+)", text)
    return None if m is None else int(m.group(1))


def parse_uibench(text):
    # uibench output -> {"320x240": {"home": alloc B, ...}, ...}
    out = {}
    cur = None
    for line in text.splitlines():
        m = re.match(r"(\d+x\d+): heap for model\+ui (\d+) B", line)
        if m:
            cur = out.setdefault(m.group(1), {"_model_ui": int(m.group(2))})
            continue
        m = re.match(r"\s+(\S+)\s+render\s+\d+ us = .*alloc\s+(\d+) B", line)
        if m and cur is not None:
            cur[m.group(1)] = int(m.group(2))
    return out


def run_script(interp, code_or_path, args=(), heap=SCRIPT_HEAP, extra=(), timeout_s=600):
    # Runs a MicroPython script from a temp dir (never firmware/: its directory goes first on
    # sys.path). code_or_path: source text, or the path of a script to copy. -> (rc, output)
    d = tempfile.mkdtemp(prefix="ihd-bench-ram-")
    try:
        script = os.path.join(d, "bench_script.py")
        if os.path.exists(code_or_path):
            shutil.copyfile(code_or_path, script)
        else:
            with open(script, "w") as f:
                f.write(code_or_path)
        env = dict(os.environ, MICROPYPATH=interp.micropypath(extra=list(extra)))
        cmd = [interp.exe, "-X", "heapsize=" + heap, script] + list(args)
        try:
            p = subprocess.run(cmd, cwd=d, env=env, capture_output=True, text=True,
                               timeout=timeout_s)  # fmt: skip
        except subprocess.TimeoutExpired:
            return -1, "timeout after %d s" % timeout_s
        return p.returncode, p.stdout + p.stderr
    finally:
        shutil.rmtree(d, ignore_errors=True)


def import_costs(interp):
    rc, text = run_script(interp, IMPORT_SCRIPT % (import_list(),))
    r = parse_imports(text)
    if rc:
        r["errors"].append("rc %d: %s" % (rc, text[-500:]))
    return r


def alloc_figures(interp, configs):
    tests = os.path.join(paths.TESTS, "firmware")
    which = ["frames", "readings"] + [PANELS[c] for c in configs]
    rc, text = run_script(interp, ALLOC_SCRIPT, which, extra=[tests])
    vals, errors, checks = parse_alloc(text)
    if rc:
        errors.append("rc %d: %s" % (rc, text[-500:]))
    rc, text = run_script(interp, os.path.join(paths.BOARDS, "unix", "stackbench.py"), ["500"],
                          extra=[tests])  # fmt: skip
    sb = parse_stackbench(text)
    if sb is None:
        errors.append("stackbench: rc %d: %s" % (rc, text[-300:]))
    else:
        vals["stackbench_rx_read_rsp"] = float(sb)
    rc, text = run_script(interp, os.path.join(paths.BOARDS, "unix", "uibench.py"))
    ub = parse_uibench(text)
    if not ub:
        errors.append("uibench: rc %d: %s" % (rc, text[-300:]))
    for size, scenes in ub.items():
        for scene, v in scenes.items():
            vals["uibench_%s_%s" % (scene.lstrip("_"), size)] = float(v)
    return {"values": vals, "errors": errors, "checks": checks}


# ---------------------------------------------------------------- report

ALLOC_ROWS = (
    ("rx_report_records", "rx Report Attributes frame, records consumer (0 B path)"),
    ("rx_report_value", "rx Report Attributes frame, on_report(value) handler"),
    ("rx_report_value_big", "rx Report Attributes frame, on_report, summation >= 2^30"),
    ("stackbench_rx_read_rsp", "rx Read Attributes Response, unmatched (stackbench)"),
    ("reading_report_stub", "meter reading: report -> meters service -> model (history stub)"),
    ("reading_report_view", "meter reading: the same, HistoryView over a store (as app.py)"),
    ("reading_report_store", "meter reading: the same, a bare HistoryStore (no view)"),
    ("reading_fold", "meter reading: MeterService.fold() alone (history stub)"),
)
RENDER_SIZES = {"pico": "128x64", "colour": "320x240"}


def render_rows(configs):
    rows = []
    for c in configs:
        sz = RENDER_SIZES[c]
        rows.append(("render_full_home_" + sz, "render %s home: full (redraw + step)" % sz))
        rows.append(("render_demand_home_" + sz, "render %s home: demand changed (step)" % sz))
        for p in ("day", "8d", "5w", "13m"):
            rows.append(("render_full_history_%s_%s" % (p, sz),
                         "render %s history %s: full (redraw + step)" % (sz, p)))  # fmt: skip
            rows.append(("render_new_history_%s_%s" % (p, sz),
                         "render %s history %s: full, rows changed" % (sz, p)))  # fmt: skip
        rows.append(("uibench_model_ui_" + sz, "heap for demo model + Ui %s (uibench)" % sz))
    return rows


def _num(v):
    if v is None:
        return "-"
    if v == int(v):
        return "%d" % v
    return "%.1f" % v


def table(header, rows):
    # Markdown table; rows = lists of cells (str).
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def min_heap_cell(m):
    if m["min"] is None:
        return "fails at %s" % heap_arg(m["fail"])
    if m["resolution"] is None or m["resolution"] > STEP:
        return "<= " + heap_arg(m["min"])  # not converged to the grid
    return heap_arg(m["min"])


def day_only_cell(m):
    return day_only_text(day_only_of(m["runs"]))


def day_only_text(d):
    if not d:
        return "same"
    cell = min_heap_cell(d)
    if d["fail"] is not None:
        cell += " (fails %s%s)" % (heap_arg(d["fail"]), ", inferred" if d["inferred"] else "")
    return cell


def fail_cell(m):
    if m["fail"] is None:
        return "-"
    return heap_arg(m["fail"]) + (" (inferred)" if m["fail_inferred"] else "")


def budget_cell(m):
    # live peak at the budget; if the budget failed (or for unix64, which has none), at the
    # first heap that passed
    b = m["at_budget"]
    runs = m["runs"]
    first = next((r for r in runs if r["passed"]), None)
    cell = ""
    if b is not None:
        if b["passed"]:
            return "%s @%s" % (kb(b["live_peak"]), heap_arg(b["heap"]))
        cell = "FAIL @%s" % heap_arg(b["heap"])
    if first is not None:
        cell += ("; " if cell else "") + "%s @%s" % (
            kb(first["live_peak"]),
            heap_arg(first["heap"]),
        )
    return cell or "-"


def min_heap_table(results):
    rows = []
    for m in results:
        rows.append([
            m["config"], m["interpreter"], min_heap_cell(m), fail_cell(m),
            "-" if m["resolution"] is None else heap_arg(m["resolution"]),
            kb(m["live_peak_at_min"]), budget_cell(m), day_only_cell(m), str(len(m["runs"])),
        ])  # fmt: skip
    header = ["config", "interpreter", "min heap (day)", "largest fail", "resolution",
              "live peak @min", "live peak @budget", "stop failures excluded", "runs"]  # fmt: skip
    return table(header, rows)


def week_table(weeks):
    rows = []
    for w in weeks:
        rows.append([w["config"], w["interpreter"], heap_arg(w["heap"]),
                     "pass" if w["passed"] else "FAIL: " + (w["reason"] or "?")[:80],
                     kb(w["live_peak"]), kb(w["peak"]), "%d s" % w["real_s"]])  # fmt: skip
    return table(["config", "interpreter", "heap", "week", "live peak", "alloc peak", "real"],
                 rows)  # fmt: skip


def import_table(imports, kinds):
    groups = []
    for k in kinds:
        for g in imports[k]["groups"]:
            if g not in groups:
                groups.append(g)
    rows = [[g] + [kb(imports[k]["groups"].get(g)) for k in kinds] for g in groups]
    rows.append(["**total** (retained after all imports)"]
                + ["**%s**" % kb(imports[k]["total"]) for k in kinds])  # fmt: skip
    return table(["package"] + list(kinds), rows)


def import_module_table(imports, kinds):
    names = []
    for k in kinds:
        for m in imports[k]["modules"]:
            if m["module"] not in names:
                names.append(m["module"])
    by = {k: {m["module"]: m for m in imports[k]["modules"]} for k in kinds}

    def cell(k, n):
        m = by[k].get(n)
        if m is None:
            return "-"
        s = "%d / %d" % (m["retained"], m["allocated"])
        return s if m["status"] == "ok" else s + " (" + m["status"][:40] + ")"

    rows = [[n] + [cell(k, n) for k in kinds] for n in names]
    return table(["module (retained / allocated during import, B)"] + list(kinds), rows)


def alloc_table(allocs, kinds, configs):
    rows = []
    for key, label in ALLOC_ROWS + tuple(render_rows(configs)):
        vals = [allocs[k]["values"].get(key) for k in kinds]
        if all(v is None for v in vals):
            continue
        rows.append([label] + [_num(v) for v in vals])
    return table(["bytes allocated per operation"] + list(kinds), rows)


def markdown(data):
    kinds, configs = data["interpreters"], data["configs"]
    out = ["# RAM figures", ""]
    out += [
        "Generated by `python -m host_tools.bench_ram%s` (part of `make bench`) on %s, firmware "
        "sources %s. Do not edit by hand."
        % (" --quick" if data["quick"] else "", data["date"], data["firmware_key"]),  # fmt: skip
        "",
        "Interpreters (docs/toolchain.md): `unix64` = 64-bit unix port running the `.py` source; "
        "`unix32` = 32-bit build running `.mpy` files (bytecode loaded into the heap, as `make "
        "flash` deploys it); `unix32-frozen` = 32-bit build with the firmware frozen in (bytecode "
        "outside the heap, as a board image built from its manifest). Configurations: `pico` = "
        "128x64 mono panel (budget %s), `colour` = 320x240 colour panel with its 150 KB "
        "framebuffer (budget %s)." % (heap_arg(budget("pico")), heap_arg(budget("colour"))),
        "",
        "**Min heap (day)**: the smallest `-X heapsize` on an 8K grid with which the firmware "
        "runs one simulated day of the `%s` scenario (hansim at x%d) with no unexpected exit and "
        "no crash/traceback in its log. Bisected: the first run is at the budget (32-bit; if it "
        "fails, x2, at most twice) or at %s (unix64); the lower bound starts at the first "
        "passing run's live peak rounded down to 8K (*inferred*: no smaller heap can hold what "
        "was live) or the failed budget if larger, then at most %d bisection runs. "
        "**resolution** = min heap - largest failing heap; `<= X` where that is more than 8K "
        "(not converged in the runs allowed: the minimum lies between the two). Pass/fail near "
        "the edge can depend on timing (GC, fragmentation): treat a converged figure as +-8K. "
        "Keeping up: the firmware's CPU share, its status-line gaps (one per 10 real s) and the "
        "half-hours it closed (2 per simulated half-hour) are checked per run; a run that fell "
        "behind is marked LAGGING. At x1200 the 10 s electricity poll is bound by the simulated "
        "radio's round trip (about 45 ms real, ~50 simulated s per read), not by the firmware."
        % (
            data["scenario"],
            data["speed"],
            heap_arg(UNIX64_UPPER),
            data["max_steps"],
        ),  # fmt: skip
        "",
        "**Live peak**: the firmware's own `heap.live_peak` (state.json at the orderly stop): "
        "`gc.mem_alloc()` right after `gc.collect()`, sampled by the status task once per %d "
        "real seconds (about %d simulated minutes at x%d), so a sample, not a true maximum. "
        "**alloc peak**: `gc.mem_alloc()` high-water (garbage included), sampled 5 times a "
        "second." % (STATUS_PERIOD_S, STATUS_PERIOD_S * data["speed"] // 60, data["speed"]),
        "",
        "## Minimum heap for a simulated day",
        "",
    ]
    out += min_heap_table(data["min_heap"])
    keys = {r.get("firmware_key") for m in data["min_heap"] for r in m["runs"]}
    out += [
        "",
        "**stop failures excluded**: the same runs, counting a run whose only errors came at "
        "the orderly stop (`app.shutdown`: on the unix board its state dump for the bench, "
        "which a real board does not do) as a pass.",
        "",
        "Runs (heap: result, real time%s):" % (", firmware key if it changed" if len(keys) > 1
                                                else ""),
        "",
    ]  # fmt: skip
    for m in data["min_heap"]:
        parts = [
            "%s: %s%s" % (heap_arg(r["heap"]), describe_run(r),
                          " [fw %s]" % r.get("firmware_key", "?")[:6] if len(keys) > 1 else "")
            for r in m["runs"]
        ]  # fmt: skip
        out.append("- %s %s: %s" % (m["config"], m["interpreter"], "; ".join(parts)))
    out += ["", "## One simulated week at the budget", ""]
    if data["week"]:
        out += week_table(data["week"])
    else:
        out.append("(skipped: --quick)")
    out += [
        "",
        "## Import cost per package",
        "",
        "Heap retained by each import after `gc.collect()` (module objects, globals, classes; on "
        "unix32 also the bytecode loaded from `.mpy`; on unix64 the code compiled from source), "
        "summed per package. Imported in order (asyncio, ihd, runtime, zigbee, meters, tenancy, "
        "history, prepay, messages, ota, ui, app, drivers): a module's figure includes what it "
        "imports that was not loaded before. The demo data (`boards/unix/demo.py`) is not in the "
        "firmware package, so not counted.",
        "",
    ]
    out += import_table(data["imports"], kinds)
    errs = ["%s: %s" % (k, e) for k in kinds for e in data["imports"][k]["errors"]]
    if errs:
        out += ["", "Import errors: " + "; ".join(errs)]
    out += [
        "",
        "## Bytes allocated per operation",
        "",
        "`gc.mem_alloc()` delta with the GC disabled around N iterations after a warm-up, divided "
        "by N (`host_tools/bench_ram.py` ALLOC_SCRIPT, plus `boards/unix/stackbench.py` and "
        "`uibench.py`). Frames: real ASH DATA frames with an EZSP v13 incomingMessageHandler "
        "through the real Ash -> Ezsp -> Ncp -> Zcl objects (transmit stubbed; reports with the "
        "default response disabled, as meters send them). Reading: the same report with the "
        "meters service bound, inside the open half-hour at 20:01 (40 half-hours stored today), "
        "over three histories: a stub, a `history.view.HistoryView` over a HistoryStore on a "
        "RAM block device, and that HistoryStore itself. Renders: `Ui.step()` into the "
        "framebuffer on the demo model, its history rows computed once and handed out by "
        "reference as HistoryView does (the demo source recomputes them per call, in big ints "
        "on 32-bit; uibench's alloc figures include that and are in ram.json only); *rows "
        "changed* bumps the source's version before each render (panel push not included).",
        "",
    ]
    out += alloc_table(data["alloc"], kinds, configs)
    errs = ["%s: %s" % (k, e) for k in kinds for e in data["alloc"][k]["errors"]]
    if errs:
        out += ["", "Measurement errors: " + "; ".join(errs)]
    out += ["", "## Per module", ""]
    out += import_module_table(data["imports"], kinds)
    if data.get("notes"):
        out += ["", "## Notes", ""] + ["- " + n for n in data["notes"]]
    return out


# ---------------------------------------------------------------- main


def run(quick=False, configs=CONFIGS, kinds=KINDS, out_md=os.path.join(paths.ROOT, "docs",
        "ram.md"), speed=SPEED, max_steps=None, week=None):  # fmt: skip
    # The whole RAM bench. -> the markdown lines (also written to out_md unless "", and to
    # OUT_JSON).
    from host_tools import upy32

    t_start = time.monotonic()
    steps = max_steps if max_steps is not None else (3 if quick else 5)
    key0 = upy32.source_key()[:12]
    data = {"date": dt.datetime.now().strftime("%Y-%m-%d %H:%M"), "quick": quick,
            "configs": list(configs), "interpreters": list(kinds), "scenario": SCENARIO,
            "speed": speed, "max_steps": steps, "firmware_key": key0, "notes": []}  # fmt: skip
    interps = {k: paths.interpreter(k) for k in kinds}
    data["imports"] = {}
    data["alloc"] = {}
    for k in kinds:
        _say("bench_ram: imports on %s ... " % k, end="")
        t = time.monotonic()
        data["imports"][k] = r = import_costs(interps[k])
        _say("%s total, %d modules%s %d s" % (kb(r["total"]), len(r["modules"]),
             ", %d errors" % len(r["errors"]) if r["errors"] else "",
             time.monotonic() - t))  # fmt: skip
        _say("bench_ram: allocation per frame/reading/render on %s ... " % k, end="")
        t = time.monotonic()
        data["alloc"][k] = a = alloc_figures(interps[k], configs)
        v = a["values"]
        _say("frame %s B, reading %s B%s %d s" % (_num(v.get("rx_report_value")),
             _num(v.get("reading_report_stub")), ", %d errors" % len(a["errors"]) if a["errors"]
             else "", time.monotonic() - t))  # fmt: skip
    data["min_heap"] = []
    for c in configs:
        for k in kinds:
            n = 0 if (quick and k == "unix64") else steps
            data["min_heap"].append(min_heap(c, k, n, speed))
    data["week"] = []
    do_week = (not quick) if week is None else week
    if do_week and "unix32-frozen" in kinds:
        for c in configs:
            run_w = progress_runner(c, "unix32-frozen", 7, speed, label="week")
            data["week"].append(run_w(budget(c)))
    key1 = upy32.source_key()[:12]
    keys = sorted({r["firmware_key"] for m in data["min_heap"] for r in m["runs"]} | {key0, key1})
    if len(keys) > 1:
        data["notes"].append(
            "the firmware sources changed while the bench ran (keys %s): runs may have used "
            "different firmware" % ", ".join(keys)
        )
    data["real_s"] = round(time.monotonic() - t_start)
    lines = markdown(data)
    os.makedirs(os.path.dirname(OUT_JSON), exist_ok=True)
    with open(OUT_JSON, "w") as f:
        json.dump(data, f, indent=1)
    if out_md:
        with open(out_md, "w") as f:
            f.write("\n".join(lines) + "\n")
    _say("bench_ram: done in %d s: %s, %s" % (data["real_s"], out_md or "-", OUT_JSON))
    return lines


def _csv(text, allowed, what):
    items = [s.strip() for s in text.split(",") if s.strip()]
    bad = [s for s in items if s not in allowed]
    if bad:
        raise SystemExit("unknown %s %s; choose from %s" % (what, ", ".join(bad),
                                                            ", ".join(allowed)))  # fmt: skip
    return items


@cli.guarded("bench_ram")
def main(argv=None):
    ap = cli.ArgumentParser(description="RAM figures per configuration and interpreter")
    ap.add_argument("--quick", action="store_true",
                    help="3 bisection runs on 32-bit, one unix64 run at 2M, no week")  # fmt: skip
    ap.add_argument("--config", default=",".join(CONFIGS), help="comma list: pico,colour")
    ap.add_argument("--interpreter", default=",".join(KINDS), help="comma list of kinds")
    ap.add_argument("--out", default=os.path.join(paths.ROOT, "docs", "ram.md"),
                    help="markdown output ('' for none)")  # fmt: skip
    ap.add_argument("--speed", type=int, default=SPEED, help="simulated s per real s")
    ap.add_argument("--steps", type=int, help="bisection runs after the first pass")
    ap.add_argument(
        "--week",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="the unix32-frozen week at the budget (default: not with --quick)",
    )
    ap.add_argument("--render", metavar="JSON",
                    help="only write the markdown again from a ram.json (no runs)")  # fmt: skip
    a = ap.parse_args(argv)
    if a.render:
        with open(a.render) as f:
            lines = markdown(json.load(f))
        if a.out:
            with open(a.out, "w") as f:
                f.write("\n".join(lines) + "\n")
        print("\n".join(lines))
        return 0
    lines = run(quick=a.quick, configs=_csv(a.config, CONFIGS, "config"),
                kinds=_csv(a.interpreter, KINDS, "interpreter"), out_md=a.out,
                speed=a.speed, max_steps=a.steps, week=a.week)  # fmt: skip
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
