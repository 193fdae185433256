# Wiring of services and tasks. Knows no pins (the board module does) and no bytes (the layers do).
import asyncio
import gc

import ihd
from ihd.runtime import clock, counters, log
from ihd.runtime.supervisor import Supervisor, install_loop_handler


class App:
    def __init__(self, board):
        self.board = board
        self.sup = Supervisor()
        self.started_ms = clock.ticks_ms()

    async def status_task(self):
        # Periodic one-line health summary: heap, task restarts, error counters.
        period_s = getattr(self.board, "STATUS_PERIOD_S", 60)
        while True:
            gc.collect()
            restarts = sum(s[2] for s in self.sup.status())
            bad = sum(v for k, v in counters.snapshot().items() if "err" in k or "bad" in k)
            log.info(
                "app",
                "up %d s, heap free %d, restarts %d, errors %d",
                clock.ticks_diff_ms(self.started_ms) // 1000,
                gc.mem_free(),
                restarts,
                bad,
            )
            await asyncio.sleep(period_s)

    async def run(self):
        install_loop_handler()
        log.info("app", "IHD firmware %s on %s", ihd.VERSION, self.board.NAME)
        self.sup.spawn("status", self.status_task)
        hook = getattr(self.board, "start", None)
        if hook is not None:
            await hook(self)
        while True:
            await asyncio.sleep(3600)


def main(board):
    gc.collect()
    try:
        asyncio.run(App(board).run())
    finally:
        asyncio.new_event_loop()
