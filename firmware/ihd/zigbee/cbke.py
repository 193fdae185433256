# Certificate-based key establishment with the trust centre (SE 1.x Annex C, Key Establishment
# cluster 0x0800, crypto suite 2 = sect283k1), initiator side. The NCP does the ECC
# (getCertificate283k1, generateCbkeKeys283k1, calculateSmacs283k1,
# clearTemporaryDataMaybeStoreLinkKey283k1); this module moves the messages, keeps the time
# limits each side announces and retries. Choices (after the Silicon Labs key-establishment
# plugin where the spec leaves room): docs/joining.md.
# SPDX-License-Identifier: MIT
import asyncio
import struct

from ihd.runtime import log
from ihd.runtime.aio import wait_ms
from ihd.runtime.counters import Counters
from ihd.zigbee.ezsp import EzspError
from ihd.zigbee.zcl import frame as FR
from micropython import const

_TAG = "cbke"
CLUSTER = const(0x0800)
SUITE_283K1 = const(0x0002)
CERT_LEN = const(74)
PUBKEY_LEN = const(37)
MAC_LEN = const(16)
# Commands (same ids both directions)
_INITIATE = const(0x00)
_EPHEMERAL = const(0x01)
_CONFIRM = const(0x02)
_TERMINATE = const(0x03)
_NCP_CALLBACKS = ("generateCbkeKeysHandler283k1", "calculateSmacsHandler283k1")
# TerminateKeyEstablishment status
KE_UNKNOWN_ISSUER = const(0x01)
KE_BAD_KEY_CONFIRM = const(0x02)
KE_BAD_MESSAGE = const(0x03)
KE_NO_RESOURCES = const(0x04)
KE_UNSUPPORTED_SUITE = const(0x05)
KE_INVALID_CERTIFICATE = const(0x06)
# What we announce for our NCP's 283k1 operations (seconds), and the slack added to the times
# the responder announces for the network round trip (APS retries, a sleepy parent).
EPHEMERAL_GENERATE_S = const(10)
CONFIRM_GENERATE_S = const(10)
_NETWORK_SLACK_MS = const(5000)
_INITIATE_TIMEOUT_MS = const(10000)
# KE messages travel with NWK security only (no APS encryption): APS retry + route discovery.
APS_OPTIONS_KE = const(0x0140)

# Results
OK = "ok"
TIMEOUT = "timeout"
TERMINATED = "terminated"
BAD_CONFIRM = "bad key confirm"
NCP_ERROR = "ncp error"
UNSUPPORTED = "unsupported suite"

_COUNTERS = ("attempts", "ok", "timeouts", "terminated_by_peer", "bad_confirm", "ncp_errors",
             "unsupported")  # fmt: skip


