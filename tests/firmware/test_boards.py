# fw: heapsize=2M
# The board contract (docs/boards.md) on every board: each real board's board.py runs on the
# unix port against a recording fake `machine` (tests/firmware/fakemachine.py), through the
# app's own bring-up (App.open_devices, open_storage, build_model, start_ui, build_prepay):
# the ST7789 gets its init sequence and a first frame, the SSD1306 its init and a frame, a
# button press (and a keypad key) reaches the UI as a key event, and the buzzer sounds on a
# low-credit alert. The unix board implements the same contract.
import asyncio
import sys

import fakemachine as FM

# Every name a board module must provide (docs/boards.md "The contract").
CONTRACT_CONSTANTS = ("NAME", "CAPS", "HW_VERSION", "STATUS_PERIOD_S", "METERS", "INSTALL_CODE",
                      "OTA_KEYS_FILE", "STATUS_KEY")  # fmt: skip
CONTRACT_FUNCTIONS = ("storage", "flash_root", "open_ncp", "panels", "inputs", "buzzer",
                      "reset", "fatal", "stopped")  # fmt: skip
_CAPS = ("display", "buttons", "keypad", "buzzer")
_BOARDS = "boards"


def _load(name, dc_pin=None):
    # A fresh `board` module from boards/<name>/board.py with the fake machine installed.
    FM.install(dc_pin)
    sys.modules.pop("board", None)
    path = _BOARDS + "/" + name
    sys.path.insert(0, path)
    try:
        import board
    finally:
        sys.path.remove(path)
    return board


def _unload():
    import vfs

    try:
        vfs.umount("/flash")  # the next board mounts its own
    except OSError:
        pass
    sys.modules.pop("board", None)
    FM.uninstall()


def _check_contract(b):
    for n in CONTRACT_CONSTANTS + CONTRACT_FUNCTIONS:
        assert hasattr(b, n), "%s lacks %s" % (b.NAME, n)
    assert isinstance(b.NAME, str) and b.NAME
    for c in b.CAPS:
        assert c in _CAPS, c


class _Zcl:
    # Just enough of zcl.client for the prepayment service: attribute reports and reads.
    def __init__(self):
        self.report_fns = []
        self.attrs = {0x0000: 0x0497, 0x0001: 2_000_000, 0x0002: 0, 0x0003: 0x01, 0x0005: 0,
                      0x0010: 500_000, 0x0011: 250_000, 0x0031: 300_000, 0x0502: 0,
                      0x0503: 826}  # fmt: skip

    def on_report(self, cluster, fn):
        self.report_fns.append(fn)

    async def read_attributes(self, node, ep, cluster, ids, **kw):
        return {a: self.attrs[a] for a in ids if a in self.attrs}

    async def configure_reporting(self, *a, **kw):
        return [(0, None, None)]


class _Frame:
    def __init__(self, node, ep):
        self.node, self.src_ep, self.secured = node, ep, True


class _Tenancy:
    def __init__(self):
        from ihd.runtime.events import Signal

        self.clearing = Signal("tenancy")


def _bring_up(board):
    # The app's own bring-up, up to the UI and the prepayment service (no NCP link).
    from ihd.app import App
    from ihd.meters.registry import Meter, Registry
    from ihd.runtime import clock

    clock.reset()
    app = App(board)
    app.open_devices()
    app.open_storage()
    app.build_model()
    app.start_ui()
    app.zcl = _Zcl()
    app.registry = Registry()
    app.registry.bind(Meter("elec", 0x1234, 1))
    app.tenancy = _Tenancy()
    app.build_prepay()
    return app


async def _sleep_ms(ms):
    await asyncio.sleep_ms(ms)


def _run(coro):
    asyncio.run(coro)


def _low_credit(app):
    # Credit read, then reported falling below the low-credit level (£3): one alert.
    async def go():
        await app.prepay.refresh("elec")
        for credit in (400_000, 290_000):
            for fn in app.zcl.report_fns:
                fn(_Frame(0x1234, 1), 0x0001, credit)
        await asyncio.sleep_ms(900)  # the pattern plays in the background

    _run(go())


def _buzzer_pwm(pin_id):
    for c in FM.calls:
        if c[0] == "PWM" and c[1] == pin_id:
            return c[2]
    raise AssertionError("no PWM on pin %d" % pin_id)


def _press_button(app, pin_id):
    # A short press on a button input, with the board's first input source and the UI running.
    async def go():
        app.sup.spawn("input0", lambda: app.sources[0].run(app.inputs))
        app.sup.spawn("ui", app.uis[0].run)
        await asyncio.sleep_ms(60)
        FM.press(pin_id)
        await asyncio.sleep_ms(80)
        FM.press(pin_id, False)
        await asyncio.sleep_ms(80)
        app.sup.cancel_all()
        await asyncio.sleep_ms(0)

    _run(go())


def _ui_loop(app, ms):
    async def go():
        for ui in app.uis:
            ui.ch.wake.set()
        await asyncio.sleep_ms(ms)
        app.sup.cancel_all()
        await asyncio.sleep_ms(0)

    _run(go())


