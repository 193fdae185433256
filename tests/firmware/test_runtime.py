# Runtime skeleton: supervisor restarts, clock conversions, atomic files, config fallback.
import asyncio
import os

import fwtest

PORTABLE = True


def test_supervisor_restarts_crashing_task_and_device_keeps_running():
    from ihd.runtime.supervisor import Supervisor

    runs = []
    beats = []

    async def crasher():
        runs.append(1)
        await asyncio.sleep_ms(1)
        raise ValueError("boom %d" % len(runs))

    async def heartbeat():
        while True:
            beats.append(1)
            await asyncio.sleep_ms(5)

    async def main():
        sup = Supervisor(backoff_min_ms=2, backoff_max_ms=8)
        c = sup.spawn("crasher", crasher)
        sup.spawn("heartbeat", heartbeat)
        await asyncio.sleep_ms(120)
        st = sup.status()
        sup.cancel_all()
        await asyncio.sleep_ms(1)
        return c, st

    c, st = fwtest.run(main())
    assert c.restarts >= 3, c.restarts
    assert "boom" in c.last_error
    assert len(runs) == c.restarts or len(runs) == c.restarts + 1
    assert len(beats) >= 10  # the rest of the device kept running
    names = [s[0] for s in st]
    assert names == ["crasher", "heartbeat"]


def test_supervisor_backoff_grows():
    from ihd.runtime.supervisor import Supervisor

    stamps = []

    async def crasher():
        stamps.append(__import__("time").ticks_ms())
        raise RuntimeError("x")

    async def main():
        sup = Supervisor(backoff_min_ms=4, backoff_max_ms=32)
        sup.spawn("c", crasher)
        await asyncio.sleep_ms(150)
        sup.cancel_all()
        await asyncio.sleep_ms(1)

    fwtest.run(main())
    import time

    gaps = [time.ticks_diff(b, a) for a, b in zip(stamps, stamps[1:])]
    assert len(gaps) >= 3
    assert gaps[2] >= gaps[0]  # doubling backoff, capped


def test_clock_civil_roundtrip():
    from ihd.runtime import clock

    assert clock.civil(0) == (2000, 1, 1, 0, 0, 0)
    # GCS09 implementation time 0x1FC66E20 = 2016-11-22 02:46:56 UTC
    assert clock.civil(0x1FC66E20) == (2016, 11, 22, 2, 46, 56)
    assert clock.iso(0x1C374A80) == "2015-01-01T00:00:00Z"
    for t in (0, 59, 86399, 86400 * 59, 86400 * 60, 0x1FC66E20, 0x7FFFFFFF, 1_000_000_007):
        assert clock.from_civil(*clock.civil(t)) == t
    assert clock.to_unix(0) == 946684800


def test_clock_sync_and_invalid():
    from ihd.runtime import clock

    clock.reset()
    assert clock.now() == 0 and not clock.synced()
    assert not clock.set_utc(0xFFFFFFFF)
    assert clock.set_utc(800000000)
    assert clock.synced() and 800000000 <= clock.now() <= 800000001
    clock.set_source(lambda: 123)
    assert clock.now() == 123
    clock.reset()


def _tmpdir():
    d = "/tmp/ihd-test-%d" % (os.getpid() if hasattr(os, "getpid") else 1)
    try:
        os.mkdir(d)
    except OSError:
        pass
    return d


def test_atomic_roundtrip_and_torn_file():
    from ihd.runtime import atomic

    p = _tmpdir() + "/a.bin"
    atomic.remove(p)
    assert atomic.read(p) is None
    atomic.write(p, b"hello")
    assert atomic.read(p) == b"hello"
    atomic.write(p, b"world!")
    assert atomic.read(p) == b"world!"
    with open(p, "rb") as f:
        raw = f.read()
    with open(p, "wb") as f:  # torn write: truncated body
        f.write(raw[:-2])
    assert atomic.read(p) is None
    atomic.remove(p)


def test_config_defaults_and_corruption():
    from ihd.runtime import atomic
    from ihd.runtime.config import Config

    p = _tmpdir() + "/cfg.json"
    atomic.remove(p)
    c = Config(p)
    assert c.get("tenancy_poll_s") == 1800
    c.set("tenancy_poll_s", 600)
    assert Config(p).get("tenancy_poll_s") == 600
    atomic.write(p, b"{not json")
    assert Config(p).get("tenancy_poll_s") == 1800
    atomic.remove(p)


def test_log_ring_and_lazy_format():
    from ihd.runtime import log

    log.info("t", "value %d", 42)
    log.info("t", "bad format %d", "x")  # never raises
    assert any("value 42" in x for x in log.recent())


def test_clock_scale_fast_forward():
    import time

    from ihd.runtime import clock

    clock.reset()
    clock.set_utc(1000)
    clock.set_scale(100)
    time.sleep_ms(50)
    assert 1004 <= clock.now() <= 1007, clock.now()  # 50 ms real = 5 s simulated
    t0 = time.ticks_ms()
    fwtest.run(clock.sleep_s(2))  # 2 simulated s = 20 ms real
    assert time.ticks_diff(time.ticks_ms(), t0) < 200
    clock.reset()


def test_clock_refuses_every_invalid_marker():
    from ihd.runtime import clock

    clock.reset()
    for bad in (0, 0xFFFFFFFF, 0xFFFFFFFE):
        assert not clock.set_utc(bad), bad
        assert not clock.synced()
    clock.reset()


def test_clock_deadlines_are_monotonic_whatever_the_wall_clock_does():
    # Issue 13: a loop's next deadline computed on the wall clock slept for a year after a
    # hub time jump. clock.deadline() is ticks: a step either way leaves it where it was.
    import time

    from ihd.runtime import clock

    year = 365 * 86400
    clock.reset()
    clock.set_utc(820000000)
    dl = clock.deadline(60)
    assert not clock.due(dl) and 59000 <= clock.left_ms(dl) <= 60000
    clock.set_utc(820000000 - year)
    assert not clock.due(dl) and clock.left_ms(dl) > 59000
    clock.set_utc(820000000 + year)
    assert not clock.due(dl) and clock.left_ms(dl) > 59000
    assert clock.due(clock.deadline(0)) and clock.due(clock.deadline(-5))
    later = clock.deadline(120)
    assert clock.sooner(dl, later) == dl and clock.sooner(later, dl) == dl
    # far-off deadlines are capped inside the ticks range (never wrap to "due")
    assert not clock.due(clock.deadline(10 * year))
    # wait(): until the deadline (x100 fast-forward: 2 s = 20 ms), or the event, or min_s
    clock.set_scale(100)

    async def wait(s, min_s=1):
        await clock.wait(asyncio.Event(), clock.deadline(s), min_s)

    t0 = time.ticks_ms()
    fwtest.run(wait(2))
    assert 15 <= time.ticks_diff(time.ticks_ms(), t0) < 200
    t0 = time.ticks_ms()
    fwtest.run(wait(0, min_s=1))  # due already: still 1 s (10 ms), no busy loop
    assert 5 <= time.ticks_diff(time.ticks_ms(), t0) < 200

    async def both():
        ev = asyncio.Event()

        async def set_soon():
            await asyncio.sleep_ms(10)
            ev.set()

        asyncio.create_task(set_soon())
        await clock.wait(ev, clock.deadline(3600))

    t0 = time.ticks_ms()
    fwtest.run(both())
    assert time.ticks_diff(time.ticks_ms(), t0) < 500
    clock.reset()
