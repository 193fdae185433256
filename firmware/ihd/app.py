# Wiring of services and tasks. Knows no pins (the board module does) and no bytes (the layers
# do). The board is used only through its contract (docs/boards.md), the same way on every
# board. Start order: the board's devices (the framebuffers are the biggest allocations: first,
# on an unfragmented heap), storage (flash is the only durable state), config, history, UI, the
# Zigbee stack, services. Every long-lived task runs under the supervisor.
import asyncio
import gc

from micropython import const

import ihd
from ihd.runtime import atomic, clock, counters, log
from ihd.runtime.supervisor import Supervisor, install_loop_handler
from ihd.state import fuels as FU

_TYPES = const(0)  # the type checker reads these imports; MicroPython compiles `if 0:` away
if _TYPES:
    from ihd.history.view import HistoryView
    from ihd.messages.service import MessageService
    from ihd.meters.registry import Registry
    from ihd.meters.service import MeterService
    from ihd.ota.client import OtaClient
    from ihd.ota.slots import Slots
    from ihd.prepay.service import PrepayService
    from ihd.runtime.config import Config
    from ihd.state.model import Model
    from ihd.tenancy.watcher import TenancyWatcher
    from ihd.zigbee.cbke import KeyEstablishment
    from ihd.zigbee.commission import Commissioner
    from ihd.zigbee.discovery import Discovery
    from ihd.zigbee.ncp import Ncp
    from ihd.zigbee.zcl.client import Zcl

_FLASH = "/flash"
_GC_EVERY_B = const(8192)
# Default bindings until discovery (issue: joining) persists real ones: GB HAN defaults used by
# hansim's default scenario; a board or the config file may override ("meters" key).
_DEFAULT_METERS = "elec:0x1234:1,gas:0x2B7A:1"


