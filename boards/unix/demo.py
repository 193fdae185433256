# Deterministic demo data: a realistic-looking model (January evening, electricity on credit,
# gas included) and the list of named scenes used for screenshots and golden-image tests, plus
# canned prepayment actions (PPMID scenes, UI tests). Fake data only; no randomness beyond a
# fixed LCG. Host side only: it lives with the unix board (on the unix port's path, frozen only
# into the unix build), not in the firmware package the devices carry.
# MIT license
from ihd.state import model as M
from ihd.ui import fmt

NOW_UTC = fmt.days_from_civil(2026, 1, 15) * 86400 + 18 * 3600 + 42 * 60  # Thu 15 Jan 18:42
ELEC_RATE_MP = 24500  # 24.50p/kWh
GAS_RATE_MP = 6040  # 6.04p/kWh


def _noise(i):
    # Deterministic 0..99 from an index.
    return (i * 1103515245 + 12345) // 65536 % 100


def _elec_hh(slot, day):
    # Wh in a half hour: night base, morning and evening peaks.
    h = slot // 2
    base = 110 + _noise(slot + 48 * day) // 2
    if 7 <= h < 9:
        base += 250 + _noise(slot * 7 + day) * 2
    elif 17 <= h < 21:
        base += 420 + _noise(slot * 3 + day) * 4
    elif 12 <= h < 14:
        base += 120
    return base


def _gas_hh(slot, day):
    h = slot // 2
    if 6 <= h < 9:
        return 1900 + _noise(slot + day * 5) * 12
    if 16 <= h < 22:
        return 1500 + _noise(slot * 5 + day) * 10
    return 60 if h < 6 else 0


