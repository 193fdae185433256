# NCP service: brings the EZSP NCP up, keeps it up across NCP resets, sends APS unicasts
# (status from messageSentHandler, matched by message tag) and delivers incoming APS messages.
# SPDX-License-Identifier: MIT
#
# Recovery: any NCP reset or link failure (unsolicited RSTACK, ERROR, ASH ack timeouts, EOF)
# arrives on ezsp.resets -> this service marks itself not ready and re-runs bring-up. Callers
# of send_unicast() whose command had not been accepted by the NCP wait and are sent after
# recovery; a message the NCP had already accepted cannot be confirmed any more and returns
# SEND_NCP_RESET (re-sending it could duplicate it; ZCL retries decide).
import asyncio
import struct
import time

from ihd.runtime import log
from ihd.runtime.aio import wait_ms
from ihd.runtime.counters import Counters
from ihd.runtime.events import Signal
from ihd.zigbee import ezsp as ez
from ihd.zigbee.ezsp import EzspError, EzspTimeout, InvalidCommand
from micropython import const

PROFILE_SE = const(0x0109)
DEVICE_IHD = const(0x0507)
IHD_ENDPOINT = const(1)
# Basic server; Key Establishment server+client; the rest are clients of the ESI / meters.
IN_CLUSTERS = (0x0000, 0x0800)
OUT_CLUSTERS = (0x000A, 0x0019, 0x0700, 0x0702, 0x0703, 0x0705, 0x0708, 0x0800)

APS_OPTION_ENCRYPTION = const(0x0020)
APS_OPTION_RETRY = const(0x0040)
APS_OPTION_ENABLE_ROUTE_DISCOVERY = const(0x0100)
# SE application traffic is APS-encrypted with the TC link key, APS-acked and retried.
APS_OPTIONS_DEFAULT = const(0x0160)
_OUTGOING_DIRECT = const(0)

# EmberNetworkStatus
NET_NO_NETWORK = const(0)
NET_JOINING = const(1)
NET_JOINED = const(2)
NET_JOINED_NO_PARENT = const(3)
NET_LEAVING = const(4)

# send_unicast() host-side failures; outside both the EmberStatus and sl_status ranges.
SEND_OK = const(0)
SEND_TIMEOUT = const(0x10007)  # no messageSentHandler / queued too long
SEND_NCP_RESET = const(0x10053)  # accepted by the NCP, then the NCP reset
SEND_FAILED = const(0x10001)  # NCP rejected the command (invalidCommand)

# Service states (for the status screen)
ST_DOWN = "down"
ST_STARTING = "starting"
ST_READY = "ready"

# networkInit bitmask: PARENT_INFO_IN_TOKEN | END_DEVICE_REJOIN_ON_REBOOT (end device)
_NETWORK_INIT_BITMASK = const(0x0003)
_NETWORK_UP_TIMEOUT_MS = const(15000)
_SENT_TIMEOUT_MS = const(20000)
_QUEUE_TIMEOUT_MS = const(60000)
_BACKOFF_MIN_MS = const(500)
_BACKOFF_MAX_MS = const(30000)

# (configId, value) set during bring-up; failures are logged, not fatal.
CONFIG_DEFAULT = (
    (ez.CONFIG_STACK_PROFILE, 2),  # ZigBee PRO
    (ez.CONFIG_SECURITY_LEVEL, 5),
    (ez.CONFIG_APS_UNICAST_MESSAGE_COUNT, 10),
)

_COUNTER_NAMES = (
    "resets",
    "bringups",
    "bringup_failures",
    "tx",
    "tx_ok",
    "tx_failed",
    "tx_timeouts",
    "tx_requeued",
    "sent_unmatched",
    "rx",
    "rx_dropped",
    "rx_errors",
)


# The payload of Ncp.messages: ezsp.IncomingMessage (named fields per docs/conventions.md), one
# instance reused for every incoming message, valid only during the emit.
Message = ez.IncomingMessage


