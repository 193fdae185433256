"""Wiring: scenario -> clock, HAN devices, EZSP NCP, ASH link, transport, control channel."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import tty
from typing import Any, Dict, Optional

from . import ezsp as ez
from .ash import AshNcp
from .han import Han
from .pcap import PcapWriter
from .scenario import Scenario
from .simclock import SimClock, iso_utc, parse_iso_utc, to_zigbee

log = logging.getLogger("hansim")

TICK_S = 0.05


class FaultyLink:
    """Byte-level fault injection on the serial link: each byte (both directions) is, with
    probability `rate`, dropped (half the time) or has one bit flipped. Seeded."""

    def __init__(self, seed: int, rate: float = 0.0):
        self.rate = rate
        self._rng = random.Random(seed)
        self.damaged = 0

    def apply(self, data: bytes) -> bytes:
        if self.rate <= 0:
            return data
        out = bytearray()
        for b in data:
            if self._rng.random() < self.rate:
                self.damaged += 1
                if self._rng.random() < 0.5:
                    continue
                b ^= 1 << self._rng.randrange(8)
            out.append(b)
        return bytes(out)


class Simulator:
    def __init__(
        self,
        scn: Scenario,
        speed: Optional[float] = None,
        ezsp_version: Optional[int] = None,
        corrupt: float = 0.0,
        pcap_path: Optional[str] = None,
    ):
        self.scn = scn
        self.clock = SimClock(scn.start_unix, speed if speed is not None else scn.speed)
        self.pcap = PcapWriter(pcap_path, scn.pan_id) if pcap_path else None
        self.han = Han(scn, self.clock, self.pcap)
        cfg = ez.NcpConfig(
            version=ezsp_version or scn.ezsp_version,
            eui64=scn.ncp_eui64,
            node_id=scn.ncp_node_id,
            pan_id=scn.pan_id,
            extended_pan_id=scn.extended_pan_id,
            channel=scn.channel,
            node_type=scn.ncp_node_type,
            commissioned=scn.ncp_commissioned,
            stack_version=scn.stack_version,
        )
        self.link = FaultyLink(scn.seed, corrupt)
        self._raw_write = None  # type: Any
        self.ash = AshNcp(self._write, self._on_frame, self._on_host_reset)
        self.ezsp = ez.EzspNcp(cfg, self.ash.send, self.han)
        self.han.ezsp = self.ezsp
        self.han.on_ncp_reset = self.ncp_reset
        self.han.on_corruption = self.set_corruption
        self._tasks: list = []
        self._servers: list = []
        self._clients: Dict[Any, Any] = {}  # control connection task -> its writer
        self.listening = ""
        self.control_addr = ""
        self._pty_fds: list = []

    # ---- link plumbing --------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        if self._raw_write is not None:
            self._raw_write(self.link.apply(data))

    def _on_bytes(self, data: bytes) -> None:
        self.ash.data_received(self.link.apply(data))

    def _on_frame(self, frame: bytes) -> None:
        self.ezsp.handle(frame)

    def _on_host_reset(self) -> None:
        self.ezsp.reset()

    def ncp_reset(self) -> None:
        log.info("NCP reset (unsolicited RSTACK)")
        self.ezsp.reset()
        self.ash.ncp_reset()

    def set_corruption(self, rate: float) -> None:
        self.link.rate = rate

    # ---- transports -----------------------------------------------------------------------

    async def start_tcp(self, host: str, port: int) -> str:
        current: Dict[str, Any] = {}
        sim = self

        class Proto(asyncio.Protocol):
            transport: Any = None

            def connection_made(self, transport: Any) -> None:
                old = current.get("t")
                if old is not None:
                    old.close()
                self.transport = transport
                current["t"] = transport
                sim._raw_write = transport.write
                sim.ezsp.reset()
                sim.ash.ncp_reset()  # startup RSTACK, as zigbeed/real NCP on TCP bridges

            def data_received(self, data: bytes) -> None:
                if current.get("t") is self.transport:
                    sim._on_bytes(data)

            def connection_lost(self, exc: Any) -> None:
                if current.get("t") is self.transport:
                    current["t"] = None
                    sim._raw_write = None
                    sim.ash.connected = False

        loop = asyncio.get_running_loop()
        server = await loop.create_server(Proto, host, port)
        self._servers.append(server)
        addr = server.sockets[0].getsockname()
        self.listening = "tcp %s:%d" % (addr[0], addr[1])
        return self.listening

    def _start_fd(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        os.set_blocking(fd, False)
        pending = bytearray()

        def readable() -> None:
            try:
                data = os.read(fd, 4096)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                data = b""  # pty: EIO while no one has the slave open
            if data:
                self._on_bytes(data)

        def flush() -> None:
            try:
                n = os.write(fd, pending)
                del pending[:n]
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                pending.clear()
            if not pending:
                loop.remove_writer(fd)

        def write(data: bytes) -> None:
            was_empty = not pending
            pending.extend(data)
            if was_empty:
                flush()
                if pending:
                    loop.add_writer(fd, flush)

        loop.add_reader(fd, readable)
        self._raw_write = write

    async def start_pty(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)
        self._pty_fds = [master, slave]  # keep the slave open so the master never sees EIO
        self._start_fd(master)
        self.listening = "pty %s" % os.ttyname(slave)
        return self.listening

    async def start_serial(self, device: str, baudrate: int = 115200, rtscts: bool = False) -> str:
        import serial  # pyserial

        port = serial.Serial(device, baudrate=baudrate, rtscts=rtscts, timeout=0)
        self._serial = port
        self._start_fd(port.fileno())
        self.listening = "serial %s" % device
        return self.listening

    # ---- control channel ------------------------------------------------------------------

    async def start_control(self, host: str, port: int) -> str:
        server = await asyncio.start_server(self._control_client, host, port)
        self._servers.append(server)
        addr = server.sockets[0].getsockname()
        self.control_addr = "%s:%d" % (addr[0], addr[1])
        return self.control_addr

    async def _control_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        # Ends when the client disconnects or close() closes the connection (EOF here): never
        # left pending at the stop, where asyncio.run would cancel it and asyncio's streams
        # would log the CancelledError as "Exception in callback".
        task = asyncio.current_task()
        self._clients[task] = writer
        try:
            while True:
                try:
                    line = await reader.readline()
                except (ConnectionError, ValueError):  # reset, or a line over the limit
                    break
                if not line:
                    break
                try:
                    reply = self.control(json.loads(line))
                except Exception as e:  # report any bad request to the client, keep serving
                    reply = {"ok": False, "error": "%s: %s" % (type(e).__name__, e)}
                writer.write((json.dumps(reply) + "\n").encode())
                try:
                    await writer.drain()
                except ConnectionError:
                    break
        finally:
            self._clients.pop(task, None)
            writer.close()

    def time_info(self) -> Dict[str, Any]:
        now = self.clock.now()
        return {
            "ok": True,
            "utc": iso_utc(now),
            "unix": now,
            "zigbee": to_zigbee(now),
            "speed": self.clock.speed,
        }

    def control(self, req: Dict[str, Any]) -> Dict[str, Any]:
        cmd = req.get("cmd")
        if cmd == "time":
            return self.time_info()
        if cmd == "advance":
            self.clock.advance(float(req["seconds"]))
            self.han.tick()
            return self.time_info()
        if cmd == "set_time":
            self.clock.set(parse_iso_utc(req["utc"]))
            self.han.tick()
            return self.time_info()
        if cmd == "speed":
            self.clock.set_speed(float(req["speed"]))
            return self.time_info()
        if cmd == "status":
            out = self.han.status()
            out.update(
                ok=True,
                ash=dict(self.ash.counters),
                ezsp=dict(self.ezsp.counters),
                ezsp_version=self.ezsp.cfg.version,
                ncp=self.ezsp.status(),
                corrupt=self.link.rate,
            )
            return out
        if cmd == "read":
            dev = self._device(req["device"])
            c = dev.cluster(int(req["cluster"]))
            return {"ok": True, "value": _jsonable(c.value(int(req["attr"])))}
        if cmd == "event":
            ev = dict(req["event"])
            ev.setdefault("at", "+0s")
            scn_ev = self.scn._event(ev, "control.event", list(self.han.meters))
            if scn_ev["type"] in ("change_of_tenancy", "change_of_supplier"):
                scn_ev["at_unix"] = self.clock.now()
                self.han.meters[scn_ev["meter"]].add_event(scn_ev)
            self.han.fire(scn_ev)
            return {"ok": True}
        if cmd == "spoof":
            # {"cmd": "spoof", "event": {change event}, "node": 0x5555, "endpoint": 1,
            #  "aps_encrypted": true}
            ev = dict(req["event"])
            ev.setdefault("at", "+0s")
            scn_ev = self.scn._event(ev, "control.spoof", list(self.han.meters))
            self.han.spoof_change(scn_ev, int(req["node"]), int(req.get("endpoint", 1)),
                                  bool(req.get("aps_encrypted", True)))  # fmt: skip
            return {"ok": True}
        if cmd == "ncp_reset":
            self.ncp_reset()
            return {"ok": True}
        if cmd == "hub":  # {"cmd": "hub", "online": false}: the Comms Hub disappears
            self.han.set_hub_online(bool(req.get("online", True)))
            return {"ok": True}
        if cmd == "corrupt":
            self.set_corruption(float(req["rate"]))
            return {"ok": True}
        return {
            "ok": False,
            "error": "unknown cmd %r (time, advance, set_time, speed, status, "
            "read, event, ncp_reset, corrupt)" % cmd,
        }

    def _device(self, name: str) -> Any:
        for d in self.han.devices.values():
            if d.name == name:
                return d
        raise KeyError("no device %r" % name)

    # ---- run ------------------------------------------------------------------------------

    async def run_ticks(self) -> None:
        while True:
            await asyncio.sleep(TICK_S)
            try:
                self.han.tick()
            except Exception:
                log.exception("tick failed")

    def start_background(self) -> None:
        self._tasks.append(asyncio.ensure_future(self.run_ticks()))

    async def close(self) -> None:
        # An orderly stop: background tasks cancelled and awaited, servers closed, control
        # connections closed (their handlers see EOF and return) and awaited.
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for s in self._servers:
            s.close()
        clients = list(self._clients)
        for w in self._clients.values():
            w.close()
        if clients:
            await asyncio.wait(clients, timeout=2)
        self.ash.close()
        if self.pcap is not None:
            self.pcap.close()
        loop = asyncio.get_running_loop()
        for fd in self._pty_fds[:1]:
            loop.remove_reader(fd)
            loop.remove_writer(fd)
        for fd in self._pty_fds:
            os.close(fd)
        self._pty_fds = []
        port = getattr(self, "_serial", None)
        if port is not None:
            loop.remove_reader(port.fileno())
            port.close()


def _jsonable(v: Any) -> Any:
    if isinstance(v, (bytes, bytearray)):
        try:
            return bytes(v).decode()
        except UnicodeDecodeError:
            return bytes(v).hex()
    if isinstance(v, int):
        return int(v)
    return v
