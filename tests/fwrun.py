# Runs one firmware test file on the MicroPython unix port and prints one result line per test
# (read by tests/fwplugin.py). Usage: micropython tests/fwrun.py path/to/test_x.py [name ...]
import sys

_RESULT = "@@fwrun"


def _load(path):
    d, _, f = path.rpartition("/")
    if d and d not in sys.path:
        sys.path.insert(0, d)
    return __import__(f[:-3])


def main():
    path = sys.argv[1]
    wanted = sys.argv[2:]
    mod = _load(path)
    names = wanted or sorted(n for n in dir(mod) if n.startswith("test_"))
    import fwtest

    for name in names:
        fn = getattr(mod, name, None)
        if fn is None:
            print(_RESULT, name, "MISSING")
            continue
        print(_RESULT, name, "START")
        try:
            fn()
        except fwtest.SkipTest as e:
            print(_RESULT, name, "SKIP", e)
            continue
        except BaseException as e:  # noqa: BLE001 - report everything, including SystemExit
            # (fwtest.HeapLocked unlocks on the way out; an extra heap_unlock() here would
            # underflow MicroPython's lock depth and lock the heap for good)
            sys.print_exception(e)
            print(_RESULT, name, "FAIL")
            continue
        print(_RESULT, name, "PASS")


main()
