# Unix port "board": implements the board contract (docs/boards.md) for the MicroPython unix
# port, the only module that knows how it reaches its peripherals.
#   IHD_NCP=tcp:HOST:PORT   NCP UART = TCP to hansim (loopback)
#   IHD_FLASH=path          flash = littlefs image file (created erased if missing)
#   IHD_DISPLAY=term|dump:DIR|none   terminal rendering, frame dumps at shutdown, or headless
#   IHD_PANELS=colour|mono|both      which panels: colour 320x240 (the ESP32-S3 board's), mono
#                           128x64 (the Pico's), both (frame dumps of every screen at both sizes;
#                           the default for dump:, colour the default for term)
#   IHD_TIME_SCALE=N        simulated seconds per real second (hansim --speed)
#   IHD_METERS=elec:0x1234:1,gas:0x2B7A:1   bound meters (until discovery persists them)
#   IHD_LOG=path            also append the log to this file
#   IHD_INSTALL_CODE=hex    Zigbee install code provisioned to flash on first boot
#   IHD_KEYS_FIFO=path      key injection (tests): lines appended to this file are key presses
#   IHD_CONFIG_JSON={"ota_query_s": 60}   config defaults overridden (tests: short periods)
#   IHD_STATE=path          the device's view written as JSON at an orderly stop (system tests)
#   IHD_OTA_KEYS=path       PEM public keys trusted for signed OTA images (docs/ota.md "Trust")
import os
import sys

FLASH_BLOCK_SIZE = 4096
FLASH_BLOCKS = 512  # 2 MB, as the RP2040 Pico


def env(name, default=None):
    v = os.getenv(name)
    return v if v else default


_DISPLAY = env("IHD_DISPLAY", "none")
_PANELS = env("IHD_PANELS", "both" if _DISPLAY.startswith("dump:") else "colour")
if _DISPLAY != "none" and _DISPLAY != "term" and not _DISPLAY.startswith("dump:"):
    raise ValueError("IHD_DISPLAY must be term, dump:DIR or none")
if _PANELS not in ("colour", "mono", "both"):
    raise ValueError("IHD_PANELS must be colour, mono or both")

NAME = "unix"
# The mono configuration is the Pico's: buttons only. (Test key injection can still type digits.)
CAPS = ("display", "buttons", "buzzer") if _PANELS == "mono" else (
    "display", "buttons", "keypad", "buzzer")  # fmt: skip
HW_VERSION = 0x0100
STATUS_PERIOD_S = 10
STATUS_KEY = "s"  # the terminal key that opens the Status screen (keys.py: long select)
METERS = env("IHD_METERS")
INSTALL_CODE = env("IHD_INSTALL_CODE")  # factory provisioning (docs/joining.md)
# Besides the firmware's own keys; the simulator and the tests name theirs (a host path).
OTA_KEYS_FILE = env("IHD_OTA_KEYS", "/flash/ota_keys.pem")
TIME_SCALE = int(env("IHD_TIME_SCALE", "1"))
_log_path = env("IHD_LOG")
_log_file = open(_log_path, "a") if _log_path else None  # noqa: SIM115 - process lifetime


def _to_file(line):
    if _log_file is not None:  # the sink is set only then
        _log_file.write(line + "\n")
        _log_file.flush()


def _hook_runtime():
    # Log sink, time scale and config overrides on the `ihd.runtime` modules now in
    # sys.modules: again after the OTA boot selector dropped the factory ones to import the app
    # from a slot (the app asks for storage after that, before anything else reads them).
    from ihd.runtime import clock

    clock.set_scale(TIME_SCALE)
    if _log_file is not None:
        from ihd.runtime import log

        log.set_sink(_to_file)
    over = env("IHD_CONFIG_JSON")
    if over:
        import json

        from ihd.runtime import config

        config.DEFAULTS.update(json.loads(over))


_hook_runtime()


async def open_ncp():
    # -> (reader, writer) asyncio streams to the NCP.
    import asyncio

    spec = env("IHD_NCP", "tcp:127.0.0.1:6638")
    kind, _, addr = spec.partition(":")
    if kind != "tcp":
        raise ValueError("unix board supports IHD_NCP=tcp:HOST:PORT only")
    host, _, port = addr.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:  # TCP_NODELAY: a UART has no Nagle delay; without it each ASH ACK can wait ~40 ms
        # IPPROTO_TCP, TCP_NODELAY (Linux values). The ignore: MicroPython's asyncio.Stream keeps
        # its socket as .s; the stubs' StreamWriter does not have it.
        writer.s.setsockopt(6, 1, 1)  # pyright: ignore[reportAttributeAccessIssue]
    except (AttributeError, OSError):
        pass
    return reader, writer


_storage = None


