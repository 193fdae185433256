# Interactive UI demo on the unix port: the demo model rendered live in the terminal, driven by
# the keyboard (see keys.py), with the demand ticking so partial redraws are visible.
#   MICROPYPATH=firmware:boards/unix:.frozen .venv/bin/micropython boards/unix/uidemo.py [mono]
# MIT license
import asyncio
import sys

import demo
import keys
from ihd.state import model as M
from ihd.ui.display import Ui
from ihd.ui.input import InputQueue
from term import TermPanel


async def _wiggle(m):
    # Fake live demand so the Home screen shows partial updates.
    k = 0
    while True:
        await asyncio.sleep_ms(2000)
        k += 1
        m.set_demand(M.FUEL_ELEC, 900 + (k * 377) % 1400, m.now())
        m.set_ambient((M.AMBIENT_LOW, M.AMBIENT_MEDIUM, M.AMBIENT_HIGH)[k // 3 % 3])


async def main(mono):
    panel = TermPanel(128, 64, mono=True) if mono else TermPanel(320, 240)
    m = demo.make_model()
    q = InputQueue()
    ui = Ui(panel, m, inputs=q, backlight=panel.backlight, dim_after_ms=30000)
    panel.clear_screen()
    t1 = asyncio.create_task(ui.run())
    t2 = asyncio.create_task(_wiggle(m))
    t3 = asyncio.create_task(keys.run(q))
    await q.quit.wait()  # q posts EV_QUIT
    for t in (t1, t2, t3):
        t.cancel()
    panel.restore()


with keys.RawStdin():
    asyncio.run(main("mono" in sys.argv))
