# `make bench`: performance figures (counts and ratios where wall time is noisy).
#   stack     ASH+EZSP+ZCL decode/encode frames per second, heap per received frame (unix port)
#   link      read-attributes round trips against hansim: latency, ASH frames per request
#   history   block programs per appended record, truncate cost on a full 13-month store
#   ui        render time per screen relative to a full-frame fill, bytes pushed per update
#   sim       a simulated week: heap peak, CoT application latency (use --quick for a day)
#   ota       download efficiency, device time per block, flash writes per image
#   sig       ECDSA P-256 verification per interpreter kind: time, steps, longest step, event-loop
#             stall, heap allocated (host_tools/bench_sig.py)
#   ram       per board configuration and interpreter kind: minimum heap for a simulated day,
#             live heap peak, import cost per package, bytes per frame / reading / render
#             (host_tools/bench_ram.py; writes docs/ram.md and build/bench/ram.json)
import os
import re
import subprocess
import sys
import tempfile

from host_tools import cli, paths
from host_tools.run import start_hansim


def _upy(args, timeout_s=600, heap=None):
    cmd = [paths.micropython_exe()] + (["-X", "heapsize=" + heap] if heap else []) + args
    env = dict(
        os.environ, MICROPYPATH=paths.micropypath(extra=[os.path.join(paths.TESTS, "firmware")])
    )
    p = subprocess.run(
        cmd, cwd=paths.ROOT, env=env, capture_output=True, text=True, timeout=timeout_s
    )
    if p.returncode:
        raise RuntimeError("%s failed:\n%s%s" % (args, p.stdout[-2000:], p.stderr[-2000:]))
    return p.stdout


def bench_stack():
    out = _upy([os.path.join(paths.BOARDS, "unix", "stackbench.py"), "5000"])
    return [line for line in out.splitlines() if line.startswith("STACKBENCH")]


def bench_link():
    hansim, ncp = start_hansim("default", 1)
    try:
        port = ncp.rpartition(":")[2]
        out = _upy([os.path.join(paths.BOARDS, "unix", "linkbench.py"), port, "100"])
    finally:
        hansim.terminate()
        hansim.wait()
    return [line for line in out.splitlines() if line.startswith("LINKBENCH")]


def bench_history():
    # The history tests print their measured costs; run just those two.
    out = _upy(
        [
            os.path.join(paths.TESTS, "fwrun.py"),
            os.path.join(paths.TESTS, "firmware", "test_history_store.py"),
        ]
        + [
            "test_append_write_cost_per_record",
            "test_full_store_truncate_cost_ram_and_unrecoverable",
        ],
        heap="2M",
    )
    return [line for line in out.splitlines() if "progs" in line]


def bench_ui():
    out = _upy([os.path.join(paths.BOARDS, "unix", "uibench.py")], heap="2M")
    return out.strip().splitlines()


def bench_sim(days):
    from host_tools.simulate import Simulation, parse_until

    out = tempfile.mkdtemp(prefix="ihd-bench-")
    speed = 6000 if days > 1 else 2400
    sim = Simulation("default", out, speed=speed, heapsize="1M")
    try:
        sim.start_hansim()
        start = sim.now()
        sim.start_firmware()
        sim.run_until(parse_until("%dd" % days, start), max_real_s=900)
    finally:
        sim.stop()
    st = sim.state()
    log = sim.log_text()
    lat = re.findall(r"cot \d+ applied in (\d+) ms", log)
    c = st["counters"]
    return [
        "simulated %d day(s) at x%d in a 1 MB heap (64-bit unix build, both framebuffers): "
        "live heap peak %d B after collection (allocation high-water %d B)"
        % (days, speed, st["heap"]["live_peak"], st["heap"]["peak"]),
        "CoT application (truncate + clear + refresh + UI model update): %s ms" % ", ".join(lat),
        "history: %d appended, %d flushes, %d truncations; meters: %d reads; errors: %d"
        % (
            c["history.appended"],
            c["history.flushes"],
            c["history.truncations"],
            c["meters.reads"],
            len(sim.errors()),
        ),
    ]


def bench_ota():
    try:
        from host_tools import bench_ota
    except ImportError:
        return ["(no OTA bench)"]
    r = bench_ota.run()
    return ["%s: %s" % (k, v) for k, v in r.items()]


def bench_sig():
    from host_tools import bench_sig

    return bench_sig.run()


def bench_ram(quick):
    from host_tools import bench_ram

    return bench_ram.run(quick=quick)


@cli.guarded("bench")
def main(argv=None):
    ap = cli.ArgumentParser(description="performance figures")
    ap.add_argument("--quick", action="store_true", help="simulate a day instead of a week")
    ap.add_argument("only", nargs="*", help="stack link history ui sim ota sig ram")
    a = ap.parse_args(argv)
    benches = {
        "stack": bench_stack,
        "link": bench_link,
        "history": bench_history,
        "ui": bench_ui,
        "sim": lambda: bench_sim(1 if a.quick else 7),
        "ota": bench_ota,
        "sig": bench_sig,
        "ram": lambda: bench_ram(a.quick),
    }
    for name, fn in benches.items():
        if a.only and name not in a.only:
            continue
        print("== %s" % name, flush=True)
        for line in fn():
            print("  " + line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
