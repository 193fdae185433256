# host_tools.bench_ram, the pure parts: heap bisection against a fake runner, sizes, parsing the
# MicroPython scripts' output and the firmware's log, the markdown tables. No simulation runs.
from host_tools import bench_ram as B

K = 1024


def fake(threshold, live=None, log=None):
    # A runner that passes at heap >= threshold; live peak `live` on a pass.
    calls = [] if log is None else log

    def run(heap):
        calls.append(heap)
        ok = heap >= threshold
        return {"heap": heap, "passed": ok, "live_peak": live if ok else None}

    return run, calls


def test_sizes():
    assert B.parse_size("160K") == 160 * K
    assert B.parse_size("2M") == 2 * K * K
    assert B.parse_size("4096") == 4096
    assert B.heap_arg(160 * K) == "160K" and B.heap_arg(2 * K * K) == "2M"
    assert B.heap_arg(1000) == "1000"
    assert B.kb(101376) == "99 KB" and B.kb(None) == "-"
    assert B.floor_step(100 * K) == 96 * K and B.ceil_step(100 * K) == 104 * K
    assert B.ceil_step(96 * K) == 96 * K


def test_bisect_converges_from_the_live_peak():
    # budget 160K passes; live peak 99K -> lower bound 96K inferred; min 136K in 3 steps
    run, calls = fake(133 * K, live=99 * K)
    b = B.bisect_heap(run, 160 * K, 5, infer_lo=B.live_lower_bound)
    assert b["min"] == 136 * K and b["fail"] == 128 * K and b["resolution"] == 8 * K
    assert not b["inferred"]  # 128K was run and failed
    assert calls == [160 * K, 128 * K, 144 * K, 136 * K]
    assert [h for h, _ in b["runs"]] == calls


def test_bisect_step_limit_reports_resolution():
    run, calls = fake(500 * K, live=400 * K)
    b = B.bisect_heap(run, 2 * K * K, 2, infer_lo=B.live_lower_bound)
    # [400K, 2048K] in 2 bisection runs: 2 of the 206 grid steps narrowed to a quarter
    assert len(calls) == 3
    assert b["min"] - b["fail"] == b["resolution"] > 8 * K
    assert b["fail"] < 500 * K <= b["min"]


def test_bisect_no_steps_is_one_run():
    run, calls = fake(100 * K, live=90 * K)
    b = B.bisect_heap(run, 2 * K * K, 0, infer_lo=B.live_lower_bound)
    assert calls == [2 * K * K] and b["min"] == 2 * K * K
    assert b["fail"] == 88 * K and b["inferred"]


def test_bisect_inferred_bound_when_everything_passes():
    # each probe passes down to lo + 8K: the lower bound is never run (inferred)
    run, calls = fake(0, live=99 * K)
    b = B.bisect_heap(run, 160 * K, 10, infer_lo=B.live_lower_bound)
    assert b["min"] == 104 * K and b["fail"] == 96 * K and b["inferred"]
    assert b["resolution"] == 8 * K


