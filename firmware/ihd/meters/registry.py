# The meters this IHD is bound to (from commissioning / discovery), and the rule every service
# uses to accept data: only from the bound meter's node and endpoint, and only APS-encrypted
# when the network is secured.
from ihd.runtime import log
from ihd.runtime.counters import Counters
from ihd.state import fuels as FU

ELEC = FU.FUELS[FU.ELEC].key
GAS = FU.FUELS[FU.GAS].key

stats = Counters("binding", ("rejected_source", "rejected_insecure", "bad_spec"))


class Meter:
    __slots__ = ("name", "node", "ep", "eui64")

    def __init__(self, name, node, ep, eui64=None):
        self.name = name  # ELEC (the ESME) or GAS (the GPF on the comms hub)
        self.node = node
        self.ep = ep
        self.eui64 = eui64


class Registry:
    # require_aps_security: on by default, as a vendor should ship it (any node with the network
    # key could otherwise publish a change of tenancy); off only as the config's development
    # switch "dev_accept_unencrypted_se".
    def __init__(self, require_aps_security=True):
        self.meters = {}
        self._list = []  # the same meters, iterated by source_of (a dict view would allocate)
        self.require_aps_security = require_aps_security

    def bind(self, meter):
        self.meters[meter.name] = meter
        self._list = list(self.meters.values())

    def get(self, name):
        return self.meters.get(name)

    def all(self):
        return list(self.meters.values())

    def source_of(self, frame):
        # -> the bound Meter that sent this frame, or None (logged + counted). 0 B when bound.
        for m in self._list:
            if m.node == frame.node and m.ep == frame.src_ep:
                if self.require_aps_security and not frame.secured:
                    stats.inc("rejected_insecure")
                    log.warn("meters", "unencrypted frame from %s ignored", m.name)
                    return None
                return m
        stats.inc("rejected_source")
        log.warn("meters", "frame from unbound node 0x%04x ep %d ignored", frame.node,
                 frame.src_ep)  # fmt: skip
        return None

    @staticmethod
    def parse(spec):
        # "elec:0x1234:1,gas:0x5678:2" (config / unix env) -> [Meter]; a malformed part or a
        # name that is no fuel is logged, counted and left out (the others still bind).
        out = []
        for part in spec.split(","):
            try:
                name, node, ep = part.strip().split(":")
                FU.index(name)
                out.append(Meter(name, int(node, 0), int(ep, 0)))
            except ValueError:
                stats.inc("bad_spec")
                log.warn("meters", "meter binding %r unreadable: left out", part)
        return out
