# Raspberry Pi Pico (RP2040) + 0.96" SSD1306 128x64 I2C OLED + 4 buttons + buzzer +
# EFR32MG24 NCP (EmberZNet NCP-UART firmware) on UART0 with RTS/CTS.
# The only module that knows pins. Wiring table: boards/pico_ssd1306/README.md.
from machine import I2C, UART, Pin

NAME = "pico_ssd1306"
STATUS_PERIOD_S = 60

_NCP_TX, _NCP_RX, _NCP_CTS, _NCP_RTS = 0, 1, 2, 3  # UART0 pins
_NCP_RESET = 6
_I2C_SDA, _I2C_SCL = 4, 5  # I2C0
OLED_ADDR = 0x3C
BUTTON_PINS = (10, 11, 12, 13)  # prev, next, select, back; to GND, internal pull-ups
BUZZER_PIN = 15
KEYPAD_ROWS = ()  # no keypad on this board: UTRN digits are entered with the buttons
KEYPAD_COLS = ()
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


def display():
    from drivers.ssd1306 import SSD1306_I2C

    i2c = I2C(0, sda=Pin(_I2C_SDA), scl=Pin(_I2C_SCL), freq=400_000)
    return SSD1306_I2C(128, 64, i2c, addr=OLED_ADDR)


def buttons():
    return [Pin(p, Pin.IN, Pin.PULL_UP) for p in BUTTON_PINS]


def keypad_pins():
    return None


def buzzer():
    from machine import PWM

    pwm = PWM(Pin(BUZZER_PIN))
    pwm.freq(2700)
    pwm.duty_u16(0)
    return pwm


def fatal(e):
    import time

    import machine

    time.sleep(5)
    machine.reset()
