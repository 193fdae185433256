# One event style for every layer boundary (docs/architecture.md "Events"). A Signal is a list
# of listeners. The layer that has news owns the Signal and emits one payload (an int, a
# preallocated object with named fields, a meter name...); the layer above connects to it, or
# app.py connects the two. A lower layer never holds a reference to an upper one.
#
# emit(payload) calls the listeners in the order they connected and allocates nothing (the ASH
# and EZSP receive paths emit under heap_lock). A listener that raises is logged and counted (on
# the emitting layer's own counter when it names one) and the others still run. A listener that
# returns True claims the event: the ones after it are not called and emit() returns True (an
# incoming message handled by one service is not offered to the next).
from ihd.runtime import log
from ihd.runtime.counters import Counters

stats = Counters("events", ("listener_errors",))


class Signal:
    def __init__(self, name, counters=None, error_key="listener_errors"):
        self.name = name  # for the log line of a failing listener
        self._fns = []
        self._c = counters if counters is not None else stats  # counts failing listeners
        self._err = error_key if counters is not None else "listener_errors"

    def connect(self, fn):
        # -> fn (usable as a decorator); connecting the same listener twice has no effect
        if fn not in self._fns:
            self._fns.append(fn)
        return fn

    def disconnect(self, fn):
        if fn in self._fns:
            self._fns.remove(fn)

    def __len__(self):
        return len(self._fns)

    def emit(self, payload=None):
        for fn in self._fns:
            try:
                if fn(payload) is True:
                    return True
            except Exception as e:  # a listener's bug must not stop the emitter's layer
                self._c.inc(self._err)
                log.exc(self.name, e, "listener failed")
        return False
