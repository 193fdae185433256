# Named event counters per component. Keys are created up front so inc() never allocates
# (safe on the ASH receive path under heap_lock).
_registry = []


class Counters:
    def __init__(self, component, names):
        self.component = component
        self._c = {}
        for n in names:
            self._c[n] = 0
        # One live instance per component name (a re-created component replaces the old one).
        for old in _registry:
            if old.component == component:
                _registry.remove(old)
                break
        _registry.append(self)

    def inc(self, name, n=1):
        self._c[name] += n

    def get(self, name):
        return self._c[name]

    def items(self):
        return self._c.items()

    def reset(self):
        for k in self._c:
            self._c[k] = 0


def snapshot():
    # {"ash.crc_errors": 3, ...} for the status screen and the log.
    out = {}
    for c in _registry:
        for k, v in c._c.items():
            out[c.component + "." + k] = v
    return out


def errors():
    # Sum of every counter whose name says it is an error ("err", "bad"): the status line's
    # figure, without building snapshot()'s dict and key strings every period.
    n = 0
    for c in _registry:
        d = c._c
        for k in d:
            if "err" in k or "bad" in k:
                n += d[k]
    return n
