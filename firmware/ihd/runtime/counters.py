# Named event counters per component. The names are a tuple given up front (frozen code keeps a
# literal tuple out of the heap), the values one array("i") beside it: ~4 heap bytes a counter,
# not a dict slot and its growth; inc() never allocates (safe on the ASH receive path under
# heap_lock: a lookup is tuple.index, identity compares of interned names).
from array import array

_registry = []


class Counters:
    def __init__(self, component, names):
        self.component = component
        self.names = names
        self._v = array("i", [0] * len(names))
        # One live instance per component name (a re-created component replaces the old one).
        for old in _registry:
            if old.component == component:
                _registry.remove(old)
                break
        _registry.append(self)

    def inc(self, name, n=1):
        self._v[self.names.index(name)] += n

    def get(self, name):
        return self._v[self.names.index(name)]

    def items(self):
        return zip(self.names, self._v)

    def reset(self):
        v = self._v
        for i in range(len(v)):
            v[i] = 0


def snapshot():
    # {"ash.crc_errors": 3, ...} for the status screen and the log.
    out = {}
    for c in _registry:
        for k, v in c.items():
            out[c.component + "." + k] = v
    return out


def errors():
    # Sum of every counter whose name says it is an error ("err", "bad"): the status line's
    # figure, without building snapshot()'s dict and key strings every period.
    n = 0
    for c in _registry:
        v = c._v
        for i, k in enumerate(c.names):
            if "err" in k or "bad" in k:
                n += v[i]
    return n
