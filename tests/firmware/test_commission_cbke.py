# fw: heapsize=512K
# Key establishment flow (cbke.py) against a scripted trust centre and NCP: the happy path in
# the order SE 1.x Annex C wants (Initiate, EphemeralData, ConfirmKeyData) with the NCP's 283k1
# commands in between, KE frames without APS encryption, the responder's announced times as
# the wait limits, a lost EphemeralData response retried, a Terminate honoured (WaitTime), and a
# wrong key confirmation terminated with BAD_KEY_CONFIRM and the key not stored.
import asyncio
import struct
import time

import fwtest
from ihd.runtime.events import Signal
from ihd.zigbee import cbke
from ihd.zigbee.zcl import frame as FR
from ihd.zigbee.zcl.client import Zcl

PORTABLE = True

CERT_U = bytes(range(74))
CERT_V = bytes(range(100, 174))
QEU = b"\x03" + bytes(36)
QEV = b"\x02" + bytes(range(36))
MACU = b"U" * 16
MACV = b"V" * 16


class FakeEzsp:
    v14 = True

    def __init__(self, ncp):
        self.ncp = ncp
        self.calls = []
        self.signals = {}

    def callback(self, name):
        return self.signals.setdefault(name, Signal(name))

    async def request(self, name, *args, **kw):
        self.calls.append((name,) + args)
        n = self.ncp
        if name == "getCertificate283k1":
            return (0, CERT_U)
        if name == "generateCbkeKeys283k1":
            n.notify("generateCbkeKeysHandler283k1", (0, QEU))  # before the response returns
            return (0,)
        if name == "calculateSmacs283k1":
            n.notify("calculateSmacsHandler283k1", (0, MACU, MACV))
            return (0,)
        return (0,)


class Frame:
    def __init__(self, node, cmd_id, payload, tsn):
        self.node = node
        self.cmd_id = cmd_id
        self.payload = payload
        self.tsn = tsn
        self.responded = False


class FakeNcpZcl:
    # Both the NCP (send_unicast, resets, ezsp callbacks) and the Zcl (on_command, build) sides.
    local_ep = 1

    def __init__(self):
        self.ezsp = FakeEzsp(self)
        self.resets = Signal("ncp")
        self.handlers = {}
        self.sent = []  # (node, cluster, aps_options, cmd, payload)
        self.script = {}  # cmd -> list of actions: ("reply", payload) / ("drop",) / ("term", ..)
        self._tsn = 0

    def notify(self, name, args):
        self.ezsp.callback(name).emit(args)

    def on_command(self, cluster, cmd, direction, handler):
        assert cluster == 0x0800 and direction == FR.S2C
        self.handlers[cmd] = handler

    def next_tsn(self):
        self._tsn += 1
        return self._tsn

    build = staticmethod(Zcl.build)

    async def send_unicast(self, node, cluster, src_ep, dst_ep, data, aps_options=0x0160):
        hdr = FR.Header().parse(data)
        payload = bytes(data[hdr.payload_off :])
        self.sent.append((node, cluster, aps_options, hdr.cmd_id, payload))
        acts = self.script.get(hdr.cmd_id)
        act = acts.pop(0) if acts else ("reply", None)
        if act[0] == "reply" and act[1] is not None:
            asyncio.create_task(self._later(hdr.cmd_id, act[1], hdr.tsn))
        elif act[0] == "term":
            asyncio.create_task(self._later(3, act[1], hdr.tsn))
        return 0

    async def _later(self, cmd, payload, tsn):
        await asyncio.sleep_ms(1)
        self._deliver(cmd, payload, tsn)

    def _deliver(self, cmd, payload, tsn):
        f = Frame(0x0000, cmd, payload, tsn)
        self.handlers[cmd](f, None)
        assert f.responded


