# Levelled log to the console plus a small RAM ring buffer (shown on the status screen).
# Formatting is lazy: a suppressed level costs a compare, not a string.
import sys
import time

from micropython import const

DEBUG = const(10)
INFO = const(20)
WARN = const(30)
ERROR = const(40)
_NAMES = {DEBUG: "D", INFO: "I", WARN: "W", ERROR: "E"}
# The last lines kept in RAM (log.recent(): diagnosis, tests). Each is ~100 B of heap: 32 of
# them were 3 KB of a Pico's live heap that nothing on the device reads.
_RING_LEN = const(8)

level = INFO
_ring = [None] * _RING_LEN  # type: list  # lines, oldest overwritten
_ring_next = 0
_sink = None  # optional extra writer (e.g. a log file on the unix board)
console = True  # off when the console is the display (unix board drawing in the terminal)


def set_level(lvl):
    global level
    level = lvl


def set_sink(fn):
    # fn(line) is called with each formatted line; None to remove.
    global _sink
    _sink = fn


def _emit(lvl, tag, fmt, args):
    global _ring_next
    if lvl < level:
        return
    try:
        msg = fmt % args if args else fmt
    except Exception:  # a bad format string must never take a task down
        msg = fmt + " " + repr(args)
    line = "%d %s %s: %s" % (time.ticks_ms(), _NAMES.get(lvl, "?"), tag, msg)
    if console:
        print(line)
    _ring[_ring_next] = line
    _ring_next = (_ring_next + 1) % _RING_LEN
    if _sink is not None:
        try:
            _sink(line)
        except Exception:
            pass


def debug(tag, fmt, *args):
    if level <= DEBUG:
        _emit(DEBUG, tag, fmt, args)


def info(tag, fmt, *args):
    _emit(INFO, tag, fmt, args)


def warn(tag, fmt, *args):
    _emit(WARN, tag, fmt, args)


def error(tag, fmt, *args):
    _emit(ERROR, tag, fmt, args)


def exc(tag, e, fmt, *args):
    _emit(ERROR, tag, fmt + ": %r", args + (e,))
    if not console:
        return
    if hasattr(sys, "print_exception"):
        sys.print_exception(e)
    else:  # CPython
        import traceback

        traceback.print_exception(e)


def recent():
    # Oldest first.
    out = []
    for i in range(_RING_LEN):
        line = _ring[(_ring_next + i) % _RING_LEN]
        if line is not None:
            out.append(line)
    return out