def storage():
    # -> (Storage, block device); littlefs on the image file mounted at /flash, once.
    global _storage
    if _storage is None:
        from blockdev import FileBlockDev
        from ihd.runtime import storage as st

        dev = FileBlockDev(env("IHD_FLASH", "flash.img"), FLASH_BLOCK_SIZE, FLASH_BLOCKS)
        _storage = (st.mount(dev, "/flash"), dev)
    _hook_runtime()  # the app asks for storage after the slot is selected, before its config
    return _storage


def flash_root():
    # Where OTA slots live; mounted before the boot selector looks at it.
    storage()
    return "/flash"


def reset():
    # "Reboot": the process exits with 3 and whoever runs it (host_tools.run/simulate)
    # starts it again, as a board's reset would.
    sys.exit(3)


def fatal(e):
    sys.exit(1)


_term = None  # the terminal panel, restored at the stop


def panels():
    # IHD_DISPLAY=term: one panel drawn in this terminal; dump:DIR: ST7789 and/or SSD1306
    # drivers on null buses (IHD_PANELS), every screen dumped at the stop; none: headless.
    global _term
    if _DISPLAY == "none":
        return ()
    if _DISPLAY == "term":
        from ihd.runtime import log
        from term import TermPanel

        log.console = False  # the terminal is the display; the log goes to IHD_LOG only
        _term = TermPanel(128, 64, mono=True) if _PANELS == "mono" else TermPanel(320, 240)
        _term.clear_screen()  # (scaled down: the line under the screen says the size needed)
        if _term.scale > 1:
            log.info("board", "terminal too small for full size: %s", _term.size_note())
        return (_term,)
    import framedump

    return framedump.make_panels(_PANELS)


def inputs():
    # The terminal's keys (term) and the test key file (IHD_KEYS_FIFO), as input sources.
    import keys

    out = [keys.Terminal()] if _DISPLAY == "term" else []  # type: list
    path = env("IHD_KEYS_FIFO")
    if path:
        out.append(keys.KeyFile(path))
    return out


class _TermBuzzer:
    # Buzzer stand-in: the terminal bell and a log line per alert (system tests count them).
    def __init__(self):
        self.beeps = 0

    def alert(self, meter, kind):
        self.beeps += 1
        sys.stdout.write("\a")
        from ihd.runtime import log

        log.info("board", "beep: %s %s", meter, kind)

    def off(self):
        pass


_buzzer = _TermBuzzer()


def buzzer():
    return _buzzer


def stopped(app):
    # The app stopped in order: restore the terminal, then (system tests) write the device's
    # view and every screen of every panel.
    if _term is not None:
        _term.restore()
    dump_state(app)
    if _DISPLAY.startswith("dump:"):
        _dump_frames(app, _DISPLAY[5:])


def _dump_frames(app, outdir):
    import framedump

    try:
        os.mkdir(outdir)
    except OSError:
        pass
    for ui in app.uis:
        # The screen shown at the end as it is, then every screen.
        size = "%dx%d" % (ui.panel.width, ui.panel.height)
        ui.step()
        framedump.dump(ui.panel, "%s/%s_current.fb" % (outdir, size))
        for s in ui.screens:
            ui.go(s.name)
            ui.step()
            framedump.dump(ui.panel, "%s/%s_%s.fb" % (outdir, size, s.name))


def _messages_state(app):
    # Every stored message (shown or not yet / no longer) and which ones the screens show.
    m = app.model
    shown = [x.id for x in m.view_messages()]
    return [{"id": x.id, "text": x.text, "start": x.time_utc, "end": x.end_utc,
             "control": x.control, "flags": x.flags, "shown": x.id in shown}
            for x in m.messages]  # fmt: skip


def _prepay_state(app):
    svc = getattr(app, "prepay", None)
    if svc is None:
        return None
    m = app.model
    out = {"beeps": _buzzer.beeps, "alerts": svc.alerts(), "lock_s": svc.lock_remaining_s()}
    for name, f in (("elec", m.elec), ("gas", m.gas)):
        p = m.view_prepay(f.id)
        out[name] = {
            "mode": f.mode,
            "credit_mp": p[0] if p else None,
            "ec_mp": p[1] if p else None,
            "debt_mp": p[2] if p else None,
            "ec_in_use": f.ec_in_use,
            "low_credit": f.low_credit,
            "ec_offer": svc.ec_offer(name),
            "pending": svc.pending(name) is not None,
        }
    r = m.prepay_last
    if r is not None:
        out["last"] = {"code": r.code, "text": r.text(), "fuel": r.fuel, "credit_mp": r.credit_mp,
                       "amount_mp": r.amount_mp, "ec_mp": r.ec_mp, "lock_s": r.lock_s,
                       "maybe_applied": r.maybe_applied}  # fmt: skip
    out["log"] = [list(e) for e in svc.top_up_log()]
    return out


