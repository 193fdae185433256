# Change of tenancy / change of supplier decisions (SECMP0056), pure and persisted.
# The watcher (watcher.py) feeds it events learned from a meter — a PublishChangeOf* command,
# or a change in the Device Management attributes when the commands are unsupported — and acts
# on what it returns. Everything here survives reboots and power cuts (atomic JSON on flash).
#
# Choices where the specs are silent (docs/tenancy.md "Choices where the specifications are
# silent"):
# - Identity: a change is (meter, kind, effective implementation time T), whatever route
#   (command, push, attributes) brought it and whatever issuer event id it carries. Per
#   (meter, kind) the applied T only grows: an event whose T is <= the last applied T rewinds
#   nothing more and is ignored (== : duplicate, < : stale), logged and counted.
# - Issuer event ids are the meter's word, not trusted for order: one hostile or corrupt id
#   (0xFFFFFFF0) must not block later changes. An id names a publish: it matches a cancel (with
#   the provider id) and tells a re-polled "now" (T 0) publish from a new one; it is audited.
# - Supersede: the meter holds one pending change per kind, so its latest announcement replaces
#   a pending one whatever the ids (a T moved earlier or later; the attribute route included).
# - Implementation time 0 means "now" on every route (SE: enact when now >= T); "now" is fixed
#   when first learned. 0xFFFFFFFF cancels: on the command route a pending event with the same
#   provider and issuer event id (the SiteID/CIN rule of the Silicon Labs client, extended to
#   CoT/CoS), on the attribute route the pending event of the previously seen time; with
#   nothing matching it is ignored.
# - Applying at T truncates that meter's history at T (not at "now"): everything the new
#   occupant sees starts at the implementation time. Both CoT and CoS rewind history.
# - The history knows what was applied even when this file does not (lost, torn, older copy):
#   reconcile() compares the history's epoch with the one recorded at our last rewind; an
#   epoch we do not know makes its visible_from the floor of both kinds of that meter, unless
#   our own interrupted apply (begin() without mark_applied()) explains it.
import json

from micropython import const

from ihd.runtime import atomic, log
from ihd.runtime.counters import Counters
from ihd.state import fuels as FU

COT = "cot"
COS = "cos"
KINDS = (COT, COS)
TIME_CANCEL = const(0xFFFFFFFF)
TIME_NOW = const(0)
_AUDIT_LEN = const(32)
_TAG = "tenancy"

# The change control bits are the Device Management table's (zigbee/zcl/clusters.py DM_CLEAR_*;
# what each does on this device: docs/tenancy.md "Control bits"). History is rewound at T
# whatever they say (bits 7 and 8 ask for nothing more); the listeners of watcher.clearing
# honour the rest, clearing only what was made before T: meters.service.tenancy_clearer (tariff
# and supplier on a change of supplier or 0x400, messages on 0x200/0x400) and
# prepay.service.tenancy_clearer (top-up log on 0x200/0x2000/0x4000, prepayment data 0x4000).

stats = Counters(
    "tenancy",
    (
        "events", "applied", "scheduled", "duplicates", "stale", "cancelled", "superseded",
        "restored", "refused", "bad_publish", "bad_state", "apply_errors",
    ),
)  # fmt: skip


class Event:
    __slots__ = (
        "kind", "meter", "provider_id", "issuer_event_id", "impl_time", "control",
        "proposed_provider_id", "proposed_name", "proposed_contact", "method", "t",
    )  # fmt: skip

    def __init__(self, kind, meter, provider_id, issuer_event_id, impl_time, control, method):
        self.kind = kind
        self.meter = meter  # "elec" | "gas"
        self.provider_id = provider_id
        self.issuer_event_id = issuer_event_id
        self.impl_time = impl_time  # as announced (0: now, 0xFFFFFFFF: cancel)
        self.control = control
        self.method = method  # "command" | "push" | "attributes"
        self.proposed_provider_id = None
        self.proposed_name = None  # type: str | None
        self.proposed_contact = None  # type: str | None
        # Effective implementation time (UTC), set by on_event: impl_time, or for 0 the time
        # it was first learned. What history is truncated at and what the clearers respect.
        self.t = None  # type: int | None

    def to_dict(self):
        return {k: getattr(self, k) for k in Event.__slots__}

    @staticmethod
    def from_dict(d):
        e = Event(d["kind"], d["meter"], d["provider_id"], d["issuer_event_id"],
                  d["impl_time"], d["control"], d["method"])  # fmt: skip
        e.proposed_provider_id = d.get("proposed_provider_id")
        e.proposed_name = d.get("proposed_name")
        e.proposed_contact = d.get("proposed_contact")
        t = d.get("t")
        if t is None and e.impl_time not in (TIME_NOW, TIME_CANCEL):
            t = e.impl_time  # a file written before "t" existed
        e.t = t
        return e


