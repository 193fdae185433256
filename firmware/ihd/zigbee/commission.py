# Joining a Smart Energy HAN (docs/joining.md): the install-code link key as the preconfigured
# trust-centre key, active scan, join with retries and backoff across the networks found, and
# rejoin (secure first, then trust-centre) when the network goes away. Modelled on the Silicon
# Labs network-find and end-device-support plugins where the reference is silent.
# SPDX-License-Identifier: MIT
#
# Wiring (app.py): Ncp(..., join=commissioner.join) (bring-up awaits it when networkInit reports
# NOT_JOINED); commissioner.run_rejoin() is a supervised task. Status changes are emitted on
# `changed` (app.py shows them on the Status screen); the install code is shown there while the
# device is off the network and is never logged.
import asyncio

from ihd.runtime import log
from ihd.runtime.aio import wait_ms
from ihd.runtime.counters import Counters
from ihd.runtime.events import Signal
from ihd.zigbee import ezsp as ez
from ihd.zigbee import installcode
from micropython import const

_TAG = "join"
# All 2.4 GHz channels 11-26; GB Comms Hubs pick any (SE 1.4 drops the preferred-channel list).
CHANNELS_ALL = const(0x07FFF800)
_SCAN_DURATION = const(3)  # 802.15.4 exponent: (2^3 + 1) x 15.36 ms per channel
_SCAN_TIMEOUT_MS = const(15000)
_JOIN_TIMEOUT_MS = const(20000)  # association + APS transport of the network key
_REJOIN_TIMEOUT_MS = const(20000)
_STACK_PROFILE_PRO = const(2)
_TX_POWER_DBM = const(3)
_JOIN_MAC_ASSOCIATION = const(0)
_REJOIN_NO_PARENT = const(3)  # EmberRejoinReason EMBER_REJOIN_DUE_TO_NO_PARENT

# Status texts (Commissioner.state, shown())
NO_CODE = "no install code"
SCANNING = "scanning"
JOINING = "joining"
NO_NETWORK = "no network found"
REFUSED = "refused: check install code"
JOINED = "joined"
REJOINING = "rejoining"

_COUNTERS = ("scans", "networks_found", "joins", "join_failures", "refusals", "rejoins",
             "rejoin_failures", "tc_rejoins")  # fmt: skip


def _by_lqi(net):  # networkFoundHandler fields: best link first
    return -net[6]


class JoinError(Exception):
    pass


