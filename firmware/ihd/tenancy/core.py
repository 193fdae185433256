# Change of tenancy / change of supplier decisions (SECMP0056), pure and persisted.
# The watcher (watcher.py) feeds it events learned from a meter — a PublishChangeOf* command,
# or a change in the Device Management attributes when the commands are unsupported — and acts
# on what it returns. Everything here survives reboots and power cuts (atomic JSON on flash).
#
# Choices where the specs are silent (docs/tenancy.md):
# - Identity: an event is (meter, kind, issuer event id). Applied ids only ever grow per
#   (meter, kind): an id <= the last applied one is a duplicate/replay and is ignored (logged).
# - Attribute-derived events carry no issuer event id; their implementation time stands in for
#   it (GBCS issuer event ids are UTC timestamps too), so the same rule applies.
# - A later event (higher id) for the same meter and kind supersedes a pending one.
# - Implementation time 0xFFFFFFFF cancels a pending event with the same provider and issuer
#   event id (the SiteID/CIN rule of the Silicon Labs client, extended to CoT/CoS); with nothing
#   matching pending it is ignored. Time 0 means "now".
# - Applying at T truncates that meter's history at T (not at "now"): everything the new
#   occupant sees starts at the implementation time. Both CoT and CoS rewind history.
import json

from micropython import const

from ihd.runtime import atomic, log
from ihd.runtime.counters import Counters

COT = "cot"
COS = "cos"
KINDS = (COT, COS)
TIME_CANCEL = const(0xFFFFFFFF)
TIME_NOW = const(0)
_AUDIT_LEN = const(32)

# The change control bits are the Device Management table's (zigbee/zcl/clusters.py DM_CLEAR_*);
# history is rewound whatever they say, the listeners of watcher.clearing honour the rest.

stats = Counters("tenancy", ("events", "applied", "scheduled", "duplicates", "stale", "cancelled"))


class Event:
    __slots__ = (
        "kind", "meter", "provider_id", "issuer_event_id", "impl_time", "control",
        "proposed_provider_id", "proposed_name", "proposed_contact", "method",
    )  # fmt: skip

    def __init__(self, kind, meter, provider_id, issuer_event_id, impl_time, control, method):
        self.kind = kind
        self.meter = meter  # "elec" | "gas"
        self.provider_id = provider_id
        self.issuer_event_id = issuer_event_id
        self.impl_time = impl_time
        self.control = control
        self.method = method  # "command" | "push" | "attributes"
        self.proposed_provider_id = None
        self.proposed_name = None  # type: str | None
        self.proposed_contact = None  # type: str | None

    def to_dict(self):
        return {k: getattr(self, k) for k in Event.__slots__}

    @staticmethod
    def from_dict(d):
        e = Event(d["kind"], d["meter"], d["provider_id"], d["issuer_event_id"],
                  d["impl_time"], d["control"], d["method"])  # fmt: skip
        e.proposed_provider_id = d.get("proposed_provider_id")
        e.proposed_name = d.get("proposed_name")
        e.proposed_contact = d.get("proposed_contact")
        return e


# Decisions returned by TenancyState.on_event
APPLY = "apply"
SCHEDULED = "scheduled"
IGNORED = "ignored"
CANCELLED = "cancelled"