# Decisions returned by TenancyState.on_event
APPLY = "apply"
SCHEDULED = "scheduled"
IGNORED = "ignored"
CANCELLED = "cancelled"


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _event_ok(d):
    # A persisted event dict the rest of the code can use without raising.
    if not isinstance(d, dict):
        return False
    try:
        if d["kind"] not in KINDS or FU.by_key(d["meter"]) is None:
            return False
        for k in ("provider_id", "issuer_event_id", "impl_time", "control"):
            if not _is_int(d[k]):
                return False
        t = d.get("t")
        return t is None or _is_int(t)
    except (KeyError, TypeError):
        return False


def _dict(d, name):
    v = d.get(name)
    return v if isinstance(v, dict) else None


class TenancyState:
    def __init__(self, path):
        self.path = path
        # "meter/kind" -> {"t": T applied, "raw": announced time, "id", "prov", "by": method}
        self.applied = {}
        self.pending = {}  # "meter/kind" -> Event dict (with "t")
        self.applying = {}  # "meter/kind" -> Event dict: rewind begun, not yet marked applied
        self.method = {}  # "meter/kind" -> "commands" | "attributes"
        self.attrs_seen = {}  # "meter/kind" -> [impl_time, control, ...] last seen values
        self.epochs = {}  # meter -> history epoch when we last rewound (or reconciled) it
        self.audit = []  # [[time, meter, kind, issuer id, T, method, outcome]]
        raw = atomic.read(path)
        if raw:
            try:
                d = json.loads(raw)
                if not isinstance(d, dict):
                    raise ValueError("not an object")
            except (ValueError, AttributeError):
                log.warn(_TAG, "state unreadable; starting empty")
                stats.inc("bad_state")
                return
            self._load(d)

    def _load(self, d):
        # Each part checked on its own: a bad entry is dropped (logged, counted), never raised
        # on later. Files of earlier versions are read too (applied ids, methods per meter).
        bad = 0
        for key, v in (_dict(d, "applied") or {}).items():
            if isinstance(v, dict) and _is_int(v.get("t")):
                self.applied[key] = v
            elif not _is_int(v):  # an int is an issuer id of an earlier version: reconcile()
                bad += 1  # restores its T from the history
        for name, target in (("pending", self.pending), ("applying", self.applying)):
            for key, v in (_dict(d, name) or {}).items():
                if not _event_ok(v) or key != v["meter"] + "/" + v["kind"]:
                    bad += 1
                    continue
                if v.get("t") is None:  # written before "t" existed: its time is T
                    if v["impl_time"] in (TIME_NOW, TIME_CANCEL):
                        bad += 1
                        continue
                    v["t"] = v["impl_time"]
                target[key] = v
        for key, v in (_dict(d, "method") or {}).items():
            if v not in ("commands", "attributes"):
                bad += 1
            elif "/" in key:
                self.method[key] = v
            else:  # per meter (earlier version): both commands
                for k in KINDS:
                    self.method.setdefault(key + "/" + k, v)
        for key, v in (_dict(d, "attrs_seen") or {}).items():
            if isinstance(v, list):
                self.attrs_seen[key] = v
        for key, v in (_dict(d, "epochs") or {}).items():
            if _is_int(v):
                self.epochs[key] = v
        audit = d.get("audit")
        if isinstance(audit, list):
            self.audit = [a for a in audit if isinstance(a, list)][-_AUDIT_LEN:]
        if bad:
            stats.inc("bad_state", bad)
            log.warn(_TAG, "state: %d bad entries dropped", bad)

    def save(self):
        d = {
            "applied": self.applied,
            "pending": self.pending,
            "applying": self.applying,
            "method": self.method,
            "attrs_seen": self.attrs_seen,
            "epochs": self.epochs,
            "audit": self.audit,
        }
        atomic.write_json(self.path, d)

    def _audit(self, now, ev, outcome, t=None):
        if t is None:
            t = ev.t if ev.t is not None else ev.impl_time
        self.audit.append([now, ev.meter, ev.kind, ev.issuer_event_id, t, ev.method, outcome])
        if len(self.audit) > _AUDIT_LEN:
            self.audit = self.audit[-_AUDIT_LEN:]

    def last_applied(self):
        # -> (kind, T) of the latest change applied to any meter, or None (Status screen).
        best = None
        for key, a in self.applied.items():
            if best is None or a["t"] > best[1]:
                best = (key.split("/")[-1], a["t"])
        return best

    def floor(self, meter, kind):
        # The last applied T of (meter, kind), -1 if none: nothing at or before it is new.
        a = self.applied.get(meter + "/" + kind)
        return a["t"] if a is not None else -1

    def _same_publish(self, ev, rec):
        # rec (an applied record or a pending event dict) announced "now" too and names the
        # same publish: same provider and issuer id, or either learned from the attributes
        # (which carry no id: one "now" there stays the same change while the meter shows it).
        if rec.get("raw", rec.get("impl_time")) != TIME_NOW:
            return False
        if ev.method == "attributes" or rec.get("by", rec.get("method")) == "attributes":
            return True
        prov = rec.get("prov", rec.get("provider_id"))
        eid = rec.get("id", rec.get("issuer_event_id"))
        return prov == ev.provider_id and eid == ev.issuer_event_id

    def _cancels(self, ev, pend):
        if ev.method == "attributes":  # the attribute went back to "none": its old time named
            return pend["impl_time"] == ev.issuer_event_id or pend.get("t") == ev.issuer_event_id
        return (
            pend["provider_id"] == ev.provider_id and pend["issuer_event_id"] == ev.issuer_event_id
        )

    def on_event(self, ev, now):
        # -> (decision, effective time T or None); sets ev.t. Persists before returning when
        # it schedules or cancels, so a decision survives a power cut that follows. APPLY is
        # persisted by the caller's begin() / mark_applied().
        stats.inc("events")
        key = ev.meter + "/" + ev.kind
        pend = self.pending.get(key)
        eid = ev.issuer_event_id
        if ev.impl_time == TIME_CANCEL:
            if pend is not None and self._cancels(ev, pend):
                del self.pending[key]
                stats.inc("cancelled")
                self._audit(now, ev, "cancelled", pend.get("t"))
                self.save()
                log.info(_TAG, "%s cancelled pending event %d", key, pend["issuer_event_id"])
                return CANCELLED, None
            log.info(_TAG, "%s cancel for unknown event %d ignored", key, eid)
            return IGNORED, None
        app = self.applied.get(key)
        t = ev.impl_time
        if t == TIME_NOW:
            t = now
            if app is not None and self._same_publish(ev, app):
                t = app["t"]
            elif pend is not None and pend.get("t") is not None and self._same_publish(ev, pend):
                t = pend["t"]
        ev.t = t
        if app is not None and t <= app["t"]:
            if t == app["t"]:
                stats.inc("duplicates")
                k = stats.get("duplicates")
                if k & (k - 1) == 0:  # every poll sees it again: logged at the 1st, 2nd, 4th...
                    log.info(_TAG, "%s event %d (T %d, %s) already applied (%d seen)", key, eid,
                             t, ev.method, k)  # fmt: skip
            else:
                stats.inc("stale")
                log.warn(_TAG, "%s event %d: T %d before the applied change's %d: nothing to "
                         "rewind; ignored", key, eid, t, app["t"])  # fmt: skip
            return IGNORED, None
        if pend is not None:
            if t == pend.get("t") and ev.control == pend["control"]:
                # the same pending change seen again (re-poll, push + poll, other route)
                if t > now:
                    return SCHEDULED, t
                return APPLY, t
            stats.inc("superseded")
            log.info(_TAG, "%s event %d (T %d) replaces pending %d (T %s)", key, eid, t,
                     pend["issuer_event_id"], pend.get("t"))  # fmt: skip
        if t <= now:
            # apply: the caller begins, truncates at T, clears, then calls mark_applied()
            return APPLY, t
        self.pending[key] = ev.to_dict()
        stats.inc("scheduled")
        self._audit(now, ev, "scheduled")
        self.save()
        log.info(_TAG, "%s event %d scheduled for %d", key, eid, t)
        return SCHEDULED, t

    def begin(self, ev):
        # Before the rewind's first durable step: a power cut from here to mark_applied()
        # leaves the intent, which interrupted() hands back at the next boot.
        self.applying[ev.meter + "/" + ev.kind] = ev.to_dict()
        self.save()

    def interrupted(self):
        return [Event.from_dict(d) for d in self.applying.values()]

    def mark_applied(self, ev, now, epoch=None):
        # Called once the rewind is complete (history truncated, data cleared). epoch: the
        # meter's history epoch after it (reconcile's reference). The pending event of the key
        # is this one or one it superseded: either way done.
        key = ev.meter + "/" + ev.kind
        t = ev.t if ev.t is not None else ev.impl_time
        self.applied[key] = {"t": t, "raw": ev.impl_time, "id": ev.issuer_event_id,
                             "prov": ev.provider_id, "by": ev.method}  # fmt: skip
        self.pending.pop(key, None)
        self.applying.pop(key, None)
        if epoch is not None:
            self.epochs[ev.meter] = epoch
        stats.inc("applied")
        self._audit(now, ev, "applied")
        self.save()

    def drop(self, ev, now, outcome):
        # A due or interrupted event found already applied: forget it without a rewind.
        key = ev.meter + "/" + ev.kind
        p = self.pending.get(key)
        if p is not None and p.get("t") == ev.t:
            del self.pending[key]
        self.applying.pop(key, None)
        self._audit(now, ev, outcome)
        self.save()

    def reconcile(self, meter, epoch, visible_from, now=0):
        # The history's (epoch, visible_from) of `meter` against what this file recorded at our
        # last rewind. -> True if the floors were restored from the history.
        known = self.epochs.get(meter)
        if known == epoch:
            return False
        if visible_from <= 0:  # never rewound (new device, or a history that was reset)
            self.epochs[meter] = epoch
            return False
        for k in KINDS:
            a = self.applying.get(meter + "/" + k)
            if a is not None and a.get("t") == visible_from:
                return False  # our interrupted rewind: the watcher completes it
        for k in KINDS:
            key = meter + "/" + k
            a = self.applied.get(key)
            if a is None or a["t"] < visible_from:
                self.applied[key] = {"t": visible_from, "raw": visible_from, "id": None,
                                     "prov": None, "by": "history"}  # fmt: skip
        self.epochs[meter] = epoch
        stats.inc("restored")
        log.warn(_TAG, "%s: history epoch %d unknown here (state lost?): changes up to T %d "
                 "count as applied", meter, epoch, visible_from)  # fmt: skip
        self.audit.append([now, meter, "*", None, visible_from, "history", "restored"])
        if len(self.audit) > _AUDIT_LEN:
            self.audit = self.audit[-_AUDIT_LEN:]
        self.save()
        return True

    def note_epoch(self, meter, epoch):
        # The watcher rewound the history itself (reconcile found it behind our floors).
        self.epochs[meter] = epoch
        self.save()

    def due(self, now):
        # Pending events whose time has come, oldest first.
        ds = [d for d in self.pending.values() if d["t"] <= now]
        ds.sort(key=lambda d: d["t"])
        return [Event.from_dict(d) for d in ds]

    def next_due(self):
        times = [d["t"] for d in self.pending.values()]
        return min(times) if times else None