class DemoHistory:
    def __init__(self, now_utc):
        self.now = now_utc
        self.export = None  # Wh exported today, 8 days, 5 weeks, 13 months (None: no export)

    def export_totals(self, now_utc):
        # as history.view.HistoryView.export_totals: [today, 8 days, 5 weeks, 13 months] or None
        return self.export

    def _day_wh(self, fuel, day):
        f = _elec_hh if fuel == M.FUEL_ELEC else _gas_hh
        # Weekends and colder days use more.
        k = 100 + (_noise(day * 31 + fuel) % 40) - 20
        if (3 - day) % 7 in (5, 6):  # day 0 is a Thursday
            k += 15
        return sum(f(s, day) for s in range(48)) * k // 100

    def history(self, fuel, period, now_utc):
        rate = ELEC_RATE_MP if fuel == M.FUEL_ELEC else GAS_RATE_MP
        out = []
        mid = fmt.local_midnight_utc(now_utc)
        if period == M.P_DAY:
            # today up to now (the slot in progress partial), an earlier day whole
            f = _elec_hh if fuel == M.FUEL_ELEC else _gas_hh
            day = (fmt.local_midnight_utc(self.now) - mid) // 86400
            cur = (now_utc - mid) // 1800 if day == 0 else 47
            for s in range(cur + 1):
                wh = f(s, day)
                if s == cur and day == 0:
                    wh = wh * ((now_utc - mid) % 1800) // 1800
                out.append((mid + 1800 * s, wh, wh * rate // 1000))
        elif period == M.P_8D:
            today = self.today(fuel, now_utc)[0]
            for d in range(7, -1, -1):
                wh = today if d == 0 else self._day_wh(fuel, d)
                out.append((mid - 86400 * d, wh, wh * rate // 1000))
        elif period == M.P_5W:
            dn = fmt.local(now_utc) // 86400
            mon = mid - 86400 * fmt.weekday(dn)
            for k in range(4, -1, -1):
                days = 7 if k else fmt.weekday(dn) + 1
                wh = sum(self._day_wh(fuel, k * 7 + d) for d in range(days))
                out.append((mon - 7 * 86400 * k, wh, wh * rate // 1000))
        else:
            y, mo, _ = fmt.civil(fmt.local(now_utc) // 86400)
            for k in range(12, -1, -1):
                mm = mo - k
                yy = y
                while mm < 1:
                    mm += 12
                    yy -= 1
                start = fmt.days_from_civil(yy, mm, 1) * 86400
                # Winter-heavy seasonal profile (kWh per month).
                season = (0, 10, 8, 6, 4, 2, 1, 0, 1, 2, 4, 7, 9)[mm]
                if fuel == M.FUEL_ELEC:
                    wh = (230 + season * 12 + _noise(k)) * 1000
                else:
                    wh = (150 + season * 110 + _noise(k) * 2) * 1000
                if k == 0:
                    wh = wh * 15 // 31
                out.append((start - fmt.uk_offset_s(start), wh, wh * rate // 1000))
        return out

    def today(self, fuel, now_utc):
        entries = self.history(fuel, M.P_DAY, now_utc)
        wh = sum(e[1] for e in entries)
        return wh, sum(e[2] for e in entries)


def make_model(now_utc=NOW_UTC):
    # (pyright takes the None a Model starts these fields with for their type: the ignores.)
    m = M.Model(now_fn=lambda: now_utc)
    hist = DemoHistory(now_utc)
    m.history_source = hist
    mid = fmt.local_midnight_utc(now_utc)
    wh, cost = hist.today(M.FUEL_ELEC, now_utc)
    m.set_today(M.FUEL_ELEC, wh, cost, mid, now_utc - 8)
    wh, cost = hist.today(M.FUEL_GAS, now_utc)
    m.set_today(M.FUEL_GAS, wh, cost, mid, now_utc - 12 * 60)
    m.set_demand(M.FUEL_ELEC, 1234, now_utc - 8)
    m.set_tariff(
        M.FUEL_ELEC, ELEC_RATE_MP, 53350, tier=2, tier_label="Peak", supplier="Brightwater Energy"
    )
    m.set_tariff(M.FUEL_GAS, GAS_RATE_MP, 31430, tier=1, tier_label="Standard")
    m.set_ambient(M.AMBIENT_HIGH)
    m.set_link(M.LINK_UP)
    m.fw_version = "0.1.0"
    # the NCP's EUI64 00:0D:6F:00:0A:1B:2C:3D, little-endian as the NCP reports it
    m.set_ncp(13, "7.4.3.0 build 0", bytes((0x3D, 0x2C, 0x1B, 0x0A, 0x00, 0x6F, 0x0D, 0x00)),
              11, 0x1A2B, 0x7A3C, 1)  # fmt: skip
    m.set_lqi(M.FUEL_ELEC, 212)
    m.set_lqi(M.FUEL_GAS, 176)
    moved_in = fmt.days_from_civil(2024, 11, 1) * 86400
    m.set_tenancy_event("cot", moved_in)
    for f in m.fuels:
        f.visible_from_utc = moved_in
    m.add_message(
        M.Message(
            1,
            "Your smart meter will receive a software update overnight. No action is needed.",
            now_utc - 3 * 86400,
            flags=M.MF_READ,
        )
    )
    m.add_message(
        M.Message(
            2,
            "Prices change on 1 April. Your new unit rate will be 23.10p/kWh "
            "and your standing charge 51.20p/day.",
            now_utc - 86400 - 3600,
            confirm=True,
            flags=M.MF_READ,
        )
    )
    return m


def add_unread(m, now_utc=NOW_UTC):
    # Two messages not opened yet: one to read, one asking for an answer (enhanced).
    m.add_message(M.Message(3, "Your annual statement is ready. See your account online.",
                            now_utc - 7200))  # fmt: skip
    text = "We need to replace your gas meter. Can we call you to book a visit?"
    m.add_message(M.Message(4, text, now_utc - 600, control=M.MSG_CONFIRM | M.MSG_ENHANCED))


def set_prepay(m, now_utc=NOW_UTC):
    m.elec.mode = M.MODE_PREPAY
    m.gas.mode = M.MODE_PREPAY
    m.set_prepay(M.FUEL_ELEC, M.MODE_PREPAY, 1234500, 500000, 21000, now_utc - 60)
    m.set_prepay(M.FUEL_GAS, M.MODE_PREPAY, 381000, 500000, 0, now_utc - 600, low_credit=True)


def _history(period, fuel, cost, focus=False):
    def f(ui):
        s = ui.screen("history")
        ui.go("history")
        s.period, s.fuel, s.cost, s.focus = period, fuel, cost, focus
        ui.redraw()

    return f


def _go(name, **attrs):
    def f(ui):
        ui.go(name)
        s = ui.screen(name)
        for k in attrs:
            setattr(s, k, attrs[k])
        ui.redraw()

    return f


def _budget_home(ui):
    ui.m.set_budget(450000)  # £4.50 a day: today's £3.71 is past 80 % of it
    ui.go("home")
    ui.redraw()


def _history_from(ui):
    # A change of tenancy at 11:00 today: the day's history starts there.
    ui.m.elec.visible_from_utc = fmt.local_midnight_utc(ui.m.now()) + 11 * 3600
    _history(M.P_DAY, M.FUEL_ELEC, False)(ui)


def _unread(name, **attrs):
    def f(ui):
        add_unread(ui.m)
        _go(name, **attrs)(ui)

    return f


def _tariff_tou(ui):
    # A four-rate smart tariff: Peak now (16:00-19:00), Day from 19:00 (demo time 18:42)
    m = ui.m
    m.set_next_rate(M.FUEL_ELEC, 19850, fmt.local_midnight_utc(m.now()) + 19 * 3600)
    _go("tariff")(ui)


def _exporting(ui):
    # A home with solar panels: 2.84 kWh stored today + 0.31 in the open half-hour.
    ui.m.history_source.export = [2840, 19650, 61200, 812000]
    ui.m.set_export(3150, fmt.local_midnight_utc(ui.m.now()))


def _export_home(ui):
    # (128x64: the summary line's 4th item, after both comparisons and the gas reading age)
    _exporting(ui)
    _go("home", turn=3)(ui)


def _export_history(ui):
    _exporting(ui)
    _history(M.P_8D, M.FUEL_ELEC, False)(ui)


def _prepay_home(ui):
    set_prepay(ui.m)
    ui.go("home")
    ui.redraw()


def _prepay(ui):
    set_prepay(ui.m)
    ui.go("prepay")
    ui.redraw()


# (name, setup(ui)) applied to a fresh demo model each.
SCENES = (
    ("home", _go("home")),
    ("home_budget", _budget_home),
    ("home_prepay", _prepay_home),
    ("home_export", _export_home),
    ("history_day", _history(M.P_DAY, M.FUEL_ELEC, False)),
    ("history_from", _history_from),
    ("history_export", _export_history),
    ("history_8d", _history(M.P_8D, M.FUEL_ELEC, True, True)),
    ("history_5w", _history(M.P_5W, M.FUEL_GAS, False)),
    ("history_13m", _history(M.P_13M, M.FUEL_GAS, True)),
    ("tariff", _go("tariff")),
    ("tariff_tou", _tariff_tou),
    ("home_unread", _unread("home")),
    ("messages", _unread("messages", focus=True, sel=1)),
    ("message_detail", _go("messages", focus=True, sel=0, detail=True)),
    ("message_confirm", _unread("messages", focus=True, sel=0, detail=True, answer=2)),
    ("prepay", _prepay),
    ("status", _go("status")),
    # the 128x64 Status pages after the first (320x240 has one page: the same as "status")
    ("status_2", _go("status", focus=True, page=1)),
    ("status_3", _go("status", focus=True, page=2)),
)


# ---- PPMID (prepayment actions) scenes: a fake actions object, no I/O ----
_DEMO_TEXT = {0: "Top-up accepted", 2: "Code already used", 0x22: "No answer: code kept, retry",
              0x30: "Emergency credit on"}  # fmt: skip
DEMO_CODE = "73950067887105178605"


class DemoResult:
    # Shaped like ihd.prepay.account.Result.
    def __init__(self, code, fuel="elec", amount_mp=None, credit_mp=None, ec_mp=None, lock_s=0):
        self.code = code
        self.fuel = fuel
        self.amount_mp = amount_mp
        self.credit_mp = credit_mp
        self.ec_mp = ec_mp
        self.lock_s = lock_s
        self.maybe_applied = False
        self.status = None
        self.utrn = "7395 0067 8871 0517 8605"

    def ok(self):
        return self.code in (0, 0x30)

    def text(self):
        return _DEMO_TEXT.get(self.code, "Code not valid for this meter")


class DemoActions:
    # model.prepay_actions for demos and UI tests: canned answers, calls recorded.
    def __init__(self, now_utc=NOW_UTC, meters=("elec", "gas")):
        self.meters = list(meters)
        self.alert_list = []
        self.offer = {}  # meter -> EC amount offered
        self.lock_s = 0
        self.pending_codes = {}
        self.answer = DemoResult(0, amount_mp=1250000, credit_mp=1631000)
        self.ec_answer = DemoResult(0x30, ec_mp=500000, credit_mp=62000)
        self.calls = []
        self.log = [
            (now_utc - 2 * 86400 - 5 * 3600, "elec", 2000000, 0, "**** **** **** **** 5424"),
            (now_utc - 6 * 86400, "gas", 1000000, 0, "**** **** **** **** 1189"),
            (now_utc - 9 * 86400 - 3600, "elec", None, 2, "**** **** **** **** 8605"),
        ]

    def prepayment_meters(self):
        return list(self.meters)

    def alerts(self):
        return list(self.alert_list)

    def acknowledge(self, meter=None, kind=None):
        self.calls.append(("acknowledge", meter, kind))
        self.alert_list = [a for a in self.alert_list if not (a[0] == meter and a[1] == kind)]

    def ec_offer(self, meter):
        return self.offer.get(meter)

    def lock_remaining_s(self):
        return self.lock_s

    def pending(self, meter):
        return self.pending_codes.get(meter)

    def discard_pending(self, meter):
        self.pending_codes.pop(meter, None)

    def top_up_log(self, meter=None):
        return [e for e in self.log if meter is None or e[1] == meter]

    async def top_up(self, meter, digits):
        self.calls.append(("top_up", meter, digits))
        r = self.answer
        r.fuel = meter
        return r

    async def retry(self, meter):
        self.calls.append(("retry", meter))
        return self.answer

    async def select_emergency_credit(self, meter):
        self.calls.append(("select_ec", meter))
        self.offer.pop(meter, None)
        return self.ec_answer


def set_ppmid(m, now_utc=NOW_UTC):
    set_prepay(m, now_utc)
    a = DemoActions(now_utc)
    m.prepay_actions = a
    return a


def _ppmid(setup=None):
    def f(ui):
        a = set_ppmid(ui.m)
        if setup is not None:
            setup(ui, a)
        ui.go("prepay")
        ui.redraw()

    return f


def _alert(ui, a):
    a.alert_list = [("gas", "low_credit", NOW_UTC - 600)]


def _offer(ui, a):
    ui.m.set_prepay(M.FUEL_ELEC, M.MODE_PREPAY, 62000, 500000, 3450000, NOW_UTC - 60,
                    low_credit=True)  # fmt: skip
    a.offer["elec"] = 500000


def _dialog(ui, a):
    _offer(ui, a)
    ui.go("prepay")
    s = ui.screen("prepay")
    s._panel(ui).dialog = "elec"


def _utrn(setup):
    def f(ui):
        a = set_ppmid(ui.m)
        ui.go("utrn")
        setup(ui.screen("utrn").entry, a)
        ui.redraw()

    return f


def _typing(e, a):
    e.digits = DEMO_CODE[:12]


def _buttons(e, a):
    e.digits = DEMO_CODE[:6]
    e.cand = 7


def _mistyped(e, a):
    e.digits = DEMO_CODE[:19] + "6"
    e.error = "Code mistyped: check digits"


def _fuel(e, a):
    e.digits = DEMO_CODE
    e.state = 1  # entry.ST_FUEL


def _sending(e, a):
    e.digits = DEMO_CODE
    e.meter = "elec"
    e.state = 2  # entry.ST_SENDING


def _result(r):
    def f(e, a):
        e.digits = DEMO_CODE
        e.meter = "elec"
        e.finish(r)

    return f


def _locked(e, a):
    import time

    e.lock(280, time.ticks_ms())


PPMID_SCENES = (
    ("prepay_ppmid", _ppmid(_alert)),
    ("prepay_ec_offer", _ppmid(_offer)),
    ("prepay_ec_dialog", _ppmid(_dialog)),
    ("utrn_typing", _utrn(_typing)),
    ("utrn_buttons", _utrn(_buttons)),
    ("utrn_mistyped", _utrn(_mistyped)),
    ("utrn_fuel", _utrn(_fuel)),
    ("utrn_sending", _utrn(_sending)),
    ("utrn_accepted", _utrn(_result(DemoResult(0, amount_mp=1250000, credit_mp=1631000)))),
    ("utrn_duplicate", _utrn(_result(DemoResult(2)))),
    ("utrn_no_answer", _utrn(_result(DemoResult(0x22)))),
    ("utrn_locked", _utrn(_locked)),
)
SCENES = SCENES + PPMID_SCENES