def _fw_state(app):
    import ihd

    fw = {"version": ihd.VERSION, "file_version": ihd.FILE_VERSION, "module": ihd.__file__}
    slots = getattr(app, "slots", None)
    if slots is not None:
        rec = slots.record()
        fw.update(slot=rec.active, trial=rec.state, rejected=slots.rejected_version())
    return fw


def _ncp_state(app):
    ncp = getattr(app, "ncp", None)  # None: stopped before the stack was built
    st = ncp.status() if ncp else None
    if st and st.get("eui64"):
        st["eui64"] = "".join("%02x" % b for b in st["eui64"])
    return st


def _fuel_state(m, f):
    return {
        "demand_w": m.view_demand(f.id),
        "today": m.view_today(f.id),
        "reading_utc": m.view_reading_utc(f.id),
        "visible_from": f.visible_from_utc,
        "unit_rate_mp_kwh": f.unit_rate_mp_kwh,
        "standing_mp_day": f.standing_mp_day,
        "tier": f.tier,
        "tier_label": f.tier_label,
        "next_rate_mp_kwh": f.next_rate_mp_kwh,
        "next_rate_utc": f.next_rate_utc,
        # copies: a history view's rows are shared by the fuels (history/view.py)
        "history": {str(p): [list(r) for r in m.history(f.id, p)] for p in (0, 1, 2, 3)},
        # electricity only: exported today and per period (None: the home does not export)
        "export": [m.view_export_today()] + [m.view_export(p) for p in (0, 1, 2, 3)]
        if f.id == 0
        else None,
    }


def _meters_state(app):
    meters = {}
    svc = getattr(app, "meters", None)
    if svc is not None:
        for name, st in svc.states.items():
            meters[name] = {
                "summ_milli": st.summ_milli,
                "summ_utc": st.summ_utc,
                "export_milli": st.x_milli,
                "export_utc": st.x_utc,
                "export_state": st.x_state,
                "unit": st.fmt.unit if st.fmt else None,
                "divisor": st.fmt.divisor if st.fmt else None,
            }
    return meters


def _status_state(m):
    # The Status screen as text (its rows, as drawn on 320x240) and the model fields behind it.
    from ihd.ui import fmt
    from ihd.ui.screens import status_rows

    return {
        "screen": [list(r) for r in status_rows(m)],
        "link": m.link,
        "channel": m.channel,
        "pan_id": m.pan_id,
        "node_id": m.node_id,
        "eui64": fmt.hex_eui64(m.eui64),
        "ncp_resets": m.ncp_resets,
        "lqi": {f.fuel.key: f.lqi for f in m.fuels},
        "tenancy_event": m.tenancy_event,
    }


def _write_counters(f):
    # Streamed (no snapshot() dict: at the end of a run in a board-sized heap there may be no
    # room for it).
    from ihd.runtime import counters

    sep = ""
    for c in counters._registry:
        for k, v in c.items():
            f.write('%s"%s.%s": %d' % (sep, c.component, k, v))
            sep = ", "


def dump_state(app):
    # IHD_STATE=path: the device's view at shutdown, as JSON, for system tests. Written one
    # section at a time, each built only when written: this runs inside the board's RAM budget
    # (tests/system/test_budget_system.py), after a day of fragmentation.
    path = env("IHD_STATE")
    if not path:
        return
    import gc
    import json

    from ihd.runtime import clock

    m = app.model
    tenancy = getattr(app, "tenancy", None)

    def value(fn):
        return lambda f: json.dump(fn(), f)

    def fuels(f):
        f.write('{"elec": ')
        json.dump(_fuel_state(m, m.elec), f)
        gc.collect()
        f.write(', "gas": ')
        json.dump(_fuel_state(m, m.gas), f)
        f.write("}")

    def counters(f):
        f.write("{")
        _write_counters(f)
        f.write("}")

    sections = (
        ("fw", value(lambda: _fw_state(app))),
        ("utc", value(clock.now)),
        ("synced", value(clock.synced)),
        ("ncp", value(lambda: _ncp_state(app))),
        ("fuels", fuels),
        ("meters", value(lambda: _meters_state(app))),
        ("ambient", value(lambda: m.ambient)),
        ("status", value(lambda: _status_state(m))),
        ("tenancy_last", value(lambda: tenancy.last_event if tenancy else None)),
        ("tenancy_audit", value(lambda: tenancy.state.audit if tenancy else None)),
        ("counters", counters),
        ("heap", value(lambda: {"peak": app.heap_peak, "live_peak": app.heap_live_peak})),
        ("tasks", value(app.sup.status)),
        ("prepay", value(lambda: _prepay_state(app))),
        ("messages", value(lambda: _messages_state(app))),
    )
    gc.collect()
    with open(path, "w") as f:
        f.write("{")
        for i, (key, write) in enumerate(sections):
            f.write('%s"%s": ' % (", " if i else "", key))
            write(f)
            gc.collect()
        f.write("}")
