# Raspberry Pi Pico (RP2040) + 0.96" SSD1306 128x64 I2C OLED + 4 buttons + buzzer +
# EFR32MG24 NCP (EmberZNet NCP-UART firmware) on UART0 with RTS/CTS.
# The only module that knows pins. Wiring table: boards/pico_ssd1306/README.md.
from machine import I2C, UART, Pin

# Board contract (docs/boards.md): constants, then storage, NCP, devices, reset.
NAME = "pico_ssd1306"
CAPS = ("display", "buttons", "buzzer")  # no keypad: UTRN digits are entered with the buttons
HW_VERSION = 0x0100  # OTA hardware version: 1.0
STATUS_PERIOD_S = 60
STATUS_KEY = "hold OK"  # what opens the Status screen, as the footer names it (select held)
METERS = None  # bindings come from discovery (docs/joining.md)
INSTALL_CODE = None  # provisioned to flash at the factory, not in code
OTA_KEYS_FILE = None  # OTA signing keys: only those frozen in ihd/ota/trust.py

_NCP_TX, _NCP_RX, _NCP_CTS, _NCP_RTS = 0, 1, 2, 3  # UART0 pins
_NCP_RESET = 6
_I2C_SDA, _I2C_SCL = 4, 5  # I2C0
OLED_ADDR = 0x3C
BUTTON_PINS = (10, 11, 12, 13)  # prev, next, select, back; to GND, internal pull-ups
BUZZER_PIN = 15
# Flash: the top 512 KB of the 2 MB flash, outside MicroPython's own filesystem (build the
# firmware with MICROPY_HW_FLASH_STORAGE_BYTES reduced by 512 KB; README): littlefs at /flash
# plus the raw history-key region in its last 2 erase blocks.
FLASH_START = 0x180000
FLASH_LEN = 0x80000


async def open_ncp():
    import asyncio

    rst = Pin(_NCP_RESET, Pin.OUT, value=0)
    await asyncio.sleep_ms(10)
    rst.value(1)
    uart = UART(
        0,
        baudrate=115200,
        tx=Pin(_NCP_TX),
        rx=Pin(_NCP_RX),
        cts=Pin(_NCP_CTS),
        rts=Pin(_NCP_RTS),
        flow=UART.RTS | UART.CTS,
        rxbuf=1024,
        timeout=0,
    )
    return asyncio.StreamReader(uart), asyncio.StreamWriter(uart, {})


_storage = None


def storage():
    global _storage
    if _storage is None:
        import rp2
        from ihd.runtime import storage as st

        dev = rp2.Flash(start=FLASH_START, len=FLASH_LEN)
        _storage = (st.mount(dev, "/flash"), dev)
    return _storage


def flash_root():
    storage()
    return "/flash"


def reset():
    import machine

    machine.reset()


def panels():
    from drivers.ssd1306 import SSD1306

    i2c = I2C(0, sda=Pin(_I2C_SDA), scl=Pin(_I2C_SCL), freq=400_000)
    return (SSD1306(i2c, addr=OLED_ADDR, width=128, height=64),)


def inputs():
    from ihd.ui.input import Buttons

    return (Buttons([Pin(p, Pin.IN, Pin.PULL_UP) for p in BUTTON_PINS]),)


def buzzer():
    from drivers.buzzer import Buzzer
    from machine import PWM

    return Buzzer(PWM(Pin(BUZZER_PIN)))


def stopped(app):
    # Before a reset into new firmware: the panel off (the buzzer is already off).
    for p in app.panels:
        p.backlight(0)


def fatal(e):
    import time

    import machine

    time.sleep(5)
    machine.reset()
