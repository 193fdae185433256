# The harness itself: runs on both interpreters; heap_lock catches allocation on MicroPython.
import fwtest

PORTABLE = True


def test_interpreters_agree_on_basics():
    import struct

    buf = bytearray(4)
    struct.pack_into("<HH", buf, 0, 0x1234, 0xABCD)
    assert bytes(buf) == b"\x34\x12\xcd\xab"


def test_heap_lock_catches_allocation():
    if not fwtest.IS_UPY:
        raise fwtest.SkipTest("allocation is only observable on MicroPython")
    caught = False
    try:
        with fwtest.HeapLocked():
            _ = [1, 2, 3]
    except MemoryError:
        caught = True
    assert caught


def test_ticks_shim():
    import time

    t0 = time.ticks_ms()
    assert time.ticks_diff(time.ticks_add(t0, 10), t0) == 10
