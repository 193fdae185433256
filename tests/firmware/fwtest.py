# Tiny helpers shared by firmware tests on both interpreters (MicroPython unix port and CPython).
import sys

IS_UPY = sys.implementation.name == "micropython"

try:  # pytest treats unittest.SkipTest as a skip
    from unittest import SkipTest
except ImportError:

    class SkipTest(Exception):
        pass


def raises(exc_type, fn, *args, **kwargs):
    try:
        fn(*args, **kwargs)
    except exc_type as e:
        return e
    raise AssertionError("expected %s" % exc_type.__name__)


def run(coro):
    # Run a coroutine to completion on a fresh event loop (both interpreters).
    import asyncio

    try:
        return asyncio.run(coro)
    finally:
        if IS_UPY:
            asyncio.new_event_loop()


class HeapLocked:
    # `with HeapLocked():` fails the test if the block allocates (MicroPython only;
    # a no-op under CPython, where allocation is not observable this way).
    def __enter__(self):
        if IS_UPY:
            import micropython

            micropython.heap_lock()
        return self

    def __exit__(self, et, ev, tb):
        if IS_UPY:
            import micropython

            micropython.heap_unlock()
        return False


def heap_used():
    import gc

    gc.collect()
    return gc.mem_alloc()
