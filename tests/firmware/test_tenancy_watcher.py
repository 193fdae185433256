# Watcher I/O shell against a scripted ZCL peer: commands, 0x81 and timeout fallbacks to the
# attributes, pushes from the bound meter vs a spoofing node, scheduled events firing on time.
import asyncio
import os

import fwtest

PORTABLE = True

NOT_FOUND = 0x8B
UNSUP = 0x81


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

    def on_command(self, cluster, cmd_id, direction, fn):
        self.handlers[(cluster, cmd_id, direction)] = fn

    async def command(self, node, ep, cluster, cmd_id, values=None, rsp_cmd=None, **kw):
        self.commands.append((node, cluster, cmd_id))
        return self.answers.get(cmd_id)

    async def read_attributes(self, node, ep, cluster, ids, **kw):
        self.reads.append(tuple(ids))
        return {a: self.attrs[a] for a in ids if a in self.attrs}

    def default_response(self, f, status):
        self.drs.append(status)


class FakeHistory:
    def __init__(self):
        self.truncations = []

    def truncate(self, meter, t):
        self.truncations.append((meter, t))


def _setup(name, now=10_000):
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
    z, h = FakeZcl(), FakeHistory()
    w = TenancyWatcher(z, reg, h, TenancyState(d + "/" + name), poll_s=1800)
    return w, z, h, t


def _cot_args(eid, t, control=0x200):
    return {
        "provider_id": 7,
        "issuer_event_id": eid,
        "tariff_type": 0,
        "implementation_time": t,
        "proposed_tenancy_change_control": control,
    }


def test_publish_reply_applies_once_and_is_acknowledged():
    w, z, h, t = _setup("a")
    z.answers[0x00] = Rsp(0x1234, 1, _cot_args(100, 9_000))
    z.answers[0x01] = Rsp(0x1234, 1, status=NOT_FOUND)
    cleared = []
    w.clearing.connect(lambda ev: cleared.append((ev.meter, ev.control)))
    fwtest.run(w.poll(w.registry.get("elec")))
    assert h.truncations == [("elec", 9_000)]
    assert cleared == [("elec", 0x200)]
    assert z.drs == [0x00]  # Default Response SUCCESS to the publish
    fwtest.run(w.poll(w.registry.get("elec")))  # same event polled again
    assert h.truncations == [("elec", 9_000)]
    assert w.state.method["elec"] == "commands"


def test_unsupported_commands_fall_back_to_attributes_and_remember():
    w, z, h, t = _setup("b")
    z.answers[0x00] = Rsp(0x1234, 1, status=UNSUP)
    z.answers[0x01] = Rsp(0x1234, 1, status=UNSUP)
    z.attrs = {0x0200: 9_500, 0x0201: 0x200, 0x0112: 0xFFFFFFFF, 0x0113: 0}
    fwtest.run(w.poll(w.registry.get("elec")))
    assert h.truncations == [("elec", 9_500)]
    assert w.state.method["elec"] == "attributes"
    n_cmds = len(z.commands)
    fwtest.run(w.poll(w.registry.get("elec")))  # remembered: no commands, attributes only
    assert len(z.commands) == n_cmds and h.truncations == [("elec", 9_500)]
    t[0] += 86_400 + 1  # a day later the commands are tried again
    fwtest.run(w.poll(w.registry.get("elec")))
    assert len(z.commands) > n_cmds


def test_no_answer_falls_back_to_attributes():
    w, z, h, t = _setup("c")
    z.attrs = {0x0200: 9_900, 0x0201: 0x4200}
    fwtest.run(w.poll(w.registry.get("gas")))
    assert h.truncations == [("gas", 9_900)]
    # silence is not a refusal: the commands are tried again at the next poll
    assert w.state.method.get("gas") is None
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