class Ncp:
    # Signals (runtime/events.py):
    #   messages  payload: every incoming APS message (see Message), from the ASH receive task;
    #             a listener must not keep msg, msg.payload or msg.sender_eui64 after it
    #             returns, and returns True when the message was its own (ZDO before ZCL).
    #   resets    payload: the reset code, after this service has marked itself not ready.
    #   changed   payload: this Ncp, whenever what status() reports may have changed (up,
    #             reset, network up / down, a refresh): app.py shows it on the Status screen.
    # Other EZSP callbacks: connect to ncp.ezsp.callback(name) directly.
    # join: an async fn(ncp) that joins a network (commissioning's Commissioner.join, passed in
    # by app.py); bring-up awaits it when networkInit finds no network; it returns once joined
    # and raises to retry the bring-up. None: a device commissioned outside this firmware.
    def __init__(
        self,
        ezsp,
        endpoint=IHD_ENDPOINT,
        config=CONFIG_DEFAULT,
        desired_version=ez.VERSION_DESIRED,
        network_init_bitmask=_NETWORK_INIT_BITMASK,
        network_up_timeout_ms=_NETWORK_UP_TIMEOUT_MS,
        sent_timeout_ms=_SENT_TIMEOUT_MS,
        queue_timeout_ms=_QUEUE_TIMEOUT_MS,
        backoff_min_ms=_BACKOFF_MIN_MS,
        name="ncp",
        join=None,
    ):
        self.ezsp = ezsp
        self.endpoint = endpoint
        self.config = config
        self.desired_version = desired_version
        self.network_init_bitmask = network_init_bitmask
        self.network_up_timeout_ms = network_up_timeout_ms
        self.sent_timeout_ms = sent_timeout_ms
        self.queue_timeout_ms = queue_timeout_ms
        self.backoff_min_ms = backoff_min_ms
        self.c = Counters(name, _COUNTER_NAMES)
        self.messages = Signal(name, self.c, "rx_errors")
        self.resets = Signal(name)
        self.changed = Signal(name)
        self.join = join  # docs/joining.md
        # Status screen
        self.state = ST_DOWN
        self.ezsp_version = 0
        self.stack_version = ""
        self.eui64 = None  # 8 bytes, little-endian as on the wire
        self.node_id = 0xFFFE
        self.channel = None  # type: int | None  # of the network joined (getNetworkParameters)
        self.pan_id = None  # type: int | None
        self.network_state = NET_NO_NETWORK
        self.last_stack_status = -1
        self.reset_count = 0
        self.last_reset_code = -1
        self._ready = asyncio.Event()  # EZSP configured: commands may be sent
        self._reset_evt = asyncio.Event()
        self._net_evt = asyncio.Event()
        self._sent = {}  # message tag -> [Event, status]
        self._tag = 0
        self._task = None
        ezsp.resets.connect(self._on_reset)
        ezsp.callback("incomingMessageHandler").connect(self._incoming)
        ezsp.callback("messageSentHandler").connect(self._on_sent)
        ezsp.callback("stackStatusHandler").connect(self._on_stack_status)

    def start(self):
        if self._task is None:
            self._task = asyncio.create_task(self.run())

    def stop(self):
        if self._task is not None:
            self._task.cancel()
            self._task = None
        self.ezsp.ash.stop()
        self._ready.clear()
        self.state = ST_DOWN

    def ready(self):
        return self._ready.is_set()

    async def wait_ready(self, timeout_ms=None):
        if timeout_ms is None:
            await self._ready.wait()
        else:
            await wait_ms(self._ready.wait(), timeout_ms)

    def status(self):
        return {
            "state": self.state,
            "ezsp_version": self.ezsp_version,
            "stack_version": self.stack_version,
            "eui64": self.eui64,
            "node_id": self.node_id,
            "channel": self.channel,
            "pan_id": self.pan_id,
            "network_state": self.network_state,
            "reset_count": self.reset_count,
            "last_reset_code": self.last_reset_code,
        }

    # Supervisor: bring-up, then wait for an NCP reset and do it again, with backoff on failure.
    async def run(self):
        backoff_ms = self.backoff_min_ms
        while True:
            self._reset_evt.clear()
            try:
                await self._bring_up()
                backoff_ms = self.backoff_min_ms
            except Exception as e:  # noqa: BLE001 - any failure means: reset and try again
                self.c.inc("bringup_failures")
                self.state = ST_DOWN
                self._ready.clear()
                self.changed.emit(self)
                log.warn("ncp", "bring-up failed: %r; retry in %d ms", e, backoff_ms)
                await asyncio.sleep_ms(backoff_ms)
                backoff_ms = min(2 * backoff_ms, _BACKOFF_MAX_MS)
                continue
            await self._reset_evt.wait()
            log.warn("ncp", "NCP reset (code 0x%02x): re-initialising", self.last_reset_code)

    async def _bring_up(self):
        e = self.ezsp
        self.state = ST_STARTING
        self._ready.clear()
        self.ezsp_version = await e.connect(self.desired_version)
        self._reset_evt.clear()  # the RSTACK above was ours
        self.stack_version = await self._stack_version()
        for cid, value in self.config:
            (st,) = await e.request("setConfigurationValue", cid, value)
            if st:
                log.warn("ncp", "setConfigurationValue 0x%02x=%d: 0x%x", cid, value, st)
        policy = ez.POLICY_MESSAGE_CONTENTS_IN_CALLBACK
        (st,) = await e.request("setPolicy", policy, ez.DECISION_MESSAGE_TAG_ONLY_IN_CALLBACK)
        if st:
            log.warn("ncp", "setPolicy(message contents): 0x%x", st)
        await self._add_endpoint()
        (self.eui64,) = await e.request("getEui64")
        self._net_evt.clear()
        (st,) = await e.request("networkInit", self.network_init_bitmask)
        if st == ez.SUCCESS:
            try:
                await wait_ms(self._net_evt.wait(), self.network_up_timeout_ms)
            except asyncio.TimeoutError:
                log.warn("ncp", "networkInit: no NETWORK_UP yet")
            if self._reset_evt.is_set():
                raise EzspError("NCP reset during bring-up")
        elif st == e.ST_NOT_JOINED:
            log.info("ncp", "no network to resume: commissioning needed")
            if self.join is not None:
                await self.join(self)
                if self._reset_evt.is_set():
                    raise EzspError("NCP reset while joining")
        else:
            log.warn("ncp", "networkInit: 0x%x", st)
        await self.refresh()
        self.state = ST_READY
        self.c.inc("bringups")
        self._ready.set()
        self.changed.emit(self)
        log.info(
            "ncp",
            "up: EZSP v%d stack %s node 0x%04x net %d",
            self.ezsp_version,
            self.stack_version,
            self.node_id,
            self.network_state,
        )

    async def _stack_version(self):
        try:
            st, info = await self.ezsp.request("getValue", ez.VALUE_VERSION_INFO)
        except InvalidCommand:
            st, info = 1, b""
        if st == 0 and len(info) >= 7:
            build, major, minor, patch, special = struct.unpack_from("<HBBBB", info)
            return "%d.%d.%d.%d build %d" % (major, minor, patch, special, build)
        v = self.ezsp.stack_version  # u16 from version(): one nibble per digit
        return "%d.%d.%d.%d" % (v >> 12, (v >> 8) & 15, (v >> 4) & 15, v & 15)

    async def _add_endpoint(self):
        n_in = len(IN_CLUSTERS)
        n_out = len(OUT_CLUSTERS)
        tail = bytearray(2 * (n_in + n_out))
        struct.pack_into("<%dH" % n_in, tail, 0, *IN_CLUSTERS)
        struct.pack_into("<%dH" % n_out, tail, 2 * n_in, *OUT_CLUSTERS)
        (st,) = await self.ezsp.request(
            "addEndpoint", self.endpoint, PROFILE_SE, DEVICE_IHD, 0, n_in, n_out, tail=tail
        )
        if st:
            log.warn("ncp", "addEndpoint %d: 0x%x", self.endpoint, st)

    # Re-read network state, node id, channel and PAN id (also after commissioning, rejoin).
    async def refresh(self):
        e = self.ezsp
        (self.network_state,) = await e.request("networkState")
        (self.node_id,) = await e.request("getNodeId")
        self.pan_id = self.channel = None
        try:  # -> status, node type, then EmberNetworkParameters (xpan, pan, power, channel...)
            r = await e.request("getNetworkParameters")
        except InvalidCommand:
            r = None
        if r is not None and r[0] == ez.SUCCESS:  # (NOT_JOINED off a network)
            self.pan_id = r[3]
            self.channel = r[5]
        self.changed.emit(self)

    def _next_tag(self):
        # 1..255: fits the u8 tag of v13 and the u16 tag of v14; skip tags still in use.
        for _ in range(255):
            self._tag = self._tag % 255 + 1
            if self._tag not in self._sent:
                return self._tag
        raise EzspError("no free message tag")

    # Send one APS unicast; returns 0 when the NCP reports delivery (messageSentHandler), else
    # the NCP's status (EmberStatus before v14, sl_status_t from v14) or a SEND_* code.
    async def send_unicast(
        self,
        node_id,
        cluster_id,
        src_ep,
        dst_ep,
        payload,
        profile_id=PROFILE_SE,
        aps_options=APS_OPTIONS_DEFAULT,
    ):
        self.c.inc("tx")
        t0 = time.ticks_ms()
        while True:
            left_ms = self.queue_timeout_ms - time.ticks_diff(time.ticks_ms(), t0)
            if not self._ready.is_set():
                try:
                    await wait_ms(self._ready.wait(), max(left_ms, 1))
                except asyncio.TimeoutError:
                    return self._tx_done(SEND_TIMEOUT)
            tag = self._next_tag()
            slot = [asyncio.Event(), SEND_TIMEOUT]
            self._sent[tag] = slot
            try:
                st, _aps_seq = await self.ezsp.request(
                    "sendUnicast",
                    _OUTGOING_DIRECT,
                    node_id,
                    profile_id,
                    cluster_id,
                    src_ep,
                    dst_ep,
                    aps_options,
                    0,  # group id
                    0,  # APS sequence: assigned by the NCP
                    tag,
                    payload,
                )
            except EzspTimeout:
                self._sent.pop(tag, None)
                return self._tx_done(SEND_TIMEOUT)
            except InvalidCommand:
                self._sent.pop(tag, None)
                return self._tx_done(SEND_FAILED)
            except EzspError:
                # NCP reset / link failure before the NCP took it: wait for recovery, re-send.
                self._sent.pop(tag, None)
                self.c.inc("tx_requeued")
                if time.ticks_diff(time.ticks_ms(), t0) >= self.queue_timeout_ms:
                    return self._tx_done(SEND_TIMEOUT)
                if self._ready.is_set():  # recovery not noticed yet: don't spin
                    await asyncio.sleep_ms(50)
                continue
            if st != ez.SUCCESS:
                self._sent.pop(tag, None)
                return self._tx_done(st)
            try:
                await wait_ms(slot[0].wait(), self.sent_timeout_ms)
            except asyncio.TimeoutError:
                pass
            self._sent.pop(tag, None)
            return self._tx_done(slot[1])

    def _tx_done(self, st):
        if st == SEND_OK:
            self.c.inc("tx_ok")
        elif st == SEND_TIMEOUT:
            self.c.inc("tx_timeouts")
        else:
            self.c.inc("tx_failed")
        return st

    def _on_reset(self, code):
        self.reset_count += 1
        self.last_reset_code = code
        self.c.inc("resets")
        self._ready.clear()
        self.state = ST_STARTING
        for slot in self._sent.values():
            slot[1] = SEND_NCP_RESET
            slot[0].set()
        self._reset_evt.set()
        self._net_evt.set()  # wake a bring-up waiting for NETWORK_UP
        self.resets.emit(code)
        self.changed.emit(self)

    def _on_sent(self, sent):  # ezsp.MessageSent
        slot = self._sent.get(sent.tag)
        if slot is None:
            self.c.inc("sent_unmatched")
            return
        slot[1] = sent.status
        slot[0].set()

    def _on_stack_status(self, args):
        (st,) = args
        self.last_stack_status = st
        if st == self.ezsp.ST_NETWORK_UP:
            self.network_state = NET_JOINED
            self._net_evt.set()
            log.info("ncp", "network up")
        elif st == self.ezsp.ST_NETWORK_DOWN:
            # End device: usually a lost parent (the stack rejoins); refresh() knows better.
            self.network_state = NET_JOINED_NO_PARENT
            log.warn("ncp", "network down")
        else:
            log.info("ncp", "stack status 0x%x", st)
            return
        self.changed.emit(self)

    def _incoming(self, m):
        # m: ezsp.IncomingMessage, decoded in place by the EZSP layer (no copy, no allocation).
        self.c.inc("rx")
        if not len(self.messages):
            self.c.inc("rx_dropped")
            return
        self.messages.emit(m)