class TenancyState:
    def __init__(self, path):
        self.path = path
        self.applied = {}  # "meter/kind" -> last applied issuer event id
        self.pending = {}  # "meter/kind" -> Event dict
        self.method = {}  # meter -> "commands" | "attributes"
        self.attrs_seen = {}  # "meter/kind" -> [impl_time, control, ...] last seen values
        self.audit = []  # [[time, meter, kind, issuer id, impl time, method, outcome]]
        raw = atomic.read(path)
        if raw:
            try:
                d = json.loads(raw)
                self.applied = d.get("applied", {})
                self.pending = d.get("pending", {})
                self.method = d.get("method", {})
                self.attrs_seen = d.get("attrs_seen", {})
                self.audit = d.get("audit", [])
            except (ValueError, AttributeError):
                log.warn("tenancy", "state unreadable; starting empty")

    def save(self):
        d = {
            "applied": self.applied,
            "pending": self.pending,
            "method": self.method,
            "attrs_seen": self.attrs_seen,
            "audit": self.audit,
        }
        atomic.write(self.path, json.dumps(d).encode())

    def _audit(self, now, ev, outcome):
        self.audit.append(
            [now, ev.meter, ev.kind, ev.issuer_event_id, ev.impl_time, ev.method, outcome]
        )
        if len(self.audit) > _AUDIT_LEN:
            self.audit = self.audit[-_AUDIT_LEN:]

    def on_event(self, ev, now):
        # -> (decision, effective time T or None). Persists before returning, so a decision
        # the caller acts on survives a power cut that follows.
        stats.inc("events")
        key = ev.meter + "/" + ev.kind
        last = self.applied.get(key, -1)
        pend = self.pending.get(key)
        if ev.impl_time == TIME_CANCEL:
            if (
                pend is not None
                and pend["provider_id"] == ev.provider_id
                and pend["issuer_event_id"] == ev.issuer_event_id
            ):
                del self.pending[key]
                stats.inc("cancelled")
                self._audit(now, ev, "cancelled")
                self.save()
                log.info("tenancy", "%s cancelled pending event %d", key, ev.issuer_event_id)
                return CANCELLED, None
            log.info("tenancy", "%s cancel for unknown event %d ignored", key, ev.issuer_event_id)
            return IGNORED, None
        if ev.issuer_event_id <= last:
            if ev.issuer_event_id == last:
                stats.inc("duplicates")
                log.info("tenancy", "%s event %d already applied", key, ev.issuer_event_id)
            else:
                stats.inc("stale")
                log.warn(
                    "tenancy", "%s stale event %d < %d ignored", key, ev.issuer_event_id, last
                )
            return IGNORED, None
        if pend is not None and ev.issuer_event_id < pend["issuer_event_id"]:
            stats.inc("stale")
            log.warn("tenancy", "%s event %d older than pending", key, ev.issuer_event_id)
            return IGNORED, None
        if pend is not None and ev.issuer_event_id == pend["issuer_event_id"]:
            # the same pending event seen again (re-poll): keep the schedule, no new audit row
            same = ev.impl_time == pend["impl_time"] and ev.control == pend["control"]
            if same and pend["impl_time"] > now:
                return SCHEDULED, pend["impl_time"]
        t = now if ev.impl_time == TIME_NOW else ev.impl_time
        if t <= now:
            # apply: the caller truncates at T and then calls applied(); record intent first
            return APPLY, t
        self.pending[key] = ev.to_dict()
        stats.inc("scheduled")
        self._audit(now, ev, "scheduled")
        self.save()
        log.info("tenancy", "%s event %d scheduled for %d", key, ev.issuer_event_id, t)
        return SCHEDULED, t

    def mark_applied(self, ev, now):
        # Called once the rewind is complete (history truncated, data cleared).
        key = ev.meter + "/" + ev.kind
        self.applied[key] = ev.issuer_event_id
        pend = self.pending.get(key)
        if pend is not None and pend["issuer_event_id"] <= ev.issuer_event_id:
            del self.pending[key]
        stats.inc("applied")
        self._audit(now, ev, "applied")
        self.save()

    def due(self, now):
        # Pending events whose time has come, oldest first.
        out = [Event.from_dict(d) for d in self.pending.values() if d["impl_time"] <= now]
        out.sort(key=lambda e: e.impl_time)
        return out

    def next_due(self):
        times = [d["impl_time"] for d in self.pending.values()]
        return min(times) if times else None


def event_from_attributes(kind, meter, values, seen):
    # Attribute fallback: values are what the meter holds now —
    # CoT: [impl_time 0x0200, control 0x0201];
    # CoS: [impl_time 0x0112, control 0x0113, proposed id 0x0110, name 0x0111, contact 0x0114].
    # A change against the persisted last-seen values is an event (None otherwise); on the
    # first read every real time is an event too (a past one rewinds nothing on a new device).
    # The time returning to 0xFFFFFFFF/0 cancels what the previous time scheduled.
    if values is None or values[0] is None:
        return None
    if seen is not None and list(values) == list(seen):
        return None
    impl_time = values[0]
    if impl_time in (0, TIME_CANCEL):
        if seen is None or seen[0] in (0, TIME_CANCEL):
            return None  # nothing ever scheduled on this meter
        return Event(kind, meter, 0, seen[0], TIME_CANCEL, 0, "attributes")
    ev = Event(kind, meter, 0, impl_time, impl_time, values[1] or 0, "attributes")
    if kind == COS:
        ev.proposed_provider_id = values[2] if len(values) > 2 else None
        ev.proposed_name = values[3] if len(values) > 3 else None
        ev.proposed_contact = values[4] if len(values) > 4 else None
    return ev