def test_bisect_grows_when_the_budget_fails():
    # 320K fails, 480K passes with 350K live: the live peak (344K) beats the failed 320K
    run, calls = fake(400 * K, live=350 * K)
    b = B.bisect_heap(run, 320 * K, 5, infer_lo=B.live_lower_bound, grow=lambda h: h * 3 // 2)
    assert calls == [320 * K, 480 * K, 408 * K, 376 * K, 392 * K, 400 * K]
    assert b["min"] == 400 * K and b["fail"] == 392 * K and not b["inferred"]
    # a live peak below the failed size leaves the failed size as the bound
    run, calls = fake(400 * K, live=200 * K)
    b = B.bisect_heap(run, 320 * K, 1, infer_lo=B.live_lower_bound, grow=lambda h: h * 3 // 2)
    assert calls == [320 * K, 480 * K, 400 * K] and b["fail"] == 320 * K
    assert b["resolution"] == 80 * K


def test_bisect_gives_up_after_growing():
    run, calls = fake(10 * K * K)
    b = B.bisect_heap(run, 320 * K, 5, grow=lambda h: h * 2, max_grow=2)
    assert calls == [320 * K, 640 * K, 1280 * K]
    assert b["min"] is None and b["fail"] == 1280 * K and b["resolution"] is None


def test_bisect_lower_bound_never_reaches_the_upper():
    # a live peak above the passing heap (sampling) still leaves a bound below it
    run, calls = fake(0, live=170 * K)
    b = B.bisect_heap(run, 160 * K, 3, infer_lo=B.live_lower_bound)
    assert b["fail"] == 152 * K and b["min"] == 160 * K and calls == [160 * K]


def test_day_only_min_counts_stop_failures_as_passes():
    def r(heap, passed, at_stop=False):
        return {"heap": heap, "passed": passed, "failed_at_stop": at_stop}

    # 160 pass, 128 fails in the day, 144 fails only at the stop, 152 pass
    runs = [
        (h * K, r(h * K, p, s))
        for h, p, s in (
            (160, True, False),
            (128, False, False),
            (144, False, True),
            (152, True, False),
        )
    ]
    d = B.day_only_min(runs, 104 * K)
    assert d == {"min": 144 * K, "fail": 128 * K, "inferred": False, "resolution": 16 * K}
    assert B.day_only_text(d) == "<= 144K (fails 128K)"
    # every probe below the budget failed only at the stop: the inferred bound stays
    runs = [
        (h * K, r(h * K, p, s))
        for h, p, s in (
            (320, True, False),
            (288, False, True),
            (304, False, True),
            (312, True, False),
        )
    ]
    d = B.day_only_min(runs, 256 * K)
    assert d == {"min": 288 * K, "fail": 256 * K, "inferred": True, "resolution": 32 * K}
    assert B.day_only_text(d) == "<= 288K (fails 256K, inferred)"
    d = B.day_only_min(runs, None)
    assert d is not None and d["fail"] is None
    # the live-peak bound beats a day failure far below
    runs = [
        (h * K, r(h * K, p, s))
        for h, p, s in (
            (320, False, False),
            (640, True, False),
            (544, False, True),
            (560, True, False),
        )
    ]
    d = B.day_only_min(runs, 520 * K)
    assert d == {"min": 544 * K, "fail": 520 * K, "inferred": True, "resolution": 24 * K}
    # no stop-only failure: nothing to add
    assert B.day_only_min([(160 * K, r(160 * K, True))], 96 * K) is None
    assert B.day_only_text(None) == "same"


def test_failure_reason_from_traceback():
    log = (
        "1397326 W app: history keys fresh\n"
        "Traceback (most recent call last):\n"
        '  File "/tmp/x/main.py", line 12, in <module>\n'
        '  File "ihd/ui/screens.py", line 936, in make_all\n'
        "MemoryError: memory allocation failed, allocating 1280 bytes\n"
    )
    r = B.failure_reason(log)
    assert r == (
        "MemoryError: memory allocation failed, allocating 1280 bytes "
        "(at ihd/ui/screens.py:936 make_all)"
    )
    assert B.failure_reason("1 E sup: task meters crashed\n") == "1 E sup: task meters crashed"
    assert B.failure_reason("all fine\n") is None


def test_only_at_stop():
    stop = (
        "1 I app: up 70 s\n"
        "2 E app: at shutdown: MemoryError('memory allocation failed',)\n"
        "=== boot 1 ===\n"
        "2 E app: at shutdown: MemoryError('memory allocation failed',)\n"
        "Traceback (most recent call last):\n"
        '  File "ihd/runtime/counters.py", line 38, in snapshot\n'
        "MemoryError: memory allocation failed, allocating 1016 bytes\n"
    )
    assert B.only_at_stop(stop)
    assert not B.only_at_stop("1 E sup: task meters crashed (restart 1)\n" + stop)
    assert not B.only_at_stop("all fine\n")
    assert not B.only_at_stop("Traceback (most recent call last):\n")


def test_keepup_from_status_lines():
    log = "\n".join(
        "%d I app: up %d s, utc 2026-01-01T00:00:00Z, heap free 1000, restarts 0, errors 0"
        % (i, up)
        for i, up in enumerate((0, 10, 20, 31, 41))
    )
    k = B.keepup(log + "\n1 I ncp: network up\n")
    assert k == {"status_lines": 5, "max_gap_s": 11, "lagging": False}
    assert B.keepup(log + "\n9 I app: up 70 s, utc -, heap free 5, restarts 0")["lagging"]
    assert B.keepup("")["max_gap_s"] is None
    assert B.status_lines(log)[1] == (10, "2026-01-01T00:00:00Z", 1000)


def test_import_list_and_groups():
    mods = B.import_list()
    assert mods[:3] == ["asyncio", "ihd", "ihd.runtime"]
    z = mods.index("ihd.zigbee.ash")
    assert mods[z : z + 3] == ["ihd.zigbee.ash", "ihd.zigbee.ezsp", "ihd.zigbee.ncp"]
    assert mods.index("ihd.state.model") < mods.index("ihd.ui.display") < mods.index("ihd.app")
    assert mods.index("ihd.app") < mods.index("drivers")
    assert "ihd.ui.demo" not in mods and "ihd.ui.fonts.sans12" in mods
    assert len(mods) == len(set(mods))
    assert B.group_of("ihd.zigbee.zcl.client") == "ihd.zigbee"
    assert B.group_of("ihd.ui") == "ihd.ui" and B.group_of("ihd.app") == "ihd.app"
    assert B.group_of("drivers.st7789") == "drivers" and B.group_of("asyncio") == "asyncio"


def test_parse_imports():
    text = (
        "IMPORT_BASE 2000 100000\n"
        "IMPORT asyncio 2064 3000 ok\n"
        "IMPORT ihd.zigbee.ash 5000 9000 ok\n"
        "IMPORT ihd.zigbee.zcl.client 7000 12000 ok\n"
        "IMPORT drivers.st7789 300 400 ImportError: no module named 'framebuf'\n"
        "noise\n"
        "IMPORT_END 16364 85000\n"
    )
    r = B.parse_imports(text)
    assert r["base"] == (2000, 100000) and r["total"] == 14364
    assert r["groups"] == {"asyncio": 2064, "ihd.zigbee": 12000, "drivers": 300}
    assert list(r["groups"]) == ["asyncio", "ihd.zigbee", "drivers"]
    assert r["modules"][1] == {
        "module": "ihd.zigbee.ash",
        "retained": 5000,
        "allocated": 9000,
        "status": "ok",
    }
    assert r["errors"] == ["drivers.st7789: ImportError: no module named 'framebuf'"]
    assert B.parse_imports("")["total"] is None


def test_import_script_is_formatted():
    src = B.IMPORT_SCRIPT % (["asyncio", "ihd"],)
    assert "MODS = ['asyncio', 'ihd']" in src
    assert 'print("IMPORT %s %d %d %s" % (name' in src
    compile(src, "import_script", "exec")  # also valid CPython syntax
    compile(B.ALLOC_SCRIPT, "alloc_script", "exec")


def test_parse_alloc_stackbench_uibench():
    vals, errs, checks = B.parse_alloc(
        "ALLOC rx_report_value 0.0\nALLOC reading_fold 12.5\n"
        "ALLOC_ERROR readings AttributeError: x\nALLOC_CHECK reports=448\n"
    )
    assert vals == {"rx_report_value": 0.0, "reading_fold": 12.5}
    assert errs == ["readings AttributeError: x"] and checks == ["reports=448"]
    sb = "STACKBENCH decode_fps=9000 encode_fps=8000 alloc_per_rx_frame=16 frames=500 zcl_rx=500"
    assert B.parse_stackbench(sb) == 16 and B.parse_stackbench("") is None
    ub = (
        "320x240: heap for model+ui 8464 B (framebuffer 153600 B)\n"
        "  full-frame fill 100 us, full push (swap+bus) 50 us, 153600 B\n"
        "  home            render   4000 us =  40.0 x fill, alloc  1536 B, push 153600 B\n"
        "  history_8d      render   9000 us =  90.0 x fill, alloc 51232 B, push 153600 B\n"
        "  home demand change    render   300 us, push    900 B\n"
        "128x64: heap for model+ui 3744 B (framebuffer 1024 B)\n"
        "  home            render    900 us =   9.0 x fill, alloc   704 B, push   1024 B\n"
    )
    assert B.parse_uibench(ub) == {
        "320x240": {"_model_ui": 8464, "home": 1536, "history_8d": 51232},
        "128x64": {"_model_ui": 3744, "home": 704},
    }


def _run(heap, passed=True, live=99 * K, reason=None):
    return {"heap": heap, "passed": passed, "live_peak": live if passed else None,
            "peak": 150 * K if passed else None, "reason": reason, "real_s": 72.4,
            "fw_cpu_share": 0.05, "lagging": False}  # fmt: skip


def test_tables_and_markdown():
    budget_run = _run(160 * K)
    mh = {
        "config": "pico", "interpreter": "unix32-frozen", "budget": 160 * K, "min": 136 * K,
        "fail": 128 * K, "fail_inferred": False, "resolution": 8 * K,
        "live_peak_at_min": 98 * K, "peak_at_min": 130 * K, "first": budget_run,
        "at_budget": budget_run,
        "runs": [budget_run, _run(128 * K, False, reason="task crashed"),
                 _run(136 * K, live=98 * K)],
    }  # fmt: skip
    failed = _run(320 * K, False, reason="firmware exited early (rc 1)")
    mh2 = {
        "config": "colour", "interpreter": "unix32", "budget": 320 * K, "min": None,
        "fail": 720 * K, "fail_inferred": False, "resolution": None, "live_peak_at_min": None,
        "peak_at_min": None, "first": failed, "at_budget": failed, "runs": [failed],
    }  # fmt: skip
    mh3 = dict(mh, interpreter="unix64", min=2 * K * K, fail=336 * K, fail_inferred=True,
               resolution=1712 * K, at_budget=None)  # fmt: skip
    assert B.min_heap_table([mh3])[2].startswith("| pico | unix64 | <= 2M | 336K (inferred) |")
    t = B.min_heap_table([mh, mh2])
    assert t[0].startswith("| config | interpreter | min heap (day) |")
    assert t[1].count("---") == 9
    assert t[2] == "| pico | unix32-frozen | 136K | 128K | 8K | 98 KB | 99 KB @160K | same | 3 |"
    assert t[3] == "| colour | unix32 | fails at 720K | 720K | - | - | FAIL @320K | same | 1 |"
    at_stop = dict(_run(128 * K, False, reason="x"), failed_at_stop=True)
    stop_mh = dict(mh, runs=[budget_run, at_stop, _run(136 * K)])
    assert B.day_only_cell(stop_mh) == "<= 128K (fails 96K, inferred)"
    grown = dict(mh2, runs=[failed, _run(640 * K, live=359 * K)])
    assert B.budget_cell(grown) == "FAIL @320K; 359 KB @640K"
    assert B.budget_cell(mh3) == "99 KB @160K"  # (unix64: the first pass, at 2M in a real run)
    assert (
        B.describe_run(budget_run) == "pass (live peak 99 KB, alloc peak 150 KB, fw cpu 5%) 72 s"
    )
    assert B.describe_run(failed) == "FAIL: firmware exited early (rc 1) 72 s"
    kinds = ["unix32", "unix32-frozen"]
    imports = {
        "unix32": B.parse_imports("IMPORT_BASE 0 0\nIMPORT ihd.app 7248 9000 ok\n"
                                  "IMPORT_END 7248 0"),
        "unix32-frozen": B.parse_imports("IMPORT_BASE 0 0\nIMPORT ihd.app 1184 1500 ok\n"
                                         "IMPORT_END 1184 0"),
    }  # fmt: skip
    it = B.import_table(imports, kinds)
    assert it[2] == "| ihd.app | 7 KB | 1 KB |"
    assert it[3] == "| **total** (retained after all imports) | **7 KB** | **1 KB** |"
    allocs = {
        "unix32": {"values": {"rx_report_value": 0.0, "render_full_home_128x64": 704.0},
                   "errors": []},
        "unix32-frozen": {"values": {"rx_report_value": 0.0, "reading_fold": 2.5},
                          "errors": []},
    }  # fmt: skip
    at = B.alloc_table(allocs, kinds, ["pico"])
    assert "| rx Report Attributes frame, on_report(value) handler | 0 | 0 |" in at
    assert "| meter reading: MeterService.fold() alone (history stub) | - | 2.5 |" in at
    assert "| render 128x64 home: full (redraw + step) | 704 | - |" in at
    assert not any("320x240" in line for line in at)
    data = {
        "date": "2026-01-15 18:42", "quick": True, "configs": ["pico", "colour"],
        "interpreters": kinds, "scenario": "default", "speed": 1200, "max_steps": 3,
        "firmware_key": "abc", "min_heap": [mh, mh2], "week": [], "imports": imports,
        "alloc": allocs, "notes": ["firmware changed"],
    }  # fmt: skip
    md = B.markdown(data)
    assert md[0] == "# RAM figures"
    assert any(line.startswith("| pico | unix32-frozen | 136K |") for line in md)
    assert "(skipped: --quick)" in md
    assert "- firmware changed" in md
    assert any("128K: FAIL: task crashed" in line for line in md)


def test_week_table():
    w = dict(_run(160 * K), config="pico", interpreter="unix32-frozen", real_s=512.3)
    bad = dict(_run(320 * K, False, reason="task meters crashed"), config="colour",
               interpreter="unix32-frozen")  # fmt: skip
    t = B.week_table([w, bad])
    assert t[2] == "| pico | unix32-frozen | 160K | pass | 99 KB | 150 KB | 512 s |"
    assert t[3] == "| colour | unix32-frozen | 320K | FAIL: task meters crashed | - | - | 72 s |"