class App:
    # Built in run()'s order, each once; shutdown() and main() cope with a stop at any point.
    config: "Config"
    history: "HistoryView"
    model: "Model"
    ncp: "Ncp"
    zcl: "Zcl"
    commission: "Commissioner"
    discovery: "Discovery | None"
    ke: "KeyEstablishment | None"
    registry: "Registry"
    meters: "MeterService"
    tenancy: "TenancyWatcher"
    prepay: "PrepayService"
    messages: "MessageService"
    slots: "Slots"
    ota: "OtaClient"

    def __init__(self, board):
        self.board = board
        self.sup = Supervisor()
        self.started_ms = clock.ticks_ms()
        self._stopped = False
        self.panels = ()
        self.uis = []
        self.buzzer = None
        self.heap_peak = self.heap_live_peak = 0
        self._link_up = False  # the network as _show_network last saw it
        from ihd.ui.input import InputQueue

        self.inputs = InputQueue()  # every input source posts here; the first UI reads it
        self.quit = self.inputs.quit  # set to stop the app cleanly (unix terminal: the q key)

    # ---------------- construction ----------------

    def open_devices(self):
        # The board's panels, input sources and buzzer (docs/boards.md). Panels first, after a
        # collection: a 150 KB colour framebuffer needs one contiguous block.
        gc.collect()
        self.panels = tuple(self.board.panels())
        self.sources = tuple(self.board.inputs())
        self.buzzer = self.board.buzzer()
        log.info("app", "board %s: %d panel(s), %d input source(s), buzzer %s, caps %s",
                 self.board.NAME, len(self.panels), len(self.sources),
                 "yes" if self.buzzer else "no", ",".join(self.board.CAPS))  # fmt: skip

    def open_storage(self):
        from ihd.history.keys import KeyRegion
        from ihd.history.store import HistoryStore
        from ihd.history.view import HistoryView
        from ihd.runtime.config import Config

        self.storage, dev = self.board.storage()
        self.config = Config(_FLASH + "/config.json")
        keys = KeyRegion.on(self.storage, dev)
        if not keys.load():
            log.warn("app", "history keys fresh: history starts empty")
        # all history reads and writes go through the view (cached series; docs/history.md)
        self.history = HistoryView(HistoryStore(self.storage.fs, keys))
        atomic.spare_keep()  # a file object's piece, while the heap is whole (runtime/atomic.py)

    def build_model(self):
        from ihd.state.model import Model

        m = Model(now_fn=clock.now, history=self.history)
        m.fw_version = ihd.VERSION
        m.set_budget(self.config.get("daily_budget_mp"))
        for i in (0, 1):
            m.fuels[i].visible_from_utc = self.history.visible_from(i)
        self.model = m

    async def build_stack(self):
        from ihd.zigbee.ash import Ash
        from ihd.zigbee.ezsp import Ezsp
        from ihd.zigbee.ncp import Ncp
        from ihd.zigbee.zcl.client import Zcl

        backoff_ms = 500
        while True:
            try:
                reader, writer = await self.board.open_ncp()
                break
            except OSError as e:  # no NCP yet (unix: simulator not up): keep the device alive
                log.warn("app", "NCP port unavailable (%r); retry in %d ms", e, backoff_ms)
                await asyncio.sleep_ms(backoff_ms)
                backoff_ms = min(backoff_ms * 2, 30000)
        # EZSP command timeout beyond the NCP's own ASH retry horizon (up to 6 ack timeouts of
        # at most 3.2 s), so a slow noisy UART ends in an answer or an NCP ERROR, never a guess.
        self.ncp = Ncp(Ezsp(Ash(reader, writer), cmd_timeout_ms=25000))
        self.zcl = Zcl(self.ncp)
        self.build_joining()

    def build_joining(self):
        # docs/joining.md: install-code join, key establishment, meter discovery, rejoin.
        from ihd.zigbee import discovery, installcode
        from ihd.zigbee.commission import Commissioner

        code = installcode.load()
        text = self.board.INSTALL_CODE
        if code is None and text:  # factory provisioning: once, to flash
            code = installcode.parse(text)
            installcode.store(code)
        self.commission = Commissioner(self.ncp, code)
        self.ncp.join = self.commission.join
        self.commission.changed.connect(self._show_join)
        self.ncp.changed.connect(self._show_network)
        # Key establishment and discovery are made when register_task first needs them: a
        # device commissioned with its meters configured never carries them (~2 KB).
        self.ke = None
        self.discovery = None
        self.discovered = discovery.load()  # persisted bindings, None until discovered
        # Registered = meters discovered after key establishment; a device without an install
        # code (commissioned at the factory / by the test bench) keeps its configured meters.
        self.registered = asyncio.Event()
        if self.discovered is not None or code is None:
            self.registered.set()
        # incoming APS messages: ZCL (ZDO is not ZCL: the client skips it), and ZDO answers
        # once discovery exists (_discovery)
        self.ncp.messages.connect(self.zcl.handle_incoming)

    def _key_establishment(self):
        if self.ke is None:
            from ihd.zigbee.cbke import KeyEstablishment

            self.ke = KeyEstablishment(self.ncp, self.zcl)
        return self.ke

    def _discovery(self):
        if self.discovery is None:
            from ihd.zigbee.discovery import Discovery

            self.discovery = Discovery(self.ncp, self.zcl)
            self.ncp.messages.connect(self.discovery.handle_zdo)
        return self.discovery

    def _show_join(self, commissioner):
        text, install_code_text = commissioner.shown()
        self.model.set_join(text, install_code_text)
        self._show_network(self.ncp)

    def _show_network(self, ncp):
        # ncp.changed (and commission.changed) listener: the network as the header and the
        # Status screen show it. Up: the NCP is on its network; joining: scanning, joining or
        # rejoining (or the stack looking for its parent); else down.
        from ihd.state.model import LINK_DOWN, LINK_JOINING, LINK_UP
        from ihd.zigbee import commission as CM
        from ihd.zigbee import ncp as N

        ready = ncp.ready()
        net = ncp.network_state
        if ready and net == N.NET_JOINED:
            link = LINK_UP
        elif self.commission.state in (CM.SCANNING, CM.JOINING, CM.REJOINING) or (
            ready and net in (N.NET_JOINING, N.NET_JOINED_NO_PARENT)
        ):
            link = LINK_JOINING
        else:
            link = LINK_DOWN
        self.model.set_link(link)
        up = link == LINK_UP
        messages = getattr(self, "messages", None)
        if up and not self._link_up and messages is not None:
            messages.kick()  # each network start, a rejoin too: GetLastMessage (missed ones)
        self._link_up = up
        self.model.set_ncp(ncp.ezsp_version or None, ncp.stack_version or None, ncp.eui64,
                           ncp.channel if up else None, ncp.pan_id if up else None,
                           ncp.node_id if up else None, ncp.reset_count)  # fmt: skip

    def build_services(self):
        from ihd.meters.registry import Registry
        from ihd.meters.service import MeterService
        from ihd.tenancy.core import TenancyState
        from ihd.tenancy.watcher import TenancyWatcher

        cfg = self.config
        spec = cfg.get("meters") or self.board.METERS or _DEFAULT_METERS
        self.registry = Registry(require_aps_security=not cfg.get("dev_accept_unencrypted_se"))
        # Before any payload is decoded: SE clusters only from bound meters / the hub, secured.
        self.zcl.set_gate(self.registry.admits)
        self.meters = MeterService(self.zcl, self.registry, self.history, self.model, cfg)
        self.ncp.messages.connect(self.meters.heard)  # each meter's link quality (Status)
        if self.discovered is not None:
            self.bind_meters(self.discovered)
        elif self.registered.is_set():
            for m in Registry.parse(spec):
                self._bind(m)
        self.tenancy = TenancyWatcher(
            self.zcl,
            self.registry,
            self.history,
            TenancyState(_FLASH + "/tenancy.json"),
            cfg.get("tenancy_poll_s"),
            meters=self.meters,
            model=self.model,
        )
        # the meter's tariff / supplier data, its messages, as the control bits say
        self.tenancy.clearing.connect(self.meters.tenancy_clearer)
        self.build_messages()
        # history from the meter only once the tenancy check has run since boot: a change of
        # tenancy the meter already holds rewinds the store first (docs/history.md)
        tw = self.tenancy
        self.meters.backfill_wait_for(lambda: tw.rounds > 0)
        self.build_prepay()
        self.build_ota()

    def bind_meters(self, found):
        # Discovered meters ({"name", "node", "ep", "eui64"}) -> registry + meters service.
        from ihd.meters.registry import Meter

        for d in found:
            old = self.registry.get(d["name"])
            if old is not None and (old.node, old.ep) == (d["node"], d["ep"]):
                continue
            eui = bytes.fromhex(d["eui64"]) if d.get("eui64") else None
            self._bind(Meter(d["name"], d["node"], d["ep"], eui))

    def _bind(self, m):
        # One meter: the registry (the source rule), the meters service, the model's fuel.
        fuel = FU.by_key(m.name)
        if fuel is None:  # a persisted name that is no fuel: not bound, never a crash
            log.warn("app", "meter %r is no fuel: not bound", m.name)
            return
        self.registry.bind(m)
        self.meters.bind(m, fuel.index, fuel.index)
        self.model.fuels[fuel.index].present = True

    async def register_task(self):
        # After joining with the install code: CBKE with the trust centre, then meter discovery
        # (persisted); then rediscovery every rediscovery_s to follow a meter's new address.
        from ihd.zigbee import discovery

        backoff_s = 30
        if self.discovered is not None:  # bindings from flash: no discovery at boot
            await clock.sleep_s(self.config.get("rediscovery_s") or 86400)
        while True:
            await self.ncp.wait_ready()
            if not self.registered.is_set():
                self.model.set_join("key establishment")
                if not await self._key_establishment().run():
                    self.model.set_join("key establishment failed: retrying")
                    await asyncio.sleep(backoff_s)
                    backoff_s = min(2 * backoff_s, 3600)
                    continue
                self.model.set_join("finding meters")
            elif self.discovered is None:
                return  # configured meters: nothing to discover
            found = await self._discovery().discover()
            if found:
                discovery.save(found)
                self.discovered = found
                self.bind_meters(found)
                if not self.registered.is_set():
                    self.model.set_join(None)
                    self.registered.set()
                self.meters.kick()
                backoff_s = 30
                await clock.sleep_s(self.config.get("rediscovery_s") or 86400)
            else:
                if not self.registered.is_set():
                    self.model.set_join("no meters found: retrying")
                await asyncio.sleep(backoff_s)
                backoff_s = min(2 * backoff_s, 3600)

    async def _run_meters(self):
        await self.registered.wait()
        await self.meters.run()

    def build_messages(self):
        from ihd.messages.service import MessageService

        self.messages = MessageService(self.zcl, self.registry, self.model,
                                       _FLASH + "/messages.bin")  # fmt: skip
        self.tenancy.clearing.connect(self.messages.tenancy_clearer)

    def build_prepay(self):
        from ihd.prepay.service import PrepayService

        self.prepay = PrepayService(
            self.zcl,
            self.registry,
            self.model,
            state_path=_FLASH + "/prepay.json",
        )
        self.tenancy.clearing.connect(self._clear_prepay)
        if self.buzzer is not None:
            self.prepay.alerted.connect(self._beep)
        self.model.set_prepay_actions(self.prepay)

    def build_ota(self):
        from ihd.ota import trust
        from ihd.ota.client import OtaClient
        from ihd.ota.slots import Slots

        cfg = self.config
        self.slots = Slots(_FLASH)
        ncp = self.ncp
        self.ota = OtaClient(
            self.zcl,
            self.slots,
            self.board,
            _FLASH,
            block_size=cfg.get("ota_block_size"),
            query_s=cfg.get("ota_query_s"),
            start_delay_s=cfg.get("ota_start_delay_s"),
            reboot=self.reboot,
            eui64=lambda: ncp.eui64,
            keys=trust.load(trust.MANUFACTURER_KEYS, self.board.OTA_KEYS_FILE),
            allow_unsigned=bool(cfg.get("dev_allow_unsigned_ota")),
        )

    def reboot(self):
        # Activate a new firmware: orderly stop, then the board resets (unix: exit code 3).
        self.shutdown()
        self.board.reset()

    def _beep(self, alert):  # prepay.alerted listener: (meter, kind, utc)
        bz = self.buzzer
        if bz is not None:
            bz.alert(alert[0], alert[1])

    def _clear_prepay(self, ev):  # tenancy.clearing listener
        self.prepay.tenancy_clearer(ev.meter, ev.control, ev.t)  # ev.t: the effective T

    # ---------------- tasks ----------------

    async def link_task(self):
        # Follows the NCP: each (re)start of the network re-polls tenancy and re-reads meters
        # (a CoT may have happened while we were away). (The screens learn of the network from
        # ncp.changed: _show_network.)
        seen_resets = -1
        while True:
            await self.ncp.wait_ready()
            if self.ncp.reset_count != seen_resets or seen_resets < 0:
                seen_resets = self.ncp.reset_count
                log.info("app", "network up (NCP resets: %d)", seen_resets)
                self.meters.kick()
                self.tenancy.kick()
                self.prepay.kick()
            while self.ncp.ready():
                await asyncio.sleep_ms(200)

    async def heap_task(self):
        # Heap high-water marks for the status screen and benches: allocated (garbage included,
        # sampled 5 times a second) and live (after a collection, each status period).
        while True:
            a = gc.mem_alloc()
            if a > self.heap_peak:
                self.heap_peak = a
            await asyncio.sleep_ms(200)

    async def status_task(self):
        period_s = self.board.STATUS_PERIOD_S
        while True:
            gc.collect()
            live = gc.mem_alloc()
            if live > self.heap_live_peak:
                self.heap_live_peak = live
            restarts = sum(s[2] for s in self.sup.status())
            bad = counters.errors()
            log.info(
                "app",
                "up %d s, utc %s, heap free %d, restarts %d, errors %d",
                clock.ticks_diff_ms(self.started_ms) // 1000,
                clock.iso(clock.now()) if clock.synced() else "-",
                gc.mem_free(),
                restarts,
                bad,
            )
            await asyncio.sleep(period_s)

    async def _confirm_firmware(self):
        # A new firmware proves itself: NCP up and no task restarting for 5 minutes.
        from ihd.ota.slots import confirm_when_stable

        await confirm_when_stable(self.slots, self.sup, self.ncp.ready, grace_s=300)

    async def flush_task(self):
        # Pending half-hours reach flash at least hourly even in a quiet period.
        while True:
            await clock.sleep_s(3600)
            self.history.flush()

    def start_ui(self):
        # One display loop per panel (a device has one; the unix board's frame dumps can have
        # both); the first reads the input queue, and every input source posts to it.
        from ihd.ui.display import Ui
        from ihd.ui.input import InputQueue

        for i, panel in enumerate(self.panels):
            ui = Ui(panel, self.model, inputs=self.inputs if i == 0 else InputQueue(),
                    backlight=panel.backlight, status_key=self.board.STATUS_KEY)  # fmt: skip
            self.uis.append(ui)
            self.sup.spawn("ui%dx%d" % (panel.width, panel.height), ui.run)
        for i, src in enumerate(self.sources):
            self.sup.spawn("input%d" % i, _runner(src.run, self.inputs))

    async def run(self):
        install_loop_handler()
        log.info("app", "IHD firmware %s on %s", ihd.VERSION, self.board.NAME)
        self.sup.spawn("status", self.status_task)
        self.sup.spawn("heap", self.heap_task)
        self.open_devices()
        # A collection after every _GC_EVERY_B allocated, not only when the heap is full:
        # garbage is freed while it is still low in the heap, so what lives long packs there
        # and the top stays one free run; left to fill first, a day of the Pico configuration
        # spread long-lived objects over the whole heap and a 636-byte piece for a file open
        # (or a 404-byte day payload) was missing with 18 KB free (docs/boards.md
        # "Fragmentation"). Costs a collection (a few ms) per 8 KB allocated.
        gc.threshold(_GC_EVERY_B)
        self.open_storage()
        self.build_model()
        self.start_ui()
        await self.build_stack()
        self.build_services()
        self.sup.spawn("ncp", self.ncp.run)
        self.sup.spawn("link", self.link_task)
        self.sup.spawn("meters", self._run_meters)
        self.sup.spawn("rejoin", self.commission.run_rejoin)
        self.sup.spawn("register", self.register_task)
        self.sup.spawn("tenancy", self.tenancy.run)
        self.sup.spawn("flush", self.flush_task)
        self.sup.spawn("prepay", self.prepay.run)
        self.sup.spawn("messages", self.messages.run)
        self.sup.spawn("ota", self.ota.run)
        self.sup.spawn("confirm", self._confirm_firmware)
        await self.quit.wait()

    def shutdown(self):
        # Orderly stop (before a reset into new firmware; Ctrl-C or q on unix): tasks
        # cancelled, pending history to flash, then the board powers its devices down.
        if self._stopped:  # reboot() stops, then the reset unwinds through main()'s finally
            return
        self._stopped = True
        self.sup.cancel_all()
        history = getattr(self, "history", None)  # None: stopped before storage was open
        for fn in (history.flush if history else None, self._board_stopped):
            if fn is None:
                continue
            try:
                fn()
            except Exception as e:
                log.exc("app", e, "at shutdown")

    def _board_stopped(self):
        if self.buzzer is not None:
            self.buzzer.off()
        self.board.stopped(self)


def _runner(fn, arg):
    # A supervisor task factory for fn(arg) (the supervisor restarts a task by calling this).
    return lambda: fn(arg)


def main(board):
    gc.collect()
    app = App(board)
    try:
        asyncio.run(app.run())
    finally:
        if getattr(app, "model", None) is not None:
            app.shutdown()
        asyncio.new_event_loop()