class KeyEstablishment:
    def __init__(
        self,
        ncp,
        zcl,
        partner=(0x0000, 1),
        attempts=3,
        retry_ms=5000,
        initiate_timeout_ms=_INITIATE_TIMEOUT_MS,
        slack_ms=_NETWORK_SLACK_MS,
        ncp_timeout_ms=None,
    ):
        self.ncp = ncp
        self.zcl = zcl
        self.partner = partner  # (node, endpoint) of the trust centre's KE server
        self.attempts = attempts
        self.retry_ms = retry_ms
        self.initiate_timeout_ms = initiate_timeout_ms
        self.slack_ms = slack_ms
        self.ncp_timeout_ms = ncp_timeout_ms  # None: the times we announce
        self.c = Counters(_TAG, _COUNTERS)
        self.result = None
        self.peer_wait_s = 0  # WaitTime of the last TerminateKeyEstablishment received
        self._rx = None  # (cmd_id, payload) from the partner
        self._rx_evt = asyncio.Event()
        self._cb = {}  # NCP CBKE handler name -> args
        self._cb_evt = asyncio.Event()
        for cmd in (_INITIATE, _EPHEMERAL, _CONFIRM, _TERMINATE):
            zcl.on_command(CLUSTER, cmd, FR.S2C, self._on_frame)
        for name in _NCP_CALLBACKS:
            ncp.ezsp.callback(name).connect(self._callback_of(name))
        ncp.resets.connect(self._on_reset)

    # ---------------- incoming ----------------

    def _on_frame(self, f, args):
        f.responded = True  # the flow answers; no Default Response
        if f.node != self.partner[0]:
            log.warn(_TAG, "KE frame from 0x%04x ignored", f.node)
            return None
        # copy: f (and its payload view) is the client's reusable receive frame
        self._rx = (f.cmd_id, bytes(f.payload), f.tsn)
        self._rx_evt.set()
        return None

    def _partner_frame(self):
        # -> (cmd_id, payload, tsn) of the last KE frame the partner sent, or None
        return self._rx

    def _callback_of(self, name):
        def on(args):
            # copy: LV / view arguments are only valid during the call
            self._cb[name] = tuple(bytes(a) if isinstance(a, memoryview) else a for a in args)
            self._cb_evt.set()

        return on

    def _on_reset(self, code):
        self._cb["ncpReset"] = (code,)
        self._cb_evt.set()

    # ---------------- flow ----------------

    # Up to `attempts` tries; between them the partner's WaitTime (if it sent one) or retry_ms.
    # -> True when the NCP stored the new trust-centre link key.
    async def run(self):
        for i in range(self.attempts):
            self.result = await self.once()
            if self.result == OK:
                return True
            if self.result == UNSUPPORTED:
                return False
            if i + 1 < self.attempts:
                wait_ms = max(self.retry_ms, self.peer_wait_s * 1000)
                log.info(_TAG, "attempt %d: %s; retry in %d ms", i + 1, self.result, wait_ms)
                await asyncio.sleep_ms(wait_ms)
        log.warn(_TAG, "key establishment failed: %s", self.result)
        return False

    async def once(self):
        self.c.inc("attempts")
        self.peer_wait_s = 0
        e = self.ncp.ezsp
        try:
            st, cert = await e.request("getCertificate283k1")
            if st:
                return self._ncp_fail("getCertificate283k1", st)
            # 1. Initiate: suite, our generate times, our certificate
            req = struct.pack("<HBB", SUITE_283K1, EPHEMERAL_GENERATE_S, CONFIRM_GENERATE_S)
            rsp = await self._exchange(_INITIATE, req + cert, self.initiate_timeout_ms)
            if isinstance(rsp, str):
                return rsp
            if len(rsp) < 4 + CERT_LEN:
                await self._terminate(KE_BAD_MESSAGE)
                return TERMINATED
            suite, eph_s, conf_s = struct.unpack_from("<HBB", rsp)
            if suite != SUITE_283K1:
                self.c.inc("unsupported")
                await self._terminate(KE_UNSUPPORTED_SUITE)
                return UNSUPPORTED
            partner_cert = bytes(rsp[4 : 4 + CERT_LEN])
            # 2. Ephemeral data: ours from the NCP, theirs within their announced time
            self._cb = {}  # the handler may arrive before request() returns
            (st,) = await e.request("generateCbkeKeys283k1")
            if st:
                return self._ncp_fail("generateCbkeKeys283k1", st)
            got = await self._ncp_wait("generateCbkeKeysHandler283k1", EPHEMERAL_GENERATE_S)
            if got is None or got[0]:
                return self._ncp_fail("generateCbkeKeysHandler283k1", got and got[0])
            qeu = got[1]
            rsp = await self._exchange(_EPHEMERAL, qeu, eph_s * 1000 + self.slack_ms)
            if isinstance(rsp, str):
                return await self._abandon(rsp)
            if len(rsp) < PUBKEY_LEN:
                await self._terminate(KE_BAD_MESSAGE)
                return await self._abandon(TERMINATED)
            qev = bytes(rsp[:PUBKEY_LEN])
            # 3. SMACs from the NCP; confirm ours, check theirs
            self._cb = {}
            (st,) = await e.request("calculateSmacs283k1", 1, partner_cert, qev)
            if st:
                return await self._abandon(self._ncp_fail("calculateSmacs283k1", st))
            got = await self._ncp_wait("calculateSmacsHandler283k1", CONFIRM_GENERATE_S)
            if got is None or got[0]:
                return await self._abandon(self._ncp_fail("calculateSmacsHandler", got and got[0]))
            macu, macv = got[1], got[2]
            rsp = await self._exchange(_CONFIRM, macu, conf_s * 1000 + self.slack_ms)
            if isinstance(rsp, str):
                return await self._abandon(rsp)
            if bytes(rsp[:MAC_LEN]) != macv:
                self.c.inc("bad_confirm")
                log.warn(_TAG, "responder's key confirmation does not match")
                await self._terminate(KE_BAD_KEY_CONFIRM)
                return await self._abandon(BAD_CONFIRM)
            (st,) = await e.request("clearTemporaryDataMaybeStoreLinkKey283k1", 1)
            if st:
                return self._ncp_fail("clearTemporaryDataMaybeStoreLinkKey283k1", st)
        except EzspError as ex:
            self.c.inc("ncp_errors")
            log.warn(_TAG, "NCP: %r", ex)
            return NCP_ERROR
        self.c.inc("ok")
        log.info(_TAG, "trust centre link key established")
        return OK

    # Send one KE command and wait for the same command back (or a Terminate).
    # -> response payload, or a result string.
    async def _exchange(self, cmd, payload, timeout_ms):
        node, ep = self.partner
        tsn = self.zcl.next_tsn()
        data = self.zcl.build(FR.CLUSTER, FR.C2S, tsn, cmd, payload, True)
        self._rx = None
        self._rx_evt.clear()
        st = await self.ncp.send_unicast(node, CLUSTER, self.zcl.local_ep, ep, data,
                                         aps_options=APS_OPTIONS_KE)  # fmt: skip
        if st:
            log.warn(_TAG, "send KE 0x%02x: 0x%x", cmd, st)
            self.c.inc("timeouts")
            return TIMEOUT
        while True:
            try:
                await wait_ms(self._rx_evt.wait(), timeout_ms)
            except asyncio.TimeoutError:
                self.c.inc("timeouts")
                log.warn(_TAG, "no answer to KE 0x%02x in %d ms", cmd, timeout_ms)
                return TIMEOUT
            self._rx_evt.clear()
            got = self._partner_frame()
            if got is None:  # woken without a frame: keep waiting
                continue
            rx_cmd, rx, _tsn = got
            if rx_cmd == _TERMINATE:
                status = rx[0] if len(rx) else 0
                self.peer_wait_s = rx[1] if len(rx) > 1 else 0
                self.c.inc("terminated_by_peer")
                log.warn(_TAG, "terminated by peer: status %d, wait %d s", status,
                         self.peer_wait_s)  # fmt: skip
                return TERMINATED
            if rx_cmd == cmd:
                return rx
            log.warn(_TAG, "unexpected KE 0x%02x (want 0x%02x)", rx_cmd, cmd)

    async def _ncp_wait(self, name, announced_s):
        timeout_ms = self.ncp_timeout_ms or (announced_s * 1000)
        while name not in self._cb:
            if "ncpReset" in self._cb:
                self._cb.pop("ncpReset")
                return None
            self._cb_evt.clear()
            try:
                await wait_ms(self._cb_evt.wait(), timeout_ms)
            except asyncio.TimeoutError:
                return None
        return self._cb.pop(name)

    def _ncp_fail(self, what, st):
        self.c.inc("ncp_errors")
        log.warn(_TAG, "%s: 0x%x", what, st if st is not None else -1)
        return NCP_ERROR

    async def _terminate(self, status):
        node, ep = self.partner
        data = self.zcl.build(FR.CLUSTER, FR.C2S, self.zcl.next_tsn(), _TERMINATE,
                              struct.pack("<BBH", status, 0, SUITE_283K1), True)  # fmt: skip
        await self.ncp.send_unicast(node, CLUSTER, self.zcl.local_ep, ep, data,
                                    aps_options=APS_OPTIONS_KE)  # fmt: skip

    async def _abandon(self, result):
        # The NCP holds temporary key material after generateCbkeKeys: drop it.
        try:
            await self.ncp.ezsp.request("clearTemporaryDataMaybeStoreLinkKey283k1", 0)
        except EzspError:
            pass
        return result
