# Keyboard input for the unix port: stdin in raw mode, read by an asyncio stream (never blocks
# the loop), mapped to the UI's input events:
#   arrows left/up, a, w -> prev      arrows right/down, d -> next
#   Enter -> select   Backspace/Esc -> back   s -> long select (Status)   h -> long back (Home)
#   0-9, *, # -> keypad               q or Ctrl-C -> quit
# Also IHD_KEYS_FIFO=path (tests): a file polled for appended lines, one key name each
# ("0".."9", "*", "#", "ok", "back", "next", "prev", "long_ok", "long_back"); see poll_file().
# MIT license
import asyncio
import sys

from ihd.ui import input as I

_MAP = {
    "a": I.EV_PREV,
    "w": I.EV_PREV,
    "d": I.EV_NEXT,
    "\r": I.EV_SELECT,
    "\n": I.EV_SELECT,
    "\x7f": I.EV_BACK,
    "\x08": I.EV_BACK,
    "s": I.EV_LONG_SELECT,
    "h": I.EV_LONG_BACK,
}
_ARROWS = {"A": I.EV_PREV, "D": I.EV_PREV, "B": I.EV_NEXT, "C": I.EV_NEXT}
QUIT = I.EV_QUIT  # the queue sets its quit event: the app stops in order


def parse(data):
    # str of key bytes -> list of events (QUIT for q / Ctrl-C).
    out = []
    i = 0
    n = len(data)
    while i < n:
        ch = data[i]
        if ch == "\x1b":
            if i + 2 < n and data[i + 1] in "[O":
                ev = _ARROWS.get(data[i + 2])
                if ev is not None:
                    out.append(ev)
                i += 3
                continue
            out.append(I.EV_BACK)  # a lone Esc
        elif ch in ("q", "\x03"):
            out.append(QUIT)
        elif ch in _MAP:
            out.append(_MAP[ch])
        else:
            ev = I.key_event(ch)
            if ev != I.EV_NONE:
                out.append(ev)
        i += 1
    return out


class RawStdin:
    # Context manager: raw mode on a tty, restored on exit.
    def __enter__(self):
        self.saved = None
        try:
            import termios

            fd = sys.stdin.fileno() if hasattr(sys.stdin, "fileno") else 0
            self.saved = termios.tcgetattr(fd)
            termios.setraw(fd)
            self.fd = fd
        except Exception:
            self.saved = None  # not a tty: pipes and tests work without raw mode
        return self

    def __exit__(self, *exc):
        if self.saved is not None:
            import termios

            termios.tcsetattr(self.fd, termios.TCSANOW, self.saved)
        return False


async def _read1(reader, timeout_ms=None):
    # One character; a blocking stream's read(n) waits for all n, so keys are read one by one.
    if timeout_ms is None:
        d = await reader.read(1)
    else:
        try:
            d = await asyncio.wait_for_ms(reader.read(1), timeout_ms)
        except asyncio.TimeoutError:
            return ""
    return d.decode() if isinstance(d, bytes) else d


async def run(queue, stream=None):
    reader = asyncio.StreamReader(stream or sys.stdin)
    while True:
        data = await _read1(reader)
        if not data:
            return
        if data == "\x1b":  # an arrow is ESC [ X; a lone Esc is "back"
            data += await _read1(reader, 50)
            if data[-1:] in ("[", "O"):
                data += await _read1(reader, 50)
        for ev in parse(data):
            queue.post(ev)
            if ev == QUIT:
                return


class Terminal:
    # Input source (board contract): this terminal's keys.
    async def run(self, queue):
        await run(queue)


class KeyFile:
    # Input source (board contract): key names appended to a file (tests).
    def __init__(self, path):
        self.path = path

    async def run(self, queue):
        await poll_file(self.path, queue)


_NAMES = {
    "ok": I.EV_SELECT,
    "select": I.EV_SELECT,
    "back": I.EV_BACK,
    "next": I.EV_NEXT,
    "prev": I.EV_PREV,
    "long_ok": I.EV_LONG_SELECT,
    "long_back": I.EV_LONG_BACK,
    "quit": I.EV_QUIT,  # the orderly stop host_tools.simulate asks for
}


def name_event(name):
    # Key name -> event, EV_NONE if unknown.
    ev = _NAMES.get(name)
    return ev if ev is not None else (I.key_event(name) if len(name) == 1 else I.EV_NONE)


async def poll_file(path, queue, period_ms=100):
    # Key injection for tests: reads lines appended to `path` (created empty if missing) and
    # posts their events, as if pressed. Polling a plain file never blocks the loop.
    # Lines already there (an earlier boot's) are not replayed: reading starts at the end.
    # The file stays open and is read into one buffer: a quiet poll allocates nothing (it is
    # in the budgeted heap; an open and read() every 100 ms was 300 B each).
    with open(path, "a"):
        pass
    buf = bytearray(64)
    text = ""
    with open(path, "rb") as f:
        f.seek(0, 2)
        while True:
            n = f.readinto(buf)
            if n:
                text += bytes(buf[:n]).decode()
                while "\n" in text:
                    line, text = text.split("\n", 1)
                    ev = name_event(line.strip())
                    if ev != I.EV_NONE:
                        queue.post(ev)
                continue  # more may be there already
            await asyncio.sleep_ms(period_ms)