def test_every_board_implements_the_contract():
    for name in ("esp32s3_st7789", "pico_ssd1306"):
        b = _load(name)
        try:
            _check_contract(b)
        finally:
            _unload()
    import board as unix_board  # boards/unix is on the unix port's path

    _check_contract(unix_board)


def test_esp32s3_panel_init_first_frame_keys_and_buzzer():
    b = _load("esp32s3_st7789", dc_pin=9)  # _LCD_DC
    try:
        assert b.CAPS == ("display", "buttons", "keypad", "buzzer")
        app = _bring_up(b)
        (lcd,) = app.panels
        log = lcd.spi.log
        cmds = [w[1] for w in log if w[0] == 0]
        # Power-on: SWRESET, SLPOUT, COLMOD 16 bit, INVON, NORON, then MADCTL landscape.
        assert cmds[:5] == [b"\x01", b"\x11", b"\x3a", b"\x21", b"\x13"], cmds[:6]
        assert b"\x36" in cmds and b"\x29" in cmds  # MADCTL, DISPON
        data = [w for w in log if w[0] == 1]
        assert (1, 1, True) in data  # COLMOD's 0x55
        init_pixels = sum(w[1] for w in data if w[1] > 2)
        assert init_pixels >= 320 * 240 * 2  # the cleared frame, pushed before DISPON
        n_init = len(log)
        assert FM.levels[13] == 1  # backlight on
        # First frame from the UI loop: pixels that are not all background.
        _ui_loop(app, 300)
        frame = [w for w in log[n_init:] if w[0] == 1]
        assert sum(w[1] for w in frame) >= 320 * 240 * 2 // 2, len(frame)
        assert any(w[2] for w in frame)
        assert app.uis[0].frames >= 1
        # A button press (next, GPIO5) reaches the UI as a key event: the screen moves on.
        start = app.uis[0].cur.name

        _press_button(app, 5)
        assert app.uis[0].cur.name != start, app.uis[0].cur.name
        # The keypad: '#' held (row GPIO41, column GPIO1) is the keypad's way to Status.

        async def hold_hash():
            app.sup.spawn("input1", lambda: app.sources[1].run(app.inputs))
            app.sup.spawn("ui", app.uis[0].run)
            FM.press_matrix(41, 1)
            await asyncio.sleep_ms(1700)
            FM.press_matrix(41, 1, False)
            await asyncio.sleep_ms(60)
            app.sup.cancel_all()
            await asyncio.sleep_ms(0)

        _run(hold_hash())
        assert app.uis[0].cur.name == "status", app.uis[0].cur.name
        # The buzzer (PWM on GPIO21, 2.7 kHz) sounds once on a low-credit alert.
        pwm = _buzzer_pwm(21)
        assert pwm.freqs[-1] == 2700 and pwm.duty_u16() == 0
        _low_credit(app)
        assert app.buzzer.beeps == 1
        assert max(pwm.duties) > 0 and pwm.duties[-1] == 0
        # The NCP UART: 115200 with RTS/CTS flow control, after a reset pulse.

        async def ncp():
            return await b.open_ncp()

        asyncio.run(ncp())
        uart = [c for c in FM.calls if c[0] == "UART"][-1]
        assert uart[1] == 1 and uart[2]["baudrate"] == 115200
        assert uart[2]["flow"] == FM.UART.RTS | FM.UART.CTS
        assert FM.levels[8] == 1  # NCP nRESET released
        b.stopped(app)
        assert FM.levels[13] == 0  # backlight off before a reset
    finally:
        _unload()


def test_pico_panel_init_frame_buttons_and_buzzer():
    b = _load("pico_ssd1306")
    try:
        assert "keypad" not in b.CAPS
        app = _bring_up(b)
        (oled,) = app.panels
        log = oled.i2c.log
        assert all(w[0] == 0x3C for w in log)
        cmds = [w[1][1] for w in log if w[1][0] == 0x80]
        # Display off first, charge pump on (0x8D 0x14), display on (0xAF) at the end of init.
        assert cmds[0] == 0xAE and 0x8D in cmds and 0x14 in cmds and 0xAF in cmds
        frame = [w[1] for w in log if w[1][0] == 0x40]
        assert sum(len(f) - 1 for f in frame) >= 128 * 64 // 8  # the cleared frame
        n_init = len(log)
        _ui_loop(app, 300)
        frame = [w[1] for w in log[n_init:] if w[1][0] == 0x40]
        assert frame and any(any(f[1:]) for f in frame)  # the UI drew something
        i2c = [c for c in FM.calls if c[0] == "I2C"][-1]
        assert i2c[2]["freq"] == 400_000
        # Button "next" (GP11) moves the screen on.
        assert len(app.sources) == 1
        start = app.uis[0].cur.name

        _press_button(app, 11)
        assert app.uis[0].cur.name != start
        pwm = _buzzer_pwm(15)
        _low_credit(app)
        assert app.buzzer.beeps == 1 and max(pwm.duties) > 0 and pwm.duties[-1] == 0
    finally:
        _unload()
