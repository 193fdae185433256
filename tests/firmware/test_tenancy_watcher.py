# Watcher I/O shell against a scripted ZCL peer: commands, 0x81/0xC3 and timeout fallbacks to
# the attributes (per meter and command), other refusals, malformed publishes, pushes from the
# bound meter vs a spoofing node, scheduled events firing on time on their own timer (a poll
# stuck in network I/O included), one change never applied twice (routes, lost state).
import asyncio
import os

import fwtest

PORTABLE = True

NOT_FOUND = 0x8B
UNSUP = 0x81
UNSUP_CLUSTER = 0xC3
FAILURE = 0x01
MALFORMED = 0x80


class Rsp:
    def __init__(self, node, ep, args=None, status=None, disable_dr=False):
        self.node, self.src_ep, self.args, self._st = node, ep, args, status
        self.secured = True
        self.disable_dr = disable_dr

    def default_status(self):
        return self._st


class FakeZcl:
    def __init__(self):
        self.handlers = {}
        self.commands = []  # (node, cluster, cmd)
        self.reads = []
        self.answers = {}  # cmd id -> Rsp | None
        self.attrs = {}
        self.drs = []
        self.stuck = False  # requests never return (a poll stuck in network I/O)

    def on_command(self, cluster, cmd_id, direction, fn):
        self.handlers[(cluster, cmd_id, direction)] = fn

    async def command(self, node, ep, cluster, cmd_id, values=None, rsp_cmd=None, **kw):
        self.commands.append((node, cluster, cmd_id))
        if self.stuck:
            await asyncio.Event().wait()
        return self.answers.get(cmd_id)

    async def read_attributes(self, node, ep, cluster, ids, **kw):
        self.reads.append(tuple(ids))
        if self.stuck:
            await asyncio.Event().wait()
        return {a: self.attrs[a] for a in ids if a in self.attrs}

    def default_response(self, f, status):
        self.drs.append(status)


class FakeHistory:
    # truncate / visible_from / epoch of history.view.HistoryView, per fuel index.
    def __init__(self):
        self.truncations = []
        self.vf = [0, 0]
        self.epochs = [1, 1]
        self.fail = 0  # truncations that raise first

    def truncate(self, meter, t):
        from ihd.state import fuels as FU

        if self.fail:
            self.fail -= 1
            raise OSError(5)
        i = FU.index(meter)
        if t <= self.vf[i]:
            return False
        self.truncations.append((meter, t))
        self.vf[i] = t
        self.epochs[i] += 1
        return True

    def visible_from(self, i):
        return self.vf[i]

    def epoch(self, i):
        return self.epochs[i]


def _setup(name, now=10_000, history=None):
    from ihd.meters.registry import Meter, Registry
    from ihd.runtime import atomic, clock
    from ihd.tenancy.core import TenancyState
    from ihd.tenancy.watcher import TenancyWatcher

    clock.reset()
    t = [now]
    clock.set_source(lambda: t[0])
    d = "/tmp/ihd-watch-%d" % (os.getpid() if hasattr(os, "getpid") else 1)
    try:
        os.mkdir(d)
    except OSError:
        pass
    atomic.remove(d + "/" + name)
    reg = Registry(require_aps_security=True)
    reg.bind(Meter("elec", 0x1234, 1))
    reg.bind(Meter("gas", 0x5678, 2))
    z, h = FakeZcl(), history or FakeHistory()
    w = TenancyWatcher(z, reg, h, TenancyState(d + "/" + name), poll_s=1800)
    return w, z, h, t


def _reboot(w, fresh=False):
    # The same flash: a new watcher over the same history and tenancy.json (or none at all).
    from ihd.runtime import atomic
    from ihd.tenancy.core import TenancyState
    from ihd.tenancy.watcher import TenancyWatcher

    if fresh:
        atomic.remove(w.state.path)
    w2 = TenancyWatcher(w.zcl, w.registry, w.history, TenancyState(w.state.path), poll_s=1800)
    return w2


def _cot_args(eid, t, control=0x200):
    return {
        "provider_id": 7,
        "issuer_event_id": eid,
        "tariff_type": 0,
        "implementation_time": t,
        "proposed_tenancy_change_control": control,
    }


def _elec(w):
    return w.registry.get("elec")


