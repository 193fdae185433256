# The meters this IHD is bound to (from commissioning / discovery), and the rule every service
# uses to accept data: only from the bound meter's node and endpoint, and only APS-encrypted
# when the network is secured. admits() applies the same rule before a frame is even decoded
# (the ZCL client's gate: zcl.set_gate(registry.admits)).
from micropython import const

from ihd.runtime import log
from ihd.runtime.counters import Counters
from ihd.state import fuels as FU
from ihd.zigbee.loglimit import LogLimit
from ihd.zigbee.zcl import clusters as CL

HUB = const(0x0000)  # the trust centre / comms hub: the OTA server and a time source
# Clusters whose frames carry meter data, supplier commands, time or firmware: accepted only
# from a bound meter or the hub. (Key Establishment runs with the trust centre before any APS
# link key exists; Basic, Identify & co. are general clusters the device serves to anyone.)
_GUARDED = (CL.PRICE, CL.METERING, CL.MESSAGING, CL.PREPAYMENT, CL.DEVICE_MGMT, CL.TIME, CL.OTA)
_L_SOURCE = const(0)  # admits() log kinds (rate-limited: a frame from anyone may cause them)
_L_INSECURE = const(1)

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


_HUB = Meter("hub", HUB, 0)  # what the gate's rule finds for a frame from the hub


class Registry:
    # require_aps_security: on by default, as a vendor should ship it (any node with the network
    # key could otherwise publish a change of tenancy); off only as the config's development
    # switch "dev_accept_unencrypted_se".
    def __init__(self, require_aps_security=True):
        self.meters = {}
        self._list = []  # the same meters, iterated by source_of (a dict view would allocate)
        self.require_aps_security = require_aps_security
        self._lim = LogLimit(2)

    def bind(self, meter):
        self.meters[meter.name] = meter
        self._list = list(self.meters.values())

    def get(self, name):
        return self.meters.get(name)

    def all(self):
        return list(self.meters.values())

    def _bound(self, frame):
        # -> the bound Meter at the frame's (node, src_ep), or None. 0 B.
        for m in self._list:
            if m.node == frame.node and m.ep == frame.src_ep:
                return m
        return None

    def _check(self, frame, gate):
        # The one rule of source_of() and admits(): -> the bound Meter that sent the frame (the
        # gate also takes the hub: _HUB), or None, counted and logged (by the gate rate-limited,
        # so that it allocates only for the first line of a kind per 5 s).
        m = self._bound(frame)
        if m is None and gate and frame.node == HUB:
            m = _HUB
        if m is None:
            stats.inc("rejected_source")
            if not gate or self._lim.ok(_L_SOURCE):
                log.warn("meters", "frame from unbound node 0x%04x ep %d ignored", frame.node,
                         frame.src_ep)  # fmt: skip
            return None
        return m if self._secure(frame, m, gate) else None

    def encrypted_enough(self, secured):
        # The encryption half of the rule, uncounted: may a frame with this APS encryption
        # state be believed? (also for header-only uses, e.g. the link quality a meter shows)
        return secured or not self.require_aps_security

    def _secure(self, frame, meter, gate):
        # The encryption half of the rule: -> False (counted, logged) for an unencrypted frame
        # when APS security is required. meter: the Meter it came from, None for an answer to
        # our request (named by its node; formatted only when logged: 0 B when secured).
        if not self.encrypted_enough(frame.secured):
            stats.inc("rejected_insecure")
            if not gate or self._lim.ok(_L_INSECURE):
                if meter is None:
                    log.warn("meters", "unencrypted answer from 0x%04x ignored", frame.node)
                else:
                    log.warn("meters", "unencrypted frame from %s ignored", meter.name)
            return False
        return True

    def source_of(self, frame):
        # -> the bound Meter that sent this frame, or None (logged + counted). 0 B when bound.
        return self._check(frame, False)

    def admits(self, frame, response=False):
        # The ZCL gate (zcl.set_gate(registry.admits)): True when the frame may be decoded. A
        # frame of a guarded cluster must come from a bound meter (source_of's rule) or the
        # hub, APS-encrypted when that is required; any other frame passes. A response to our
        # own request (response=True) comes from the node we asked, which may not be bound yet
        # (discovery reads candidates): only its encryption is checked. Header fields only;
        # counted like source_of, logged rate-limited; 0 B.
        if frame.cluster not in _GUARDED:
            return True
        if response:
            return self._secure(frame, None, True)
        return self._check(frame, True) is not None

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
