# The domain state: a plain object the services fill and the screens read. Services call the
# set_* methods (or assign fields and call changed()); each publishes the D_* flags of the areas
# it touched on the `changes` Signal (runtime/events.py). A consumer (each display loop) keeps
# its own Changes: the flags raised since it last drew, and an Event that wakes it.
#
# PRIVACY (change of tenancy): each meter has visible_from_utc. The screens read consumption only
# through the view_* methods below, which drop anything stamped before that time, even if a
# service or the history store forgot to purge it (defence in depth).
# MIT license
import asyncio

from micropython import const

from ihd.runtime.events import Signal
from ihd.state.fuels import ELEC as FUEL_ELEC
from ihd.state.fuels import FUELS
from ihd.state.fuels import GAS as FUEL_GAS

# History periods: today by half hour, last 8 days, last 5 weeks, last 13 months.
P_DAY = const(0)
P_8D = const(1)
P_5W = const(2)
P_13M = const(3)
PERIOD_SLOTS = (48, 8, 5, 13)
_HH_S = const(1800)
_DAY_S = const(86400)

# Dirty flags (one per screen area).
D_LIVE = const(0x001)  # live demand
D_ENERGY = const(0x002)  # today energy/cost, last reading time
D_TARIFF = const(0x004)
D_HISTORY = const(0x008)
D_PREPAY = const(0x010)
D_MESSAGES = const(0x020)
D_STATUS = const(0x040)
D_LINK = const(0x080)
D_AMBIENT = const(0x100)
D_CLOCK = const(0x200)  # minute tick: clock and reading ages
D_ALL = const(0x3FF)
D_ALERT = const(0x400)  # not an area: something needs the user's attention (wakes the screen)

AMBIENT_UNKNOWN = const(-1)
AMBIENT_LOW = const(0)
AMBIENT_MEDIUM = const(1)
AMBIENT_HIGH = const(2)

LINK_DOWN = const(0)
LINK_JOINING = const(1)
LINK_UP = const(2)

MODE_CREDIT = const(0)
MODE_PREPAY = const(1)


class FuelState:
    # What is known about one fuel; `fuel` is its row of the fuel table (state/fuels.py).
    def __init__(self, fuel):
        self.fuel = fuel
        self.id = fuel.index
        self.name = fuel.name
        self.present = False  # a meter of this fuel is bound
        self.visible_from_utc = 0  # nothing before this time is ever shown (tenancy start)
        # Live demand (electricity; gas has none) and its time.
        self.demand_w = None  # type: int | None
        self.demand_utc = None  # type: int | None
        # Today's energy and cost, the start of the period they cover, last reading time.
        self.today_wh = None  # type: int | None
        self.today_cost_mp = None  # type: int | None
        self.today_from_utc = None  # type: int | None
        self.reading_utc = None  # type: int | None
        # Tariff (not personal: shown regardless of visible_from).
        self.unit_rate_mp_kwh = None  # type: int | None  # 1e-5 GBP per kWh
        self.standing_mp_day = None  # type: int | None
        self.tier = None  # type: int | None
        self.tier_label = None  # type: str | None
        self.next_rate_mp_kwh = None  # type: int | None
        self.next_rate_utc = None  # type: int | None
        # From a tariff clear (change of supplier, Clear IHD Data - Supplier) until a tariff is
        # read again: the half-hours since were not costed, today's cost is not shown.
        self.cost_unknown = False
        # Prepayment.
        self.mode = MODE_CREDIT
        self.credit_mp = None  # type: int | None
        self.ec_avail_mp = None  # type: int | None  # emergency credit available
        self.ec_in_use = False
        self.debt_mp = None  # type: int | None
        self.prepay_utc = None  # type: int | None
        self.low_credit = False
        # Link quality (0-255) of the last frame from this fuel's meter (Status screen).
        self.lqi = None  # type: int | None


def _visible(rows, vf):
    # Not inline in Model.history: a comprehension there makes its variables cells, allocated
    # at every call (2 objects per render), not only when rows are dropped.
    return [e for e in rows if e[0] >= vf]