def event_from_attributes(kind, meter, values, seen):
    # Attribute fallback: values are what the meter holds now —
    # CoT: [impl_time 0x0200, control 0x0201];
    # CoS: [impl_time 0x0112, control 0x0113, proposed id 0x0110, name 0x0111, contact 0x0114].
    # A change against the persisted last-seen values is an event (None otherwise); on the
    # first read every real time is an event too (a past one rewinds nothing on a new device).
    # 0 means "now" as on the command route; the time returning to 0xFFFFFFFF cancels what the
    # previous time scheduled. The issuer id of an attribute event is its time (the cancel's:
    # the previous time), which only names it: identity is (meter, kind, T) on every route.
    if values is None or values[0] is None or not _is_int(values[0]):
        return None
    if seen is not None and list(values) == list(seen):
        return None
    impl_time = values[0]
    if impl_time == TIME_CANCEL:
        if seen is None or seen[0] == TIME_CANCEL or not _is_int(seen[0]):
            return None  # nothing ever scheduled on this meter
        return Event(kind, meter, 0, seen[0], TIME_CANCEL, 0, "attributes")
    control = values[1] if len(values) > 1 and _is_int(values[1]) else 0
    ev = Event(kind, meter, 0, impl_time, impl_time, control, "attributes")
    if kind == COS:
        ev.proposed_provider_id = values[2] if len(values) > 2 else None
        ev.proposed_name = values[3] if len(values) > 3 else None
        ev.proposed_contact = values[4] if len(values) > 4 else None
    return ev