class Commissioner:
    def __init__(
        self,
        ncp,
        install_code=None,
        channels=CHANNELS_ALL,
        node_type=ez.NODE_END_DEVICE,
        backoff_min_ms=2000,
        backoff_max_ms=300000,
        scan_timeout_ms=_SCAN_TIMEOUT_MS,
        join_timeout_ms=_JOIN_TIMEOUT_MS,
        rejoin_timeout_ms=_REJOIN_TIMEOUT_MS,
        rejoin_grace_ms=5000,
    ):
        self.ncp = ncp
        self.install_code = install_code  # code + CRC (installcode.parse / load), or None
        self.channels = channels
        self.node_type = node_type
        self.backoff_min_ms = backoff_min_ms
        self.backoff_max_ms = backoff_max_ms
        self.scan_timeout_ms = scan_timeout_ms
        self.join_timeout_ms = join_timeout_ms
        self.rejoin_timeout_ms = rejoin_timeout_ms
        self.rejoin_grace_ms = rejoin_grace_ms
        self.c = Counters(_TAG, _COUNTERS)
        self.state = None  # one of the status texts, None when nothing is pending
        self.detail = ""
        self.last_status = -1  # last stack status of a failed join / rejoin
        self.joined_at_boot = False  # this boot joined a network (key establishment follows)
        self.changed = Signal(_TAG)  # payload: this Commissioner (see shown())
        self._found = []
        self._scan_done = asyncio.Event()
        self._stack = asyncio.Event()
        self._stack_status = -1
        cb = ncp.ezsp.callback
        cb("networkFoundHandler").connect(self._found.append)
        cb("scanCompleteHandler").connect(self._on_scan_complete)
        cb("stackStatusHandler").connect(self._on_stack_status)
        ncp.resets.connect(self._on_reset)

    def shown(self):
        # -> (status text, or None once joined; the install code text while the installer needs
        # it, i.e. while the device is off the network, else None)
        state = self.state
        if state == JOINED:
            return None, None
        text = state if not self.detail else "%s (%s)" % (state, self.detail)
        show = state is not None and self.install_code is not None
        return text, installcode.text(self.install_code) if show else None

    def _set(self, state, detail=""):
        self.state = state
        self.detail = detail
        self.changed.emit(self)

    def _on_scan_complete(self, args):
        _channel, status = args
        if status == ez.SUCCESS:
            self._scan_done.set()

    def _on_stack_status(self, args):
        (self._stack_status,) = args
        self._stack.set()

    def _on_reset(self, code):
        self._stack_status = -1
        self._stack.set()
        self._scan_done.set()

    # ---------------- join (from Ncp bring-up) ----------------

    async def join(self, ncp):
        code = self.install_code
        if code is None:
            self._set(NO_CODE)
            log.error(_TAG, "no install code provisioned: cannot join")
            await asyncio.sleep_ms(self.backoff_max_ms)
            raise JoinError("no install code")
        key = installcode.link_key(code)
        backoff_ms = self.backoff_min_ms
        while True:
            await self._security(key)
            nets = await self._scan()
            tried = 0
            for net in nets:
                tried += 1
                if await self._join_one(net):
                    self.joined_at_boot = True
                    self._set(JOINED)
                    return
            if tried:
                # A trust centre that does not know our EUI64 + install code never sends the
                # network key (or sends it under a key we cannot use): the join fails.
                self.c.inc("refusals")
                self._set(REFUSED, "status 0x%x" % self.last_status)
                log.warn(_TAG, "join refused by %d network(s); retry in %d ms", tried, backoff_ms)
            else:
                self._set(NO_NETWORK)
                log.info(_TAG, "no joinable SE network; retry in %d ms", backoff_ms)
            await asyncio.sleep_ms(backoff_ms)
            backoff_ms = min(2 * backoff_ms, self.backoff_max_ms)

    async def _security(self, key):
        (st,) = await self.ncp.ezsp.request(
            "setInitialSecurityState", ez.SECURITY_JOIN_PRECONFIG_KEY, key, bytes(16), 0, bytes(8)
        )
        if st != ez.SUCCESS:
            log.error(_TAG, "setInitialSecurityState: 0x%x", st)
            raise JoinError("security state 0x%x" % st)

    async def _scan(self):
        # -> joinable Smart Energy (ZigBee PRO) networks, best link first
        self._set(SCANNING)
        self.c.inc("scans")
        self._found.clear()  # in place: the networkFoundHandler listener appends to this list
        self._scan_done.clear()
        (st,) = await self.ncp.ezsp.request(
            "startScan", ez.SCAN_ACTIVE, self.channels, _SCAN_DURATION
        )
        if st != ez.SUCCESS:
            log.warn(_TAG, "startScan: 0x%x", st)
            return []
        try:
            await wait_ms(self._scan_done.wait(), self.scan_timeout_ms)
        except asyncio.TimeoutError:
            log.warn(_TAG, "scan did not complete")
        nets = []
        for n in self._found:
            _channel, _pan, _xpan, allowing_join, stack_profile, _update_id, _lqi, _rssi = n
            if allowing_join and stack_profile == _STACK_PROFILE_PRO:
                nets.append(n)
        nets.sort(key=_by_lqi)
        self.c.inc("networks_found", len(nets))
        return nets

    async def _join_one(self, net):
        channel, pan, xpan, _allow, _prof, update_id, lqi, _rssi = net
        self._set(JOINING, "PAN %04X ch %d" % (pan, channel))
        log.info(_TAG, "joining PAN 0x%04x on channel %d (LQI %d)", pan, channel, lqi)
        self.c.inc("joins")
        self._stack.clear()
        self._stack_status = -1
        params = (xpan, pan, _TX_POWER_DBM, channel, _JOIN_MAC_ASSOCIATION, 0, update_id, 0)
        (st,) = await self.ncp.ezsp.request("joinNetwork", self.node_type, *params)
        if st == ez.SUCCESS:
            st = await self._wait_stack(self.join_timeout_ms)
            if st == self.ncp.ezsp.ST_NETWORK_UP:
                log.info(_TAG, "joined PAN 0x%04x", pan)
                return True
        self.last_status = st
        self.c.inc("join_failures")
        log.warn(_TAG, "join PAN 0x%04x failed: 0x%x", pan, st)
        return False

    async def _wait_stack(self, timeout_ms):
        # -> next stack status (-1: timeout or NCP reset)
        try:
            await wait_ms(self._stack.wait(), timeout_ms)
        except asyncio.TimeoutError:
            return -1
        self._stack.clear()
        return self._stack_status

    # ---------------- rejoin (supervised task) ----------------

    async def run_rejoin(self):
        # While the NCP is up but off its network (parent / hub lost, NETWORK_DOWN, a reset
        # that did not bring the network back): secure rejoin (current network key), then a
        # trust-centre rejoin (unsecured, key from the TC), with exponential backoff.
        from ihd.zigbee.ncp import NET_JOINED, NET_NO_NETWORK

        backoff_ms = self.backoff_min_ms
        while True:
            await self.ncp.wait_ready()
            if self.ncp.network_state == NET_JOINED:
                backoff_ms = self.backoff_min_ms
                await asyncio.sleep_ms(500)
                continue
            await asyncio.sleep_ms(self.rejoin_grace_ms)  # the stack may rejoin by itself
            if not self.ncp.ready() or self.ncp.network_state == NET_JOINED:
                continue
            try:
                await self.ncp.refresh()
            except Exception as e:  # noqa: BLE001 - NCP went away: bring-up handles it
                log.warn(_TAG, "refresh: %r", e)
                continue
            st = self.ncp.network_state
            if st == NET_JOINED:
                continue
            if st == NET_NO_NETWORK and self.ncp.last_stack_status == -1:
                continue  # never joined (no install code yet): bring-up's joiner owns it
            if await self.rejoin():
                backoff_ms = self.backoff_min_ms
                continue
            log.warn(_TAG, "rejoin failed; retry in %d ms", backoff_ms)
            await asyncio.sleep_ms(backoff_ms)
            backoff_ms = min(2 * backoff_ms, self.backoff_max_ms)

    async def rejoin(self):
        for secure in (True, False):
            self._set(REJOINING, "secure" if secure else "trust centre")
            self.c.inc("rejoins" if secure else "tc_rejoins")
            self._stack.clear()
            self._stack_status = -1
            args = (1 if secure else 0, self.channels)
            if self.ncp.ezsp.v14:  # + rejoin reason, node type (SDK v14 layout)
                args += (_REJOIN_NO_PARENT, self.node_type)
            try:
                (st,) = await self.ncp.ezsp.request("findAndRejoinNetwork", *args)
            except ez.InvalidCommand:
                st = -1
            except ez.EzspError as e:
                log.warn(_TAG, "rejoin: %r", e)
                return False
            if st == ez.SUCCESS:
                st = await self._wait_stack(self.rejoin_timeout_ms)
                if st == self.ncp.ezsp.ST_NETWORK_UP:
                    await self.ncp.refresh()
                    log.info(_TAG, "rejoined (%s)", "secure" if secure else "trust centre")
                    self._set(JOINED)
                    return True
            self.last_status = st
            self.c.inc("rejoin_failures")
            log.warn(_TAG, "%s rejoin failed: 0x%x", "secure" if secure else "TC", st)
        return False


# Factory reset (docs/joining.md): leave the network (the NCP forgets the network key and the
# link keys), forget the discovered meters, and truncate both meters' history to "now" (new
# epoch keys: the old records become unreadable). The install code stays: it is the device's.
async def factory_reset(ncp, history, meters_path=None):
    from ihd.runtime import clock
    from ihd.zigbee import discovery

    e = ncp.ezsp
    try:
        (st,) = await (e.request("leaveNetwork", 0) if e.v14 else e.request("leaveNetwork"))
        if st != ez.SUCCESS:
            log.warn(_TAG, "leaveNetwork: 0x%x", st)
    except ez.EzspError as ex:
        log.warn(_TAG, "leaveNetwork: %r", ex)
    discovery.erase(meters_path or discovery.PATH)
    for meter in (0, 1):
        t = max(clock.now(), history.visible_from(meter)) + 1
        history.truncate(meter, t)
    log.info(_TAG, "factory reset: left the network, meters and history erased")
