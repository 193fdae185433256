# fw: heapsize=1M
# The change control bits end to end on the device side: the tenancy watcher applies a
# PublishChangeOfTenancy / Supplier and its `clearing` listeners, wired as app.py wires them
# (meters service, prepayment service), clear what the bits name of what was made before T and
# keep what came after (docs/tenancy.md "Control bits"). History is rewound at T whatever the
# bits say.
import os

import fwtest

PORTABLE = True

NOT_FOUND = 0x8B
ELEC = (0x1234, 1)
NOW = 200_000
T = 199_000  # the change took effect before the device learnt of it


class Rsp:
    def __init__(self, node, ep, args=None, status=None):
        self.node, self.src_ep, self.args, self._st = node, ep, args, status
        self.secured = True
        self.disable_dr = False

    def default_status(self):
        return self._st


class FakeZcl:
    # The ESME's Device Management server for the watcher; nothing else is asked here.
    def __init__(self):
        self.answers = {}

    def on_command(self, cluster, cmd_id, direction, fn):
        pass

    def on_report(self, cluster, fn):
        pass

    async def command(self, node, ep, cluster, cmd_id, values=None, rsp_cmd=None, **kw):
        return self.answers.get(cmd_id)

    async def read_attributes(self, node, ep, cluster, ids, **kw):
        return {}

    def default_response(self, f, status):
        pass


class FakeHistory:
    def __init__(self):
        self.truncations = []

    def truncate(self, meter, t):
        self.truncations.append((meter, t))

    def visible_from(self, meter):
        return self.truncations[-1][1] if self.truncations else 0

    def append(self, *a, **kw):
        pass

    def today(self, meter, t):
        return []


class _Cfg:
    def get(self, k):
        return {"meter_poll_s": 10, "gas_poll_s": 1800}.get(k)


def _setup(name):
    from ihd.messages.service import MessageService
    from ihd.meters.registry import Meter, Registry
    from ihd.meters.service import MeterService
    from ihd.prepay.service import PrepayService
    from ihd.runtime import atomic, clock
    from ihd.state import model as M
    from ihd.tenancy.core import TenancyState
    from ihd.tenancy.watcher import TenancyWatcher

    clock.reset()
    t = [NOW]
    clock.set_source(lambda: t[0])
    d = "/tmp/ihd-clearing-%d" % (os.getpid() if hasattr(os, "getpid") else 1)
    try:
        os.mkdir(d)
    except OSError:
        pass
    for f in (name, name + ".pp", name + ".msg"):
        atomic.remove(d + "/" + f)
    reg = Registry()
    reg.bind(Meter("elec", *ELEC))
    z, h = FakeZcl(), FakeHistory()
    mdl = M.Model(now_fn=lambda: t[0])
    meters = MeterService(z, reg, h, mdl, _Cfg())
    meters.bind(reg.get("elec"), M.FUEL_ELEC, M.FUEL_ELEC)
    st = meters.states["elec"]
    st.set_rate(24500)
    st.standing_mp_day, st.price_id = 60000, (1, 1000)
    mdl.set_tariff(M.FUEL_ELEC, 24500, 60000, 1, "Standard", "Octavia Energy")
    pp = PrepayService(z, reg, mdl, d + "/" + name + ".pp")
    for utc, amount in ((T - 3600, 1_000_000), (T + 60, 500_000)):  # before T, after T
        pp.ledger.add(utc, "elec", amount, 0, "**** **** **** **** 0001")
    pp.ledger.save()
    ms = MessageService(z, reg, mdl, d + "/" + name + ".msg")
    mdl.add_message(M.Message(1, "for the previous occupant", T - 60))
    mdl.add_message(M.Message(2, "for the new one", T + 60))
    w = TenancyWatcher(z, reg, h, TenancyState(d + "/" + name), meters=meters, model=mdl)
    # app.py's wiring
    w.clearing.connect(meters.tenancy_clearer)
    w.clearing.connect(ms.tenancy_clearer)
    w.clearing.connect(lambda ev: pp.tenancy_clearer(ev.meter, ev.control, ev.t))
    return w, z, h, mdl, meters, pp


def _publish(z, kind, control, impl=T, eid=853326000):
    if kind == "cot":
        z.answers[0x00] = Rsp(*ELEC, args={
            "provider_id": 301, "issuer_event_id": eid, "tariff_type": 0,
            "implementation_time": impl, "proposed_tenancy_change_control": control,
        })  # fmt: skip
        z.answers[0x01] = Rsp(*ELEC, status=NOT_FOUND)
    else:
        z.answers[0x00] = Rsp(*ELEC, status=NOT_FOUND)
        z.answers[0x01] = Rsp(*ELEC, args={
            "current_provider_id": 301, "issuer_event_id": eid, "tariff_type": 0,
            "proposed_provider_id": 302, "implementation_time": impl,
            "provider_change_control": control, "proposed_provider_name": b"Brightwater",
            "proposed_provider_contact_details": b"0800 000 0302",
        })  # fmt: skip


def _amounts(pp):
    return [e[2] for e in pp.top_up_log("elec")]


def test_history_bits_rewind_and_clear_nothing_else():
    # Bits 7 (block) and 8 (clear historical load profile): the rewind at T, which happens
    # whatever the bits; the top-up log, messages and the tariff stay.
    w, z, h, mdl, meters, pp = _setup("a")
    _publish(z, "cot", 0x0180)
    fwtest.run(w.poll(w.registry.get("elec")))
    assert h.truncations == [("elec", T)]
    assert _amounts(pp) == [500_000, 1_000_000]
    assert sorted(m.id for m in mdl.messages) == [1, 2]
    assert mdl.elec.unit_rate_mp_kwh == 24500 and mdl.supplier == "Octavia Energy"


def test_cos_with_bits_clears_before_t_and_keeps_after():
    w, z, h, mdl, meters, pp = _setup("b")
    _publish(z, "cos", 0x6600)
    fwtest.run(w.poll(w.registry.get("elec")))
    assert h.truncations == [("elec", T)]
    assert _amounts(pp) == [500_000]  # the new occupant's top-up, made after T
    assert [m.id for m in mdl.messages] == [2]
    assert mdl.elec.unit_rate_mp_kwh is None and meters.states["elec"].refused_price == (1, 1000)
    assert mdl.supplier == "Brightwater"


def test_implementation_time_now_clears_up_to_now():
    # Implementation time 0 on the command route: "now". The listeners clear up to the moment
    # of applying (both top-ups were made before it).
    w, z, h, mdl, meters, pp = _setup("c")
    _publish(z, "cot", 0x2000, impl=0)
    fwtest.run(w.poll(w.registry.get("elec")))
    assert h.truncations == [("elec", NOW)]
    assert _amounts(pp) == []


def test_status_shows_the_last_change_kind_and_date():
    # The Status screen's "Tenancy" row: the model has (kind, T) once applied, and again after
    # a boot (from the persisted state); nothing else of the change.
    from ihd.state import model as M
    from ihd.tenancy.core import TenancyState
    from ihd.tenancy.watcher import TenancyWatcher

    w, z, h, mdl, meters, pp = _setup("s")
    assert mdl.tenancy_event is None
    _publish(z, "cot", 0x0180)
    fwtest.run(w.poll(w.registry.get("elec")))
    assert mdl.tenancy_event == ("cot", T)
    booted = M.Model(now_fn=lambda: NOW)
    TenancyWatcher(z, w.registry, h, TenancyState(w.state.path), meters=meters, model=booted)
    assert booted.tenancy_event == ("cot", T)