def test_publish_reply_applies_once_and_is_acknowledged():
    w, z, h, t = _setup("a")
    z.answers[0x00] = Rsp(0x1234, 1, _cot_args(100, 9_000))
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    cleared = []
    w.clearing.connect(lambda ev: cleared.append((ev.meter, ev.control, ev.t)))
    fwtest.run(w.poll(_elec(w)))
    assert h.truncations == [("elec", 9_000)]
    assert cleared == [("elec", 0x200, 9_000)]  # ev.t: the effective implementation time
    assert z.drs == [0x00]  # Default Response SUCCESS to the publish
    fwtest.run(w.poll(_elec(w)))  # same event polled again
    assert h.truncations == [("elec", 9_000)] and len(cleared) == 1
    assert w.state.method["elec/cot"] == "commands"


def test_unsupported_commands_fall_back_to_attributes_and_remember():
    from ihd.runtime import clock

    w, z, h, t = _setup("b")
    z.answers[0x00] = Rsp(0x1234, 1, status=UNSUP)
    z.answers[0x01] = Rsp(0x1234, 1, status=UNSUP)
    z.attrs = {0x0200: 9_500, 0x0201: 0x200, 0x0112: 0xFFFFFFFF, 0x0113: 0}
    fwtest.run(w.poll(_elec(w)))
    assert h.truncations == [("elec", 9_500)]
    assert w.state.method["elec/cot"] == "attributes" == w.state.method["elec/cos"]
    n_cmds = len(z.commands)
    fwtest.run(w.poll(_elec(w)))  # remembered: no commands, attributes only
    assert len(z.commands) == n_cmds and h.truncations == [("elec", 9_500)]
    # a day later (ticks, fast-forwarded) the commands are tried again
    import time

    clock.set_scale(1_000_000)
    time.sleep_ms(100)
    fwtest.run(w.poll(_elec(w)))
    assert len(z.commands) == n_cmds + 2
    clock.reset()


def test_only_unsupported_statuses_switch_to_attributes():
    # FAILURE (or any other refusal) is not "unsupported": attributes are read this time but
    # the commands are asked again at the next poll. UNSUPPORTED_CLUSTER (no DM cluster) is.
    w, z, h, t = _setup("u")
    z.answers[0x00] = Rsp(0x1234, 1, status=FAILURE)
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    z.attrs = {0x0200: 9_000, 0x0201: 0x200}
    fwtest.run(w.poll(_elec(w)))
    assert h.truncations == [("elec", 9_000)]  # learnt through the attributes all the same
    assert w.state.method.get("elec/cot") is None
    n = len(z.commands)
    fwtest.run(w.poll(_elec(w)))
    assert len(z.commands) == n + 2
    from ihd.tenancy import core

    assert core.stats.get("refused") >= 2
    z.answers[0x00] = Rsp(0x1234, 1, status=UNSUP_CLUSTER)
    fwtest.run(w.poll(_elec(w)))
    assert w.state.method["elec/cot"] == "attributes"


def test_refused_cot_does_not_stop_cos():
    # The retry timer and the method are per meter and per command.
    w, z, h, t = _setup("p")
    z.answers[0x00] = Rsp(0x1234, 1, status=UNSUP)
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    fwtest.run(w.poll(_elec(w)))
    fwtest.run(w.poll(_elec(w)))
    gets = [c for (_n, _cl, c) in z.commands]
    assert gets == [0x00, 0x01, 0x01]  # GetCoT once (then attributes), GetCoS every poll
    assert w.state.method == {"elec/cot": "attributes", "elec/cos": "commands"}


def test_malformed_publish_reply_gets_malformed_command():
    w, z, h, t = _setup("f")
    z.answers[0x00] = Rsp(0x1234, 1, args=None)  # a publish whose payload did not decode
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    z.attrs = {0x0200: 9_200, 0x0201: 0x200}
    fwtest.run(w.poll(_elec(w)))
    assert z.drs == [MALFORMED]
    assert h.truncations == [("elec", 9_200)]  # the attributes read instead
    assert w.state.method.get("elec/cot") is None


def test_no_answer_falls_back_to_attributes():
    w, z, h, t = _setup("c")
    z.attrs = {0x0200: 9_900, 0x0201: 0x4200}
    fwtest.run(w.poll(w.registry.get("gas")))
    assert h.truncations == [("gas", 9_900)]
    # silence is not a refusal: the commands are tried again at the next poll
    assert w.state.method.get("gas/cot") is None
    n = len(z.commands)
    fwtest.run(w.poll(w.registry.get("gas")))
    assert len(z.commands) == n + 2


