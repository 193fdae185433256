# Every long-lived task runs under the supervisor: an exception is logged with its traceback and
# the task is restarted after a backoff that doubles up to a cap and resets once the task has run
# cleanly for a while. Nothing a task raises reaches the event loop.
import asyncio
import time

from micropython import const

from ihd.runtime import log

_BACKOFF_MIN_MS = const(500)
_BACKOFF_MAX_MS = const(60000)
_STABLE_MS = const(60000)  # a run this long resets the backoff


class Supervised:
    def __init__(self, name, factory):
        self.name = name
        self.factory = factory  # () -> coroutine
        self.restarts = 0
        self.last_error = None
        self.running = False
        self.done = False
        self.task = None  # type: asyncio.Task | None


class Supervisor:
    def __init__(self, backoff_min_ms=_BACKOFF_MIN_MS, backoff_max_ms=_BACKOFF_MAX_MS):
        self.tasks = []
        self._min_ms = backoff_min_ms
        self._max_ms = backoff_max_ms

    def spawn(self, name, factory):
        s = Supervised(name, factory)
        self.tasks.append(s)
        s.task = asyncio.create_task(self._run(s))
        return s

    async def _run(self, s):
        backoff_ms = self._min_ms
        while True:
            t0 = time.ticks_ms()
            s.running = True
            try:
                await s.factory()
                s.running = False
                s.done = True
                log.info("sup", "task %s finished", s.name)
                return
            except asyncio.CancelledError:
                s.running = False
                raise
            except Exception as e:
                s.running = False
                s.restarts += 1
                s.last_error = repr(e)
                log.exc("sup", e, "task %s crashed (restart %d)", s.name, s.restarts)
            if time.ticks_diff(time.ticks_ms(), t0) > _STABLE_MS:
                backoff_ms = self._min_ms
            await asyncio.sleep_ms(backoff_ms)
            backoff_ms = min(backoff_ms * 2, self._max_ms)

    def status(self):
        # [(name, running, restarts, last_error)] for the status screen.
        return [(s.name, s.running, s.restarts, s.last_error) for s in self.tasks]

    def cancel_all(self):
        for s in self.tasks:
            if s.task is not None:
                try:
                    s.task.cancel()
                except RuntimeError:  # the task interrupted by Ctrl-C cannot cancel itself
                    pass


def install_loop_handler():
    # Anything that escapes a task outside the supervisor is logged, never fatal.
    def handler(loop, context):
        e = context.get("exception")
        if e is not None:
            log.exc("loop", e, "unhandled in event loop")
        else:
            log.error("loop", "%s", context.get("message"))

    asyncio.get_event_loop().set_exception_handler(handler)
