# Unix port "board": the only module that knows how the unix build reaches its peripherals.
# NCP UART = TCP to hansim (IHD_NCP=tcp:127.0.0.1:PORT), flash = littlefs image file
# (IHD_FLASH=path), display = terminal (IHD_DISPLAY=term|dump:DIR|none).
import os
import sys

NAME = "unix"
STATUS_PERIOD_S = 10


def env(name, default=None):
    v = os.getenv(name)
    return v if v else default


async def open_ncp():
    # -> (reader, writer) asyncio streams to the NCP.
    import asyncio

    spec = env("IHD_NCP", "tcp:127.0.0.1:6638")
    kind, _, addr = spec.partition(":")
    if kind != "tcp":
        raise ValueError("unix board supports IHD_NCP=tcp:HOST:PORT only")
    host, _, port = addr.rpartition(":")
    return await asyncio.open_connection(host, int(port))


def fatal(e):
    sys.exit(1)