def test_push_from_bound_meter_vs_spoofed_node():
    w, z, h, t = _setup("d")
    fn = z.handlers[(0x0708, 0x00, 1)]
    spoof = Rsp(0x9999, 1)
    assert fwtest.run(_maybe(fn(spoof, _cot_args(200, 9_000)))) == 0x7E  # NOT_AUTHORIZED
    insecure = Rsp(0x1234, 1)
    insecure.secured = False
    assert fwtest.run(_maybe(fn(insecure, _cot_args(200, 9_000)))) == 0x7E
    assert h.truncations == []
    assert fwtest.run(_maybe(fn(Rsp(0x1234, 1), _cot_args(200, 9_000)))) == 0
    assert h.truncations == [("elec", 9_000)]


async def _maybe(r):
    if hasattr(r, "send"):
        return await r
    return r


def test_hostile_issuer_id_does_not_disable_the_watcher():
    # The bound ESME pushes issuer id 0xFFFFFFF0 (applied: a past T), then one far ahead;
    # the real changes that follow (ordinary ids) still apply.
    w, z, h, t = _setup("h")
    fn = z.handlers[(0x0708, 0x00, 1)]
    assert fwtest.run(_maybe(fn(Rsp(0x1234, 1), _cot_args(0xFFFFFFF0, 9_000)))) == 0
    assert fwtest.run(_maybe(fn(Rsp(0x1234, 1), _cot_args(853326000, 9_500)))) == 0
    assert h.truncations == [("elec", 9_000), ("elec", 9_500)]
    fwtest.run(_maybe(fn(Rsp(0x1234, 1), _cot_args(0xFFFFFFF0, 0xFFFFFFFE))))  # year 2136
    assert w.state.next_due() == 0xFFFFFFFE
    z.answers[0x00] = Rsp(0x1234, 1, _cot_args(853326100, 9_800))  # polled: the real one
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    fwtest.run(w.poll(_elec(w)))
    assert h.truncations[-1] == ("elec", 9_800) and w.state.next_due() is None


def test_future_event_fires_on_time_in_the_run_loop():
    from ihd.runtime import clock

    w, z, h, t = _setup("e", now=10_000)
    z.answers[0x00] = Rsp(0x1234, 1, _cot_args(300, 10_050))
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)

    async def main():
        task = asyncio.create_task(w.run())
        await asyncio.sleep_ms(50)
        assert h.truncations == []  # scheduled, not applied
        t[0] = 10_050
        w.kick()
        await asyncio.sleep_ms(50)
        task.cancel()

    fwtest.run(main())
    assert ("elec", 10_050) in h.truncations
    clock.reset()


def test_due_change_applies_while_a_poll_is_stuck():
    # The change is scheduled (T = 10_050); at the next poll the meter never answers (a
    # request that does not return). The apply timer fires at T all the same, no kick.
    from ihd.runtime import clock
    from ihd.tenancy.core import COT, Event

    w, z, h, t = _setup("s", now=10_000)
    w.state.on_event(Event(COT, "elec", 7, 300, 10_050, 0x200, "command"), 10_000)
    z.stuck = True
    clock.set_scale(1000)  # 50 s of device time = 50 ms

    async def main():
        task = asyncio.create_task(w.run())
        await asyncio.sleep_ms(20)
        assert z.commands and h.truncations == []  # the poll is in flight, stuck
        t[0] = 10_050  # the device clock reaches T (fast-forwarded)
        await asyncio.sleep_ms(200)
        stuck = len(z.commands) == 1
        task.cancel()
        await asyncio.sleep_ms(10)
        return stuck

    assert fwtest.run(main())  # still the first request: the poll never came back
    assert h.truncations == [("elec", 10_050)]
    assert w.state.floor("elec", "cot") == 10_050 and w.state.pending == {}
    clock.reset()


