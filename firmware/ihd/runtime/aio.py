# asyncio helpers both interpreters run: MicroPython's asyncio has wait_for_ms, CPython's (the
# portable tests) only wait_for in seconds.
import asyncio


def wait_ms(aw, timeout_ms):
    # -> awaitable that raises asyncio.TimeoutError after timeout_ms
    if hasattr(asyncio, "wait_for_ms"):
        return asyncio.wait_for_ms(aw, timeout_ms)
    return asyncio.wait_for(aw, timeout_ms / 1000)
