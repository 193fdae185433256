"""CLI: python -m host_tools.hansim --scenario <name|path> [--tcp HOST:PORT | --pty |
--serial DEV] [--control HOST:PORT] [--pcap FILE] [--speed N] [--ezsp-version 13|14]
[--corrupt RATE]"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from typing import List, Optional, Tuple

from host_tools import cli

from .scenario import ScenarioError, load
from .sim import Simulator


def _hostport(text: str) -> Tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError("expected HOST:PORT, got %r" % text)
    if host not in ("127.0.0.1", "localhost", "::1", "[::1]"):
        raise argparse.ArgumentTypeError("hansim only listens on loopback, got %r" % host)
    return host.strip("[]"), int(port)


def _rate(text: str) -> float:
    v = float(text)
    if not 0 <= v < 1:
        raise argparse.ArgumentTypeError("rate must be in [0, 1)")
    return v


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    ap = cli.ArgumentParser(
        prog="python -m host_tools.hansim",
        description="Simulated EmberZNet NCP + GB smart-metering HAN",
    )
    ap.add_argument("--scenario", default="default", help="built-in name or JSON path")
    link = ap.add_mutually_exclusive_group()
    link.add_argument(
        "--tcp", type=_hostport, metavar="HOST:PORT", help="serve ASH over TCP (port 0 = pick one)"
    )
    link.add_argument("--pty", action="store_true", help="serve ASH on a new pseudo-terminal")
    link.add_argument("--serial", metavar="DEV", help="serve ASH on a real serial port")
    ap.add_argument("--baudrate", type=int, default=115200, help="for --serial")
    ap.add_argument("--rtscts", action="store_true", help="hardware flow control (--serial)")
    ap.add_argument(
        "--control",
        type=_hostport,
        metavar="HOST:PORT",
        help="line-based JSON control channel (port 0 = pick one)",
    )
    ap.add_argument("--pcap", metavar="FILE", help="write HAN APS frames as 802.15.4 pcap")
    ap.add_argument("--speed", type=float, help="simulated seconds per real second")
    ap.add_argument("--ezsp-version", type=int, choices=(13, 14), help="NCP EZSP version")
    ap.add_argument(
        "--corrupt",
        type=_rate,
        default=0.0,
        help="per-byte loss/corruption probability on the link",
    )
    ap.add_argument("-v", "--verbose", action="count", default=0)
    args = ap.parse_args(argv)
    if not (args.tcp or args.pty or args.serial):
        args.tcp = ("127.0.0.1", 0)
    if args.speed is not None and args.speed <= 0:
        ap.error("--speed must be positive")
    return args


async def amain(args: argparse.Namespace) -> int:
    try:
        scn = load(args.scenario)
    except (ScenarioError, OSError) as e:
        print("hansim: %s" % e, file=sys.stderr)
        return 2
    sim = Simulator(
        scn,
        speed=args.speed,
        ezsp_version=args.ezsp_version,
        corrupt=args.corrupt,
        pcap_path=args.pcap,
    )
    if args.tcp:
        where = await sim.start_tcp(*args.tcp)
    elif args.pty:
        where = await sim.start_pty()
    else:
        where = await sim.start_serial(args.serial, args.baudrate, args.rtscts)
    line = "hansim listening %s" % where
    if args.control:
        line += " control %s" % await sim.start_control(*args.control)
    sim.start_background()
    print(line, flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await sim.close()
    return 0


@cli.guarded("hansim")
def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(
        level=level, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    return asyncio.run(amain(args))


if __name__ == "__main__":
    sys.exit(main())
