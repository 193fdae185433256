# fw: heapsize=1M
# Meters service, export (CurrentSummationReceived, Metering 0x0001) against a scripted ESME and
# the real history store + view: read with the live registers, spread pro rata into export
# half-hours exactly like import (the stored half-hours sum to the register's difference), a
# half-hour without export not stored, no export shown while the home exports nothing; an
# ESME that answers UNSUPPORTED_ATTRIBUTE is not asked again until a change of tenancy (forget);
# reports accepted; a register going backwards is a new baseline, never negative export.
import fwtest
import powercut

ELEC = (0x1234, 1)
HH = 1800
T0 = 400_000_000 - 400_000_000 % 86400 + 10 * HH  # 05:00Z
_METERING = 0x0702
_SUMM, _RECV, _DEMAND = 0x0000, 0x0001, 0x0400


class FakeMeter:
    def __init__(self, export=True):
        self.attrs = {0x0300: 0, 0x0301: 1, 0x0302: 1000, _SUMM: 5_000_000, _DEMAND: 300}
        if export:
            self.attrs[_RECV] = 1_000_000
        self.reads = []  # the live reads' ids


class FakeZcl:
    def __init__(self, meter):
        self.m = meter

    def on_report(self, cluster, fn):
        self.report = fn

    def on_command(self, cluster, cmd_id, direction, fn):
        pass  # pushed prices: none here

    async def command(self, *a, **kw):
        return None  # no price: the half-hours are not costed (export never is)

    async def read_attributes(self, node, ep, cluster, ids, **kw):
        from ihd.zigbee.zcl import foundation as F

        if _SUMM in ids:
            self.m.reads.append(tuple(ids))
        d = self.m.attrs
        return {a: d[a] if a in d else F.attr_status(F.UNSUPPORTED_ATTRIBUTE) for a in ids}


class _Cfg:
    def get(self, k):
        return {"meter_poll_s": 10, "gas_poll_s": 1800}.get(k)


class _Frame:
    def __init__(self):
        self.node, self.src_ep, self.secured = ELEC[0], ELEC[1], True


def _setup(export=True):
    from ihd.history.view import HistoryView
    from ihd.meters.registry import Meter, Registry
    from ihd.meters.service import MeterService
    from ihd.runtime import clock
    from ihd.state import model as M

    clock.reset()
    t = [T0 + 10]
    clock.set_source(lambda: t[0])
    meter = FakeMeter(export)
    reg = Registry()
    reg.bind(Meter("elec", *ELEC))
    _, store = powercut.boot(block_count=200)
    view = HistoryView(store)
    mdl = M.Model(now_fn=lambda: t[0], history=view)
    zcl = FakeZcl(meter)
    svc = MeterService(zcl, reg, view, mdl, _Cfg())
    svc.bind(reg.get("elec"), M.FUEL_ELEC, M.FUEL_ELEC)
    return svc, meter, view, mdl, t, zcl


def _poll(svc, meter, t, to, step, imp_wh, exp_wh):
    st = svc.states["elec"]
    while t[0] < to:
        t[0] = min(to, t[0] + step)
        meter.attrs[_SUMM] += imp_wh
        if _RECV in meter.attrs:
            meter.attrs[_RECV] += exp_wh(t[0])
        assert fwtest.run(svc.poll(st))


def test_export_half_hours_sum_to_the_register_and_zero_ones_are_not_stored():
    from ihd.history.store import EXPORT
    from ihd.runtime import clock

    svc, meter, view, mdl, t, _ = _setup()
    _poll(svc, meter, t, T0 + 2 * HH, 60, 10, lambda now: 0)  # 05:00-06:00: no sun
    assert mdl.view_export_today() is None and view.export_totals(t[0]) is None
    assert not view.store.has_export()
    assert meter.reads[-1] == (_SUMM, _DEMAND, _RECV)
    base = meter.attrs[_RECV]

    def sun(now):  # 06:40 on: 37 Wh a reading; then a cloud 07:40-07:50
        return 0 if now < T0 + 3 * HH + 600 or T0 + 160 * 60 <= now < T0 + 170 * 60 else 37

    _poll(svc, meter, t, T0 + 6 * HH + 900, 45, 10, sun)  # to 08:15, readings 45 s apart
    hh = [r for r in view.store.dump(EXPORT) if r[0] == "hh"]
    assert [r[1] for r in hh] == [T0 + 3 * HH + i * HH for i in range(3)]  # 06:30, 07:00, 07:30
    assert all(r[3] == 0 for r in hh)  # export is not costed
    st = svc.states["elec"]
    total = meter.attrs[_RECV] - base
    assert sum(r[2] for r in hh) + st.x_hh_wh == total  # every Wh once, none lost or invented
    assert mdl.view_export_today() == total
    assert list(view.export_totals(t[0])) == [total - st.x_hh_wh] * 4
    # a report of the export register is taken too (the records-less ZCL path)
    t[0] += 30
    meter.attrs[_RECV] += 11
    svc._on_report(_Frame(), _RECV, meter.attrs[_RECV])
    assert mdl.view_export_today() == total + 11
    # register backwards (meter exchanged): a new baseline, no negative export
    t[0] += 30
    svc._on_report(_Frame(), _RECV, 5)
    assert st.x_milli == 5 and mdl.view_export_today() == total + 11
    assert svc.c.get("negative_deltas") == 1
    clock.set_source(None)


def test_unsupported_register_is_not_asked_again_until_forget():
    from ihd.runtime import clock

    svc, meter, view, mdl, t, _ = _setup(export=False)
    _poll(svc, meter, t, T0 + 600, 60, 10, lambda now: 0)
    ids = [r for r in meter.reads]
    assert ids[0] == (_SUMM, _DEMAND, _RECV)
    assert all(r == (_SUMM, _DEMAND) for r in ids[1:]) and len(ids) >= 5
    assert svc.states["elec"].x_state == 2 and mdl.view_export_today() is None
    svc.forget("elec")  # a change of tenancy: the ESME is asked once more
    meter.reads.clear()
    _poll(svc, meter, t, T0 + 900, 60, 10, lambda now: 0)
    assert meter.reads[0] == (_SUMM, _DEMAND, _RECV) and meter.reads[1] == (_SUMM, _DEMAND)
    assert view.store.has_export() is False
    clock.set_source(None)


def test_truncation_at_t_hides_pre_t_export_and_the_screens_follow():
    from ihd.history.store import EXPORT
    from ihd.runtime import clock

    svc, meter, view, mdl, t, _ = _setup()
    _poll(svc, meter, t, T0 + 4 * HH, 60, 10, lambda now: 20)
    assert view.export_totals(t[0])[0] > 0
    tt = T0 + 3 * HH  # T: 06:30
    view.truncate("elec", tt)
    svc.forget("elec")
    mdl.set_visible_from(0, tt)
    hh = [r for r in view.store.dump(EXPORT) if r[0] == "hh"]
    assert hh and min(r[1] for r in hh) >= tt
    assert list(view.export_totals(t[0])) == [sum(r[2] for r in hh)] * 4
    _poll(svc, meter, t, T0 + 4 * HH + 300, 60, 10, lambda now: 20)
    assert mdl.view_export_today() == sum(r[2] for r in hh) + svc.states["elec"].x_hh_wh
    clock.set_source(None)