def make():
    f = FakeNcpZcl()
    ke = cbke.KeyEstablishment(f, f, attempts=3, retry_ms=10, initiate_timeout_ms=200,
                               slack_ms=100, ncp_timeout_ms=200)  # fmt: skip
    f.script = {
        0: [("reply", struct.pack("<HBB", 2, 0, 0) + CERT_V)],
        1: [("reply", QEV)],
        2: [("reply", MACV)],
    }
    return f, ke


def test_happy_path_order_and_options():
    f, ke = make()
    assert fwtest.run(ke.run()) is True
    assert ke.result == cbke.OK
    assert [s[3] for s in f.sent] == [0, 1, 2]
    assert all(s[0] == 0 and s[1] == 0x0800 and not s[2] & 0x0020 for s in f.sent)
    init = f.sent[0][4]
    assert struct.unpack_from("<HBB", init) == (2, 10, 10) and init[4:] == CERT_U
    assert f.sent[1][4] == QEU and f.sent[2][4] == MACU
    names = [c[0] for c in f.ezsp.calls]
    assert names == ["getCertificate283k1", "generateCbkeKeys283k1", "calculateSmacs283k1",
                     "clearTemporaryDataMaybeStoreLinkKey283k1"]  # fmt: skip
    smacs = f.ezsp.calls[2]
    assert smacs[1:] == (1, CERT_V, QEV)  # initiator, the responder's cert + ephemeral key
    assert f.ezsp.calls[3][1] == 1  # store the link key


def test_lost_ephemeral_response_times_out_and_retries():
    f, ke = make()
    f.script[0].append(("reply", struct.pack("<HBB", 2, 0, 0) + CERT_V))
    f.script[1] = [("drop",), ("reply", QEV)]
    assert fwtest.run(ke.run()) is True
    assert ke.c.get("timeouts") == 1 and ke.c.get("attempts") == 2
    # the abandoned attempt dropped the NCP's temporary data without storing a key
    clears = [c[1] for c in f.ezsp.calls if c[0] == "clearTemporaryDataMaybeStoreLinkKey283k1"]
    assert clears == [0, 1]


def test_terminate_honours_wait_time_then_succeeds():
    async def main():
        f, ke = make()
        f.script[0] = [("term", struct.pack("<BBH", 4, 1, 2)),
                       ("reply", struct.pack("<HBB", 2, 0, 0) + CERT_V)]  # fmt: skip
        t0 = time.ticks_ms()
        ok = await ke.run()
        return ok, ke, time.ticks_diff(time.ticks_ms(), t0) / 1000

    ok, ke, dt = fwtest.run(main())
    assert ok and ke.c.get("terminated_by_peer") == 1
    assert dt >= 0.9  # WaitTime 1 s, not retry_ms


def test_bad_key_confirm_terminates_and_does_not_store():
    f, ke = make()
    f.script[2] = [("reply", b"X" * 16)]
    ke.attempts = 1
    assert fwtest.run(ke.run()) is False
    assert ke.result == cbke.BAD_CONFIRM
    term = f.sent[-1]
    assert term[3] == 3 and term[4][0] == cbke.KE_BAD_KEY_CONFIRM
    clears = [c[1] for c in f.ezsp.calls if c[0] == "clearTemporaryDataMaybeStoreLinkKey283k1"]
    assert clears == [0]


def test_unsupported_suite_gives_up():
    f, ke = make()
    f.script[0] = [("reply", struct.pack("<HBB", 1, 0, 0) + CERT_V)]
    assert fwtest.run(ke.run()) is False
    assert ke.result == cbke.UNSUPPORTED and ke.c.get("attempts") == 1
    assert f.sent[-1][3] == 3 and f.sent[-1][4][0] == cbke.KE_UNSUPPORTED_SUITE


def test_no_answer_to_initiate():
    f, ke = make()
    f.script[0] = [("drop",), ("drop",), ("drop",)]
    assert fwtest.run(ke.run()) is False
    assert ke.result == cbke.TIMEOUT and ke.c.get("timeouts") == 3