def _percent(t_wh, y_wh, n):
    if n < 2 or y_wh <= 0:
        return None
    return ((t_wh - y_wh) * 200 // y_wh + 1) // 2  # rounded to the nearest percent


def _compare(today, yday_wh, cut, yday_start, vf):
    # Model.vs_yesterday over today's rows and yesterday's 48 energies (-1: no data).
    t_wh = y_wh = n = 0
    for row in today:
        s = row[0]
        if s >= cut:
            break
        if row[1] is None:
            continue
        i = (s - _DAY_S - yday_start) // _HH_S
        if 0 <= i < 48 and yday_wh[i] >= 0 and yday_start + i * _HH_S >= vf:
            t_wh += row[1]
            y_wh += yday_wh[i]
            n += 1
    return _percent(t_wh, y_wh, n)


# Message control (SE Messaging, zigbee-se.md section 8): bits 0-1 transmission, 2-3
# importance, 0x20 enhanced confirmation, 0x80 confirmation required.
MSG_INTERPAN_ONLY = const(0x02)
MSG_IMPORTANCE = const(0x0C)
MSG_HIGH = const(0x08)  # importance high (0x0C critical): shown at once
MSG_ENHANCED = const(0x20)
MSG_CONFIRM = const(0x80)
# Message flags (the device's own state of a message, persisted with it).
MF_READ = const(0x01)
MF_CONFIRMED = const(0x02)  # by the user here, or already elsewhere (extended control bit 0)
MF_HUB = const(0x04)  # from the comms hub, not a meter: a change on any meter clears it
MF_PROTECTED = const(0x08)  # a DisplayProtectedMessage: no preview in the list
MF_UNSENT = const(0x40)  # confirmed here, the MessageConfirmation not acknowledged yet
MF_ANSWER_SHIFT = const(4)  # bits 4-5: the answer chosen (index into ANSWERS + 1), 0 none
# Enhanced confirmation: the user picks one of these; (label, MessageConfirmationControl).
# The label is sent as the optional response text (docs/messages.md "Confirming").
ANSWERS = (("Yes", 0x02), ("No", 0x01), ("Call me", 0x02))


class Message:
    # One supplier message (ihd/messages/ keeps at most N of them, on flash too). time_utc: its
    # start; end_utc: its end, 0 = until cancelled; fuel: the meter it came from (the hub's:
    # FUEL_ELEC with MF_HUB); control: the MessageControl byte as received; flags: MF_*.
    __slots__ = ("id", "text", "time_utc", "end_utc", "fuel", "control", "flags")

    def __init__(self, msg_id, text, time_utc, fuel=FUEL_ELEC, confirm=False, urgent=False,
                 control=0, end_utc=0, flags=0):  # fmt: skip
        self.id = msg_id
        self.text = text
        self.time_utc = time_utc
        self.end_utc = end_utc
        self.fuel = fuel
        self.control = control | (MSG_CONFIRM if confirm else 0) | (MSG_HIGH if urgent else 0)
        self.flags = flags

    @property
    def confirm(self):  # the supplier asked for a confirmation (plain or enhanced)
        return bool(self.control & (MSG_CONFIRM | MSG_ENHANCED))

    @property
    def enhanced(self):  # ... with a Yes / No answer and a response text
        return bool(self.control & MSG_ENHANCED)

    @property
    def urgent(self):
        return (self.control & MSG_IMPORTANCE) >= MSG_HIGH

    @property
    def confirmed(self):
        return bool(self.flags & MF_CONFIRMED)

    @property
    def read(self):
        return bool(self.flags & MF_READ)

    @property
    def answer(self):  # index into ANSWERS, or -1
        return (self.flags >> MF_ANSWER_SHIFT & 3) - 1

    def active(self, now):
        # Started and not ended at wall time `now` (0: the clock is not set: shown).
        return not now or (self.time_utc <= now and (not self.end_utc or now < self.end_utc))


def _now_default():
    try:
        from ihd.runtime import clock

        return clock.now()
    except ImportError:
        return 0


class Changes:
    # One consumer's view of a Model's change events: the D_* flags raised since it last took
    # them (all of them at first), whether an alert came, and an Event set on every change.
    def __init__(self, model):
        self.dirty = D_ALL
        self.alert = False
        self.wake = asyncio.Event()
        model.changes.connect(self._on_change)

    def _on_change(self, flags):
        self.dirty |= flags & D_ALL
        if flags & D_ALERT:
            self.alert = True
        self.wake.set()

    def take(self):
        d = self.dirty
        self.dirty = 0
        return d


class Model:
    # history: the object screens read history through, history(fuel_id, period, now_utc) and
    # optionally `version` (history.view.HistoryView on the device).
    def __init__(self, now_fn=None, history=None):
        self.now = now_fn or _now_default
        self.fuels = tuple(FuelState(f) for f in FUELS)
        self.elec = self.fuels[FUEL_ELEC]
        self.gas = self.fuels[FUEL_GAS]
        self.supplier = None  # type: str | None
        # Electricity exported today (Wh, stored + open half-hour), counted from export_from_utc;
        # None while the home does not export (the screens show no export then).
        self.export_today_wh = None  # type: int | None
        self.export_from_utc = 0
        self.ambient = AMBIENT_UNKNOWN
        self.messages = []
        self.link = LINK_DOWN
        # Status (no personal data), from the NCP (set_ncp).
        self.fw_version = "0.0.0"
        self.ncp_version = None  # type: str | None
        self.ezsp_version = None  # type: int | None
        self.eui64 = None  # type: bytes | None  # little-endian, as on the wire
        self.channel = None  # type: int | None
        self.pan_id = None  # type: int | None
        self.node_id = None  # type: int | None
        self.ncp_resets = 0
        # Daily budget in 1e-5 GBP (config daily_budget_mp); None: no budget shown.
        self.daily_budget_mp = None  # type: int | None
        # Joining (docs/joining.md): None once nothing is pending; the install code text is
        # shown to the installer only while the device is not on a network.
        self.join_status = None  # type: str | None
        self.install_code_text = None  # type: str | None
        # The last change of tenancy / supplier applied: (kind "cot" | "cos", T in UTC), or None.
        self.tenancy_event = None  # type: tuple | None
        self.history_source = history
        self.confirmed = Signal("confirm")  # payload: the Message the user confirmed
        self.message_read = Signal("read")  # payload: the Message the user opened
        self.urgent_msg = None  # the last urgent message that started (show_message)
        self.urgent_seq = 0
        # PPMID: the prepayment service's user actions (top_up, select_emergency_credit, ...;
        # docs/prepay.md "UI"); None on an IHD that only shows balances.
        self.prepay_actions = None
        self.prepay_last = None  # last top-up / emergency credit Result shown to the user
        self.changes = Signal("model")  # payload: D_* flags, | D_ALERT

    def fuel(self, fuel_id):
        return self.fuels[fuel_id]

    # -- change notification --
    def changed(self, flags, alert=False):
        self.changes.emit((flags | D_ALERT) if alert else flags)

    # -- setters for the services --
    def set_demand(self, fuel_id, demand_w, utc):
        f = self.fuels[fuel_id]
        f.demand_w = demand_w
        f.demand_utc = utc
        self.changed(D_LIVE)

    def set_today(self, fuel_id, energy_wh, cost_mp, from_utc, reading_utc):
        f = self.fuels[fuel_id]
        f.present = True
        f.today_wh = energy_wh
        f.today_cost_mp = cost_mp
        f.today_from_utc = from_utc
        f.reading_utc = reading_utc
        self.changed(D_ENERGY | D_HISTORY)

    def set_export(self, energy_wh, from_utc):
        if energy_wh == self.export_today_wh and from_utc == self.export_from_utc:
            return
        self.export_today_wh = energy_wh
        self.export_from_utc = from_utc
        self.changed(D_ENERGY | D_HISTORY)

    def set_tariff(
        self, fuel_id, unit_rate_mp_kwh, standing_mp_day, tier=None, tier_label=None, supplier=None
    ):
        f = self.fuels[fuel_id]
        f.unit_rate_mp_kwh = unit_rate_mp_kwh
        f.standing_mp_day = standing_mp_day
        f.tier = tier
        f.tier_label = tier_label
        if unit_rate_mp_kwh is not None and f.cost_unknown:
            f.cost_unknown = False
            self.changed(D_ENERGY)
        if supplier is not None:
            self.supplier = supplier
        self.changed(D_TARIFF | D_LIVE)

    def set_next_rate(self, fuel_id, rate_mp_kwh, from_utc):
        # The next price known (time-of-use: the next tier) and when it starts; None: none.
        f = self.fuels[fuel_id]
        if f.next_rate_mp_kwh != rate_mp_kwh or f.next_rate_utc != from_utc:
            f.next_rate_mp_kwh = rate_mp_kwh
            f.next_rate_utc = from_utc
            self.changed(D_TARIFF)

    def clear_tariff(self, fuel_id, clear_supplier=False, supplier=None):
        # Change of supplier / Clear IHD Data - Supplier: the fuel's tariff is gone until the
        # meters service reads one again; clear_supplier: the supplier's name too (replaced by
        # `supplier`, the proposed supplier's, when known).
        f = self.fuels[fuel_id]
        f.unit_rate_mp_kwh = None
        f.standing_mp_day = None
        f.tier = None
        f.tier_label = None
        f.next_rate_mp_kwh = None
        f.next_rate_utc = None
        f.cost_unknown = True
        if clear_supplier:
            self.supplier = supplier or None
        self.changed(D_TARIFF | D_LIVE | D_ENERGY)

    def set_prepay(
        self,
        fuel_id,
        mode,
        credit_mp,
        ec_avail_mp,
        debt_mp,
        utc,
        ec_in_use=False,
        low_credit=False,
        alert=None,
    ):
        # alert: wake the user (default: whenever credit is low; the prepayment service says
        # True only when the credit crosses the level, so that it alerts once per crossing)
        f = self.fuels[fuel_id]
        f.mode = mode
        f.credit_mp = credit_mp
        f.ec_avail_mp = ec_avail_mp
        f.debt_mp = debt_mp
        f.prepay_utc = utc
        f.ec_in_use = ec_in_use
        f.low_credit = low_credit
        self.changed(D_PREPAY | D_ENERGY, alert=low_credit if alert is None else alert)

    def set_ambient(self, level):
        if level != self.ambient:
            self.ambient = level
            self.changed(D_AMBIENT)

    def set_link(self, state):
        if state != self.link:
            self.link = state
            self.changed(D_LINK | D_STATUS)

    def set_ncp(self, ezsp_version, stack_version, eui64, channel, pan_id, node_id, resets):
        # The NCP's versions and the network it is on (channel, PAN id, node id: None when
        # not on one); resets: NCP resets since boot.
        self.ezsp_version = ezsp_version
        self.ncp_version = stack_version
        self.eui64 = eui64
        self.channel = channel
        self.pan_id = pan_id
        self.node_id = node_id
        self.ncp_resets = resets
        self.changed(D_STATUS)

    def set_lqi(self, fuel_id, lqi):
        # Every frame from a meter brings one; only a move of 8 or more redraws (the Status
        # screen also redraws each minute, with the latest value).
        f = self.fuels[fuel_id]
        old = f.lqi
        f.lqi = lqi
        if old is None or lqi - old >= 8 or old - lqi >= 8:
            self.changed(D_STATUS)

    def set_tenancy_event(self, kind, t_utc):
        self.tenancy_event = (kind, t_utc)
        self.changed(D_STATUS)

    def set_budget(self, daily_mp):
        # A positive amount in 1e-5 GBP, else no budget.
        ok = isinstance(daily_mp, int) and not isinstance(daily_mp, bool) and daily_mp > 0
        self.daily_budget_mp = daily_mp if ok else None
        self.changed(D_ENERGY)

    def set_prepay_actions(self, actions):
        # The PPMID's way to the prepayment service (an object with the methods docs/prepay.md
        # "UI" lists); the Prepayment screen grows its top-up and emergency-credit parts.
        self.prepay_actions = actions
        self.changed(D_PREPAY)

    def set_join(self, status, install_code_text=None):
        self.join_status = status
        self.install_code_text = install_code_text
        self.changed(D_STATUS)

    def set_visible_from(self, fuel_id, utc):
        # Tenancy change applied: everything may have changed.
        self.fuels[fuel_id].visible_from_utc = utc
        self.changed(D_ALL)

    def add_message(self, msg, alert=None):
        # A new message (or one replacing the message of the same id), newest first. alert:
        # wake the screen; by default when it asks for a confirmation or is urgent.
        for i in range(len(self.messages)):
            if self.messages[i].id == msg.id:
                self.messages[i] = msg
                break
        else:
            self.messages.insert(0, msg)
        if alert is None:
            alert = (msg.confirm and not msg.confirmed) or msg.urgent
        self.changed(D_MESSAGES, alert=alert)

    def clear_messages(self, fuel_id, before_utc):
        # The messages of the fuel stamped before before_utc go (and the hub's: MF_HUB); later
        # ones are kept. -> how many. (Change of tenancy: ihd/messages/service.py.)
        n = len(self.messages)
        self.messages = [
            m for m in self.messages
            if (m.fuel != fuel_id and not m.flags & MF_HUB)
            or (m.time_utc is not None and m.time_utc >= before_utc)
        ]  # fmt: skip
        n -= len(self.messages)
        if n:
            self.changed(D_MESSAGES)
        return n

    def remove_message(self, msg_id):
        self.messages = [m for m in self.messages if m.id != msg_id]
        self.changed(D_MESSAGES)

    def confirm_message(self, msg, answer=-1):
        # The user confirmed (answer: index into ANSWERS for an enhanced confirmation).
        msg.flags |= MF_CONFIRMED | MF_READ | ((answer + 1) & 3) << MF_ANSWER_SHIFT
        self.confirmed.emit(msg)
        self.changed(D_MESSAGES)

    def read_message(self, msg):
        # The user opened it: no longer unread (message_read: the store keeps the flag).
        if not msg.flags & MF_READ:
            msg.flags |= MF_READ
            self.message_read.emit(msg)
            self.changed(D_MESSAGES)

    def show_message(self, msg):
        # An urgent message started: each display opens it at once (urgent_seq: 0 B to follow).
        self.urgent_msg = msg
        self.urgent_seq += 1
        self.changed(D_MESSAGES, alert=True)

    def unread(self):
        # Messages shown and not yet opened (the header's envelope).
        n = 0
        for m in self.view_messages():
            if not m.flags & MF_READ:
                n += 1
        return n

    def prepay_mode(self):
        return any(f.present and f.mode == MODE_PREPAY for f in self.fuels)

    # -- privacy-filtered views: the only way screens read consumption --
    def visible(self, fuel_id, t_utc):
        return t_utc is not None and t_utc >= self.fuels[fuel_id].visible_from_utc

    def view_demand(self, fuel_id):
        f = self.fuels[fuel_id]
        return f.demand_w if self.visible(fuel_id, f.demand_utc) else None

    def view_today(self, fuel_id):
        # (energy_wh, cost_mp) or None
        f = self.fuels[fuel_id]
        if f.today_wh is None or not self.visible(fuel_id, f.today_from_utc):
            return None
        return f.today_wh, None if f.cost_unknown else f.today_cost_mp

    def view_export_today(self):
        # Wh exported today, or None (no export, or counted from before visible_from)
        if self.export_today_wh is None or not self.visible(FUEL_ELEC, self.export_from_utc):
            return None
        return self.export_today_wh

    def view_export(self, period):
        # Wh exported in `period` (P_DAY: today's stored half-hours; P_8D, P_5W, P_13M), or None
        # while the home does not export. From the history source's export totals (0 B with a
        # history.view.HistoryView on its cached day): asked only once the meters service has
        # set an export, and only a source that has them.
        src = self.history_source
        if self.export_today_wh is None or src is None or not hasattr(src, "export_totals"):
            return None
        tot = src.export_totals(self.now())  # (hasattr and a method call: no bound method)
        return None if tot is None else tot[period]

    def view_reading_utc(self, fuel_id):
        f = self.fuels[fuel_id]
        return f.reading_utc if self.visible(fuel_id, f.reading_utc) else None

    def view_prepay(self, fuel_id):
        # (credit_mp, ec_avail_mp, debt_mp) or None
        f = self.fuels[fuel_id]
        if f.credit_mp is None or not self.visible(fuel_id, f.prepay_utc):
            return None
        return f.credit_mp, f.ec_avail_mp, f.debt_mp

    def view_messages(self):
        # Visible (tenancy), started and not ended (the service removes ended ones in time,
        # this keeps the screens right in between).
        now = self.now()
        return [m for m in self.messages if self.visible(m.fuel, m.time_utc) and m.active(now)]

    def history(self, fuel_id, period, at_utc=None):
        # -> sequence of (start_utc, energy_wh, cost_mp) (tuples or 3-item lists), oldest first,
        # only from visible_from on; at_utc: the period holding that time instead of now (an
        # earlier day: HistoryView reads it from the store, uncached). When all of the source's
        # rows are visible they are returned as they are (no copy, 0 B with a
        # history.view.HistoryView): treat them as read-only.
        src = self.history_source
        if src is None:
            return []
        vf = self.fuels[fuel_id].visible_from_utc
        rows = src.history(fuel_id, period, self.now() if at_utc is None else at_utc)
        for e in rows:
            if e[0] < vf:
                return _visible(rows, vf)
        return rows

    def vs_yesterday(self, fuel_id):
        # The comparison rule: today's energy against yesterday's at the same time of day, in
        # whole percent (+12: 12 % more), or None. Only complete half-hours count (the one in
        # progress does not), and only those both days have data for, so a gap or a change of
        # tenancy never compares a part with a whole; fewer than two such half-hours, or none
        # used yesterday: None. Nothing before visible_from counts. Yesterday comes from the
        # source's copy of it (HistoryView.yesterday: 0 B) or else from the store (a file read):
        # call it when the history changed, not per frame.
        src = self.history_source
        if src is None:
            return None
        now = self.now()
        cut = now - now % _HH_S
        today = self.history(fuel_id, P_DAY)  # first: keeps a HistoryView's cache on today
        try:
            ya = src.yesterday(fuel_id, now)  # a method call: no bound object
        except AttributeError:
            ya = None
        ystart = now - now % _DAY_S - _DAY_S
        if ya is None:  # not a HistoryView (a HistoryView's copy of yesterday: 0 B)
            ya = [-1] * 48
            for row in self.history(fuel_id, P_DAY, ystart):
                i = (row[0] - ystart) // _HH_S
                if 0 <= i < 48 and row[1] is not None:
                    ya[i] = row[1]
        return _compare(today, ya, cut, ystart, self.fuels[fuel_id].visible_from_utc)

    def today_cost_mp(self):
        # Today's cost so far over the fuels that have one (privacy-filtered), None if none.
        total = None
        for f in self.fuels:
            t = self.view_today(f.id) if f.present else None
            if t is not None and t[1] is not None:
                total = t[1] if total is None else total + t[1]
        return total

    def history_version(self):
        # A number that changes whenever the source's rows may have changed (a screen can keep
        # what it computed from them until then), or None if the source does not say (always
        # recompute).
        return getattr(self.history_source, "version", None)
