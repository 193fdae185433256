# Fake buses and pins for the display driver tests (unix port has no machine.SPI/I2C/Pin).
class FakePin:
    OUT = 1
    IN = 0

    def __init__(self, v=1):
        self.v = v

    def init(self, *a, **k):
        pass

    def value(self, v=None):
        if v is None:
            return self.v
        self.v = v

    def __call__(self, v=None):
        return self.value(v)


class CountingSPI:
    # Counts bytes and writes without keeping them (allocation-free).
    def __init__(self):
        self.bytes = 0
        self.writes = 0

    def write(self, buf):
        self.bytes += len(buf)
        self.writes += 1


class RecordingSPI:
    # Records (dc level, bytes) per write.
    def __init__(self, dc):
        self.dc = dc
        self.log = []

    def write(self, buf):
        self.log.append((self.dc.v, bytes(buf)))

    def commands(self):
        # -> list of (cmd, data bytes) reassembled from dc=0 / dc=1 writes.
        out = []
        for dc, b in self.log:
            if dc == 0:
                out.append([b[0], b""])
            else:
                out[-1][1] += b
        return [(c, d) for c, d in out]


class FakeI2C:
    def __init__(self, record=True):
        self.record = record
        self.log = []
        self.bytes = 0

    def writeto(self, addr, buf, stop=True):
        self.bytes += len(buf)
        if self.record:
            self.log.append((addr, bytes(buf)))

    def writevto(self, addr, bufs, stop=True):
        for b in bufs:
            self.writeto(addr, b)


def st7789(spi=None, **kw):
    from drivers import st7789 as mod

    dc = FakePin()
    spi = spi if spi is not None else RecordingSPI(dc)
    if isinstance(spi, RecordingSPI):
        spi.dc = dc
    return mod.ST7789(spi, dc, FakePin(), FakePin(), **kw), spi


def ssd1306(record=True):
    from drivers.ssd1306 import SSD1306

    i2c = FakeI2C(record)
    return SSD1306(i2c), i2c
