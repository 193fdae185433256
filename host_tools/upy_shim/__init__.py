# CPython compatibility shim for the firmware's pure modules (codecs, state machines, stores,
# layout). Host-only: never staged to a device. install() makes `from micropython import const`,
# time.ticks_* and asyncio.sleep_ms work, and puts firmware/ on sys.path.
import asyncio
import sys
import time
import types

from host_tools import paths

_T0_NS = time.monotonic_ns()
_TICKS_PERIOD = 1 << 30  # MicroPython's small-int ticks period
_TICKS_MAX = _TICKS_PERIOD - 1
_TICKS_HALF = _TICKS_PERIOD // 2


def _ticks_ms():
    return ((time.monotonic_ns() - _T0_NS) // 1_000_000) & _TICKS_MAX


def _ticks_us():
    return ((time.monotonic_ns() - _T0_NS) // 1_000) & _TICKS_MAX


def _ticks_add(t, delta):
    return (t + delta) & _TICKS_MAX


def _ticks_diff(a, b):
    return ((a - b + _TICKS_HALF) & _TICKS_MAX) - _TICKS_HALF


def _identity(f=None, *a, **k):
    return f


def _make_micropython():
    m = types.ModuleType("micropython")
    m.__dict__.update(
        const=lambda x: x,
        native=_identity,
        viper=_identity,
        bytecode=_identity,
        heap_lock=lambda: 0,
        heap_unlock=lambda: 0,
        alloc_emergency_exception_buf=lambda n: None,
        mem_info=lambda *a: None,
        opt_level=lambda *a: 0,
        schedule=lambda f, arg: f(arg),
        kbd_intr=lambda c: None,
    )
    return m


def install():
    if "micropython" not in sys.modules:
        sys.modules["micropython"] = _make_micropython()
    for name, fn in (
        ("ticks_ms", _ticks_ms),
        ("ticks_us", _ticks_us),
        ("ticks_add", _ticks_add),
        ("ticks_diff", _ticks_diff),
        ("sleep_ms", lambda ms: time.sleep(ms / 1000)),
        ("sleep_us", lambda us: time.sleep(us / 1_000_000)),
    ):
        if not hasattr(time, name):
            setattr(time, name, fn)
    if not hasattr(asyncio, "sleep_ms"):

        async def sleep_ms(ms):
            await asyncio.sleep(ms / 1000)

        asyncio.__dict__["sleep_ms"] = sleep_ms
    if paths.FIRMWARE not in sys.path:
        sys.path.insert(0, paths.FIRMWARE)