def test_same_change_by_another_route_is_not_applied_twice():
    # Applied from the command route (issuer id = the GBCS issue stamp, before T); then a Get
    # times out and the attributes show the same change: the clearers must not run again.
    w, z, h, t = _setup("r")
    cleared = []
    w.clearing.connect(lambda ev: cleared.append(ev.method))
    z.answers[0x00] = Rsp(0x1234, 1, _cot_args(8_000, 9_000))
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    fwtest.run(w.poll(_elec(w)))
    z.answers[0x00] = None  # no answer: attributes
    z.attrs = {0x0200: 9_000, 0x0201: 0x200}
    fwtest.run(w.poll(_elec(w)))
    assert cleared == ["command"] and h.truncations == [("elec", 9_000)]
    # the other way round: attributes first, then the command with a higher id
    w, z, h, t = _setup("r2")
    cleared = []
    w.clearing.connect(lambda ev: cleared.append(ev.method))
    z.attrs = {0x0200: 9_000, 0x0201: 0x200}
    fwtest.run(w.poll(_elec(w)))  # no answer to the Gets
    z.answers[0x00] = Rsp(0x1234, 1, _cot_args(853326000, 9_000))
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    fwtest.run(w.poll(_elec(w)))
    assert cleared == ["attributes"]
    assert [a[6] for a in w.state.audit].count("applied") == 1


def test_lost_state_file_does_not_reapply():
    # tenancy.json lost after the change was applied: the meter still publishes it; the
    # history's epoch and visible_from say it was applied. A later change still applies.
    w, z, h, t = _setup("l")
    z.answers[0x00] = Rsp(0x1234, 1, _cot_args(100, 9_000))
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    fwtest.run(w.poll(_elec(w)))
    w2 = _reboot(w, fresh=True)
    cleared = []
    w2.clearing.connect(lambda ev: cleared.append(ev.t))
    fwtest.run(w2.poll(_elec(w2)))
    assert cleared == [] and h.truncations == [("elec", 9_000)]
    assert [a[6] for a in w2.state.audit] == ["restored"]
    z.answers[0x00] = Rsp(0x1234, 1, _cot_args(101, 9_600))
    fwtest.run(w2.poll(_elec(w2)))
    assert cleared == [9_600]


def test_interrupted_rewind_is_completed_at_boot():
    # Power cut after the truncation, before the change was marked applied (the clearers may
    # not have run): the next boot completes it from the persisted intent, not from a poll.
    from ihd.runtime import clock
    from ihd.tenancy.core import COT, Event

    w, z, h, t = _setup("i")
    ev = Event(COT, "elec", 7, 100, 9_000, 0x4000, "command")
    w.state.on_event(ev, t[0])
    w.state.begin(ev)
    h.truncate("elec", 9_000)  # ... and the power goes
    w2 = _reboot(w)
    cleared = []
    w2.clearing.connect(lambda e: cleared.append((e.t, e.control)))
    z.stuck = True  # no poll answers: the apply timer does it

    async def main():
        task = asyncio.create_task(w2.run())
        await asyncio.sleep_ms(50)
        task.cancel()
        await asyncio.sleep_ms(10)

    fwtest.run(main())
    assert cleared == [(9_000, 0x4000)] and w2.state.floor("elec", "cot") == 9_000
    assert w2.state.interrupted() == []
    clock.reset()


def test_history_reset_is_rewound_again():
    # The history lost its key region (visible_from back to 0) after a change was applied:
    # it is truncated at the applied T again before anything else (history only).
    w, z, h, t = _setup("y")
    z.answers[0x00] = Rsp(0x1234, 1, _cot_args(100, 9_000))
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    fwtest.run(w.poll(_elec(w)))
    h.vf[0], h.epochs[0] = 0, 1  # reset
    cleared = []
    w.clearing.connect(lambda ev: cleared.append(ev.t))
    fwtest.run(w.poll(_elec(w)))
    assert h.vf[0] == 9_000 and cleared == []
    assert h.truncations == [("elec", 9_000), ("elec", 9_000)]


def test_apply_that_raises_is_retried():
    from ihd.runtime import clock
    from ihd.tenancy import core
    from ihd.tenancy.core import COT, Event

    w, z, h, t = _setup("x", now=10_000)
    w.state.on_event(Event(COT, "elec", 7, 300, 9_990, 0x200, "command"), 9_000)
    h.fail = 1
    z.stuck = True
    n = core.stats.get("apply_errors")

    async def main():
        task = asyncio.create_task(w.run())
        await asyncio.sleep_ms(1300)  # the first backoff is 1 s
        task.cancel()
        await asyncio.sleep_ms(10)

    fwtest.run(main())
    assert core.stats.get("apply_errors") == n + 1
    assert h.truncations == [("elec", 9_990)] and w.state.floor("elec", "cot") == 9_990
    clock.reset()
