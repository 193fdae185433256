# Read-attributes round trips against hansim (run by host_tools.bench): the real ASH + EZSP + NCP
# + ZCL stack over TCP. Prints latency and ASH frames exchanged per request.
#   micropython boards/unix/linkbench.py PORT N
import asyncio
import sys
import time

from ihd.runtime import counters, log
from ihd.zigbee.ash import Ash
from ihd.zigbee.ezsp import Ezsp
from ihd.zigbee.ncp import Ncp
from ihd.zigbee.zcl.client import Zcl


async def main(port, n):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    ncp = Ncp(Ezsp(Ash(r, w), cmd_timeout_ms=25000))
    zcl = Zcl(ncp)
    ncp.messages.connect(zcl.handle_incoming)
    ncp.start()
    await ncp.wait_ready()
    c0 = counters.snapshot()
    lat = []
    ok = 0
    for _ in range(n):
        t1 = time.ticks_us()
        got = await zcl.read_attributes(0x1234, 1, 0x0702, (0x0000, 0x0400))
        lat.append(time.ticks_diff(time.ticks_us(), t1))
        ok += got is not None
    c1 = counters.snapshot()
    tx = c1["ash.tx_data"] - c0["ash.tx_data"]
    rx = c1["ash.rx_data"] - c0["ash.rx_data"]
    acks = c1["ash.acks_sent"] - c0["ash.acks_sent"]
    lat.sort()
    print(
        "LINKBENCH ok=%d/%d median_us=%d p90_us=%d ash_data_tx_per_req=%.2f"
        " ash_data_rx_per_req=%.2f acks_per_req=%.2f"
        % (ok, n, lat[n // 2], lat[n * 9 // 10], tx / n, rx / n, acks / n)
    )
    ncp.stop()


log.set_level(log.ERROR)
asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
