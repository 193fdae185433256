# What the prepayment service keeps across a reboot, in one JSON file written with
# runtime.atomic: the top-up rate limit (consecutive rejections, lockout level, lock end), the
# codes sent without an answer (kept for a retry the user asks for), the last 20 top-up
# attempts (masked codes only) and the alerts that fired and have not re-armed. Without a path
# nothing is written.
#
# Rate limit: 3 consecutive rejections lock top-up entry for 60 s, doubling per further lockout
# up to 1 h; clear_rejects() (an accepted top-up) resets it. With the clock not yet synced a
# stored lock counts as active.
#
# Change of tenancy (docs/tenancy.md "Control bits"): the drop_* methods forget what was made
# before the implementation time T and keep what the new occupant did from T on; each entry
# carries its time for that (log rows, pending codes, the last rejection, fired alerts). A time
# of 0 (clock not synced when it was made, or a state file from before these times were kept)
# counts as before any T.
import json

from micropython import const

from ihd.prepay import stats
from ihd.runtime import atomic, clock, log

_TAG = const("prepay")
_MAX_REJECTS = const(3)  # consecutive rejections before a lockout
_LOCK_BASE_S = const(60)  # first lockout; doubles per further lockout
_LOCK_MAX_S = const(3600)
_LOG_LEN = const(20)


class Ledger:
    def __init__(self, path=None):
        self.path = path
        self.rejects = 0
        self.lock_level = 0
        self.lock_until = 0  # UTC; 0 = not locked
        self.reject_utc = 0  # time of the last rejection
        self.pending = {}  # meter -> UTRN digits sent without an answer (kept for retry)
        self.pending_utc = {}  # meter -> time its pending code was entered
        self.log = []  # [utc, meter, amount_mp, code, masked utrn], newest last
        self.disarmed = []  # [meter, alert kind, utc fired]: fired, not re-armed yet

    def load(self):
        if not self.path:
            return
        raw = atomic.read(self.path)
        if not raw:
            return
        try:
            d = json.loads(raw)
            self.rejects = int(d.get("rejects", 0))
            self.lock_level = int(d.get("lock_level", 0))
            self.lock_until = int(d.get("lock_until", 0))
            self.reject_utc = int(d.get("reject_utc", 0))
            self.pending = dict(d.get("pending", {}))
            self.pending_utc = dict(d.get("pending_utc", {}))
            self.log = list(d.get("log", []))[-_LOG_LEN:]
            for key in d.get("disarmed", []):
                parts = key.split("/")  # "meter/kind/utc" ("meter/kind" before times were kept)
                self.disarm(parts[0], parts[1], int(parts[2]) if len(parts) > 2 else 0)
        except (ValueError, AttributeError, TypeError, KeyError):
            log.warn(_TAG, "state unreadable; starting empty")

    def save(self):
        if not self.path:
            return
        d = {
            "rejects": self.rejects,
            "lock_level": self.lock_level,
            "lock_until": self.lock_until,
            "reject_utc": self.reject_utc,
            "pending": self.pending,
            "pending_utc": self.pending_utc,
            "log": self.log,
            "disarmed": ["%s/%s/%d" % (a[0], a[1], a[2]) for a in self.disarmed],
        }
        try:
            atomic.write_json(self.path, d)
        except OSError as e:
            log.exc(_TAG, e, "saving state")

    # ---------------- alerts ----------------

    def armed(self, name, kind):
        # Would this alert fire now? (False from when it fired until it re-arms.)
        for a in self.disarmed:  # noqa: SIM110 - all() over a generator allocates
            if a[0] == name and a[1] == kind:
                return False
        return True

    def disarm(self, name, kind, utc=None):
        if self.armed(name, kind):
            self.disarmed.append([name, kind, clock.now() if utc is None else utc])

    def rearm(self, name, kind):
        self.disarmed = [a for a in self.disarmed if not (a[0] == name and a[1] == kind)]

    # ---------------- rate limit ----------------

    def lock_remaining_s(self):
        if not self.lock_until:
            return 0
        now = clock.now()
        if now == 0:
            return _LOCK_BASE_S  # clock not synced yet: stay locked (conservative)
        left = self.lock_until - now
        if left <= 0:
            self.lock_until = 0
            self.save()
            return 0
        return left

    def reject(self):
        # A rejected code (the meter's Invalid / Duplicate, or a wrong check digit).
        self.rejects += 1
        self.reject_utc = clock.now()
        if self.rejects >= _MAX_REJECTS:
            self.rejects = 0
            self.lock_level += 1
            lock_s = min(_LOCK_MAX_S, _LOCK_BASE_S << min(self.lock_level - 1, 6))
            self.lock_until = max(1, clock.now()) + lock_s
            stats.inc("locked")
            log.warn(_TAG, "top-up entry locked for %d s", lock_s)
        self.save()

    def clear_rejects(self):
        if self.rejects or self.lock_level or self.lock_until:
            self.rejects = self.lock_level = self.lock_until = 0
            self.save()

    # ---------------- codes without an answer ----------------

    def set_pending(self, name, digits):
        self.pending[name] = digits
        self.pending_utc[name] = clock.now()

    def unpend(self, name):
        # -> True if meter `name` had a pending code.
        self.pending_utc.pop(name, None)
        return self.pending.pop(name, None) is not None

    # ---------------- top-up log ----------------

    def add(self, utc, name, amount_mp, code, masked):
        # One sent attempt; the caller saves.
        self.log.append([utc, name, amount_mp, code, masked])
        if len(self.log) > _LOG_LEN:
            self.log = self.log[-_LOG_LEN:]

    def entries(self, name=None):
        # Newest first: [(utc, meter, amount_mp, code, masked utrn)].
        return [tuple(e) for e in reversed(self.log) if name is None or e[1] == name]

    def clear(self, name=None):
        # Forget the log, pending codes and the rejection history of one meter (or all).
        self.log = [e for e in self.log if name is not None and e[1] != name]
        if name is None:
            self.pending = {}
            self.pending_utc = {}
        else:
            self.pending.pop(name, None)
            self.pending_utc.pop(name, None)
        self.rejects = self.lock_level = self.lock_until = 0
        self.save()

    # ---------------- change of tenancy: what was made before T ----------------
    # Each -> how many items went; the caller saves.

    def drop_log(self, name, t):
        # Top-up log rows of meter `name` made before t.
        n = len(self.log)
        self.log = [e for e in self.log if e[1] != name or e[0] >= t]
        return n - len(self.log)

    def drop_pending(self, name, t):
        # The code left without an answer on meter `name`, if it was entered before t.
        if name in self.pending and self.pending_utc.get(name, 0) < t:
            del self.pending[name]
            self.pending_utc.pop(name, None)
            return 1
        return 0

    def drop_rejects(self, t):
        # The rejection count and lockout, if the last rejection came before t (one made from
        # t on is the new occupant's, and the lockout protects against it).
        if self.reject_utc >= t or not (self.rejects or self.lock_level or self.lock_until):
            return 0
        self.rejects = self.lock_level = self.lock_until = 0
        return 1

    def drop_disarmed(self, name, t):
        # Re-arm the alerts of meter `name` that fired before t: the new occupant is alerted at
        # the next crossing.
        n = len(self.disarmed)
        self.disarmed = [a for a in self.disarmed if a[0] != name or a[2] >= t]
        return n - len(self.disarmed)
