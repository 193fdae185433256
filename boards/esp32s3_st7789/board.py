# ESP32-S3-DevKitC-1 (N8R2) + Waveshare 2inch LCD (ST7789V, 320x240 landscape) + 4 buttons +
# 3x4 matrix keypad + EFR32MG24 NCP (EmberZNet NCP-UART firmware) on UART1 with RTS/CTS.
# The only module that knows pins. Wiring table: boards/esp32s3_st7789/README.md.
from machine import SPI, UART, Pin

# Board contract (docs/boards.md): constants, then storage, NCP, devices, reset.
NAME = "esp32s3_st7789"
CAPS = ("display", "buttons", "keypad", "buzzer")
HW_VERSION = 0x0100  # OTA hardware version: 1.0
STATUS_PERIOD_S = 60
STATUS_KEY = "hold OK"  # what opens the Status screen, as the footer names it (select held)
METERS = None  # bindings come from discovery (docs/joining.md)
INSTALL_CODE = None  # provisioned to flash at the factory, not in code
OTA_KEYS_FILE = None  # OTA signing keys: only those frozen in ihd/ota/trust.py

# NCP UART (ASH: 115200 8N1, hardware flow control)
_NCP_UART = 1
_NCP_TX, _NCP_RX, _NCP_RTS, _NCP_CTS = 17, 18, 15, 16
_NCP_RESET = 8  # NCP nRESET, active low
# Display SPI
_LCD_SCK, _LCD_MOSI, _LCD_CS, _LCD_DC, _LCD_RST, _LCD_BL = 12, 11, 10, 9, 14, 13
# Buttons to GND with internal pull-ups: prev, next, select, back
BUTTON_PINS = (4, 5, 6, 7)
# 3x4 keypad (Adafruit 3845): rows drive, columns read with pull-ups
KEYPAD_ROWS = (38, 39, 40, 41)
KEYPAD_COLS = (42, 2, 1)
BUZZER_PIN = 21
# Flash: a dedicated "ihd" data partition (partitions-ihd.csv, README): littlefs at /flash plus
# the raw history-key region in its last 2 erase blocks, apart from MicroPython's own "vfs".
FLASH_PARTITION = "ihd"


async def open_ncp():
    import asyncio

    rst = Pin(_NCP_RESET, Pin.OUT, value=0)  # pulse the NCP reset so ASH starts clean
    await asyncio.sleep_ms(10)
    rst.value(1)
    uart = UART(
        _NCP_UART,
        baudrate=115200,
        tx=_NCP_TX,
        rx=_NCP_RX,
        rts=_NCP_RTS,
        cts=_NCP_CTS,
        flow=UART.RTS | UART.CTS,
        rxbuf=1024,
        timeout=0,
    )
    return asyncio.StreamReader(uart), asyncio.StreamWriter(uart, {})


_storage = None


def storage():
    # -> (Storage, block device), mounted at /flash once.
    global _storage
    if _storage is None:
        import esp32
        from ihd.runtime import storage as st

        dev = esp32.Partition.find(esp32.Partition.TYPE_DATA, label=FLASH_PARTITION)[0]
        _storage = (st.mount(dev, "/flash"), dev)
    return _storage


def flash_root():
    storage()
    return "/flash"


def reset():
    import machine

    machine.reset()


def panels():
    from drivers.st7789 import ST7789

    spi = SPI(1, baudrate=40_000_000, sck=Pin(_LCD_SCK), mosi=Pin(_LCD_MOSI))
    lcd = ST7789(
        spi,
        cs=Pin(_LCD_CS, Pin.OUT, value=1),
        dc=Pin(_LCD_DC, Pin.OUT),
        rst=Pin(_LCD_RST, Pin.OUT),
        bl=Pin(_LCD_BL, Pin.OUT),
        width=320,
        height=240,
    )
    return (lcd,)


def inputs():
    from ihd.ui.input import Buttons, Keypad

    buttons = Buttons([Pin(p, Pin.IN, Pin.PULL_UP) for p in BUTTON_PINS])
    rows = [Pin(p, Pin.OUT, value=1) for p in KEYPAD_ROWS]
    cols = [Pin(p, Pin.IN, Pin.PULL_UP) for p in KEYPAD_COLS]
    return (buttons, Keypad(rows, cols))


def buzzer():
    from drivers.buzzer import Buzzer
    from machine import PWM

    return Buzzer(PWM(Pin(BUZZER_PIN), freq=2700, duty_u16=0))


def stopped(app):
    # Before a reset into new firmware: the panel dark (the buzzer is already off).
    for p in app.panels:
        p.backlight(0)


def fatal(e):
    import time

    import machine

    time.sleep(5)  # leave the traceback readable on the console, then start over
    machine.reset()
