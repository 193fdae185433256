# A recording stand-in for MicroPython's `machine` module (and the `esp32` / `rp2` modules the
# boards use for flash), so a real board's board.py runs on the unix port: install() puts them
# in sys.modules. Pins keep one level per pin id (as on hardware: Pin(5) twice is one pin);
# inputs with a pull-up read 1 unless a test presses them; a key matrix is simulated by
# press_matrix(row, col) (the column reads 0 while its row is driven low). Buses record what
# the drivers send: SPI writes with the D/C level, I2C writes with the address, UART and PWM
# their settings and duty changes.
import sys

levels = {}  # pin id -> level
modes = {}  # pin id -> mode
_matrix = set()  # (row pin id, col pin id) held down
calls = []  # ("UART", kwargs), ("SPI", id, kwargs), ("I2C", id, kwargs), ("PWM", pin id, ...)
spi_dc = None  # the pin id a test names as the SPI panel's D/C line (command 0 / data 1)


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 2
    IRQ_RISING = 1

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self.init(mode, pull, value=value)

    def init(self, mode=-1, pull=-1, value=None):
        if mode != -1:
            modes[self.id] = mode
        if value is not None:
            levels[self.id] = 1 if value else 0
        elif self.id not in levels:
            levels[self.id] = 1 if pull == Pin.PULL_UP else 0

    def value(self, v=None):
        if v is not None:
            levels[self.id] = 1 if v else 0
            return None
        for r, c in _matrix:
            if c == self.id and levels.get(r, 1) == 0:
                return 0
        return levels.get(self.id, 0)

    def __call__(self, v=None):
        return self.value(v)

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


def press(pin_id, down=True):
    # A button to GND: the input reads 0 while pressed.
    levels[pin_id] = 0 if down else 1


def press_matrix(row, col, down=True):
    if down:
        _matrix.add((row, col))
    else:
        _matrix.discard((row, col))


def _pin_id(p):
    return p.id if isinstance(p, Pin) else p


class SPI:
    def __init__(self, bus_id, baudrate=1_000_000, **kw):
        self.bus_id = bus_id
        self.kw = dict(kw, baudrate=baudrate)
        self.dc = spi_dc
        self.log = []  # (dc level, bytes) for commands, (dc level, length, any non-zero) for data
        calls.append(("SPI", bus_id, self.kw))

    def write(self, buf):
        dc = levels.get(self.dc, 1) if self.dc is not None else 1
        if dc == 0:
            self.log.append((0, bytes(buf)))
        else:
            self.log.append((1, len(buf), any(buf)))


class I2C:
    def __init__(self, bus_id, **kw):
        self.bus_id = bus_id
        self.kw = kw
        self.log = []  # (addr, bytes)
        calls.append(("I2C", bus_id, kw))

    def writeto(self, addr, buf, stop=True):
        self.log.append((addr, bytes(buf)))
        return len(buf)

    def writevto(self, addr, bufs, stop=True):
        self.log.append((addr, b"".join(bytes(b) for b in bufs)))


class UART:
    RTS = 1
    CTS = 2

    def __init__(self, uart_id, **kw):
        self.uart_id = uart_id
        self.kw = kw
        calls.append(("UART", uart_id, kw))

    def write(self, buf):
        return len(buf)

    def read(self, n=-1):
        return None

    def readinto(self, buf):
        return None


class PWM:
    def __init__(self, pin, freq=None, duty_u16=None):
        self.pin = _pin_id(pin)
        self.duties = []  # every duty_u16() set, in order
        self.freqs = []
        if freq is not None:
            self.freq(freq)
        if duty_u16 is not None:
            self.duty_u16(duty_u16)
        calls.append(("PWM", self.pin, self))

    def freq(self, f=None):
        if f is not None:
            self.freqs.append(f)
        return self.freqs[-1] if self.freqs else 0

    def duty_u16(self, d=None):
        if d is not None:
            self.duties.append(d)
        return self.duties[-1] if self.duties else 0


def reset():
    raise SystemExit("machine.reset()")


class _Module:
    pass


def _ram_dev(block_size, count):
    from blockdev import RamBlockDev

    return RamBlockDev(block_size, count)


def install(dc_pin=None):
    # machine, esp32 and rp2 as sys.modules entries (they shadow the unix port's own).
    global spi_dc
    spi_dc = dc_pin
    levels.clear()
    modes.clear()
    _matrix.clear()
    calls.clear()
    m = sys.modules[__name__]
    sys.modules["machine"] = m

    esp32 = _Module()

    class Partition:
        TYPE_APP = 0
        TYPE_DATA = 1
        devs = {}

        @staticmethod
        def find(kind=1, subtype=255, label=None):
            d = Partition.devs.get(label)
            if d is None:
                d = Partition.devs[label] = _ram_dev(4096, 64)  # the "ihd" partition, 256 KB here
            return [d]

    esp32.Partition = Partition
    sys.modules["esp32"] = esp32

    rp2 = _Module()

    def Flash(start=0, len=0x80000):  # noqa: A002 - rp2.Flash's own keyword names
        return _ram_dev(4096, min(len // 4096, 64))

    rp2.Flash = Flash
    sys.modules["rp2"] = rp2


def uninstall():
    for name in ("machine", "esp32", "rp2"):
        sys.modules.pop(name, None)
