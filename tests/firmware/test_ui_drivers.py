# fw: heapsize=1M
# Display drivers on fake buses: init sequences, dirty-rectangle windows, byte order, bytes per
# update, no allocation while pushing, and yielding between bands.
import asyncio

import fwtest
import uifakes


def test_st7789_init_sequence():
    d, spi = uifakes.st7789()
    cmds = [c for c, _ in spi.commands()]
    assert cmds[0] == 0x01  # SWRESET first
    assert (0x3A, b"\x55") in spi.commands()  # RGB565
    assert (0x36, b"\x60") in spi.commands()  # landscape MADCTL
    assert cmds[-1] == 0x29  # display on last
    assert d.width == 320 and d.height == 240


def test_ili9341_variant():
    from drivers.st7789 import ILI9341

    dc = uifakes.FakePin()
    spi = uifakes.RecordingSPI(dc)
    ILI9341(spi, dc, uifakes.FakePin())
    cmds = spi.commands()
    assert (0x36, b"\x28") in cmds
    assert (0xC0, b"\x23") in cmds  # ILI9341 power control
    assert not any(c == 0x21 for c, _ in cmds)  # no inversion on ILI9341


def test_st7789_partial_window_and_byte_order():
    d, spi = uifakes.st7789()
    d.fill(0)
    d.pixel(10, 20, 0xF800)  # red, native LE in the framebuffer
    d.pixel(14, 22, 0x001F)
    spi.log = []
    n = d.show_rect(10, 20, 5, 3)
    cmds = spi.commands()
    # Widened to 8-px columns ending at x=15: columns 7..14, rows 20..22.
    assert cmds[0] == (0x2A, b"\x00\x07\x00\x0e"), cmds[0]
    assert cmds[1] == (0x2B, b"\x00\x14\x00\x16"), cmds[1]
    assert cmds[2][0] == 0x2C
    data = cmds[2][1]
    assert len(data) == 8 * 3 * 2
    # Big-endian on the wire: pixel (10, 20) is column 3 of row 0.
    assert data[6:8] == b"\xf8\x00"
    assert data[2 * (2 * 8 + 7) : 2 * (2 * 8 + 7) + 2] == b"\x00\x1f"
    assert n == 2 * 5 + 1 + 8 * 3 * 2


def test_st7789_full_frame_bytes():
    d, _ = uifakes.st7789()
    spi = uifakes.CountingSPI()
    d.spi = spi
    n = d.show()
    assert n == 320 * 240 * 2 + 11
    assert spi.bytes == n


def test_st7789_show_rect_does_not_allocate():
    d, _ = uifakes.st7789()
    d.spi = uifakes.CountingSPI()
    d.show_rect(3, 5, 100, 40)  # warm up
    with fwtest.HeapLocked():
        d.show_rect(3, 5, 100, 40)
        d.show_rect(300, 200, 20, 40)
        d.show_rect(0, 0, 320, 2)


def test_st7789_show_dirty_yields_between_bands():
    d, _ = uifakes.st7789()
    d.spi = uifakes.CountingSPI()
    ticks = [0]

    async def other():
        while True:
            ticks[0] += 1
            await asyncio.sleep_ms(0)

    async def main():
        t = asyncio.create_task(other())
        await asyncio.sleep_ms(0)
        d.mark(0, 0, 320, 240)
        n = await d.show_dirty()
        t.cancel()
        return n

    n = fwtest.run(main())
    assert n >= 320 * 240 * 2
    assert ticks[0] >= 240 // 24  # the other task ran between every band
    assert d.dirty.n == 0


def test_dirty_merge_and_collapse():
    from drivers.dirty import Dirty

    dd = Dirty(320, 240)
    dd.add(0, 0, 10, 10)
    dd.add(5, 5, 10, 10)  # overlaps -> merged
    assert dd.n == 1 and list(dd.r[0:4]) == [0, 0, 15, 15]
    dd.add(100, 100, 5, 5)
    assert dd.n == 2
    for i in range(20):
        dd.add(20 * i, 200, 3, 3)
    assert 1 <= dd.n <= 8
    dd.add(-5, -5, 1000, 3)  # clipped
    dd.clear()
    dd.add(400, 0, 5, 5)  # fully outside
    assert dd.n == 0


def test_ssd1306_pushes_only_dirty_pages():
    d, i2c = uifakes.ssd1306()
    i2c.log = []
    d.pixel(3, 17, 1)
    n = d.show_rect(3, 17, 1, 1)
    # One page (2), 8 columns: window command (7 bytes) + 0x40 + 8 data bytes.
    assert len(i2c.log) == 2
    assert i2c.log[0][1] == b"\x00\x21\x00\x07\x22\x02\x02"
    assert i2c.log[1][1][0] == 0x40 and len(i2c.log[1][1]) == 9
    assert i2c.log[1][1][1 + 3] == 0x02  # bit 1 of page 2 = row 17
    assert n == 16


def test_ssd1306_full_and_no_alloc():
    d, i2c = uifakes.ssd1306(record=False)
    assert d.show() == 8 * (7 + 129)
    d.show_rect(0, 0, 50, 20)
    with fwtest.HeapLocked():
        d.show_rect(0, 0, 50, 20)
        d.show_rect(120, 60, 8, 4)


def test_ssd1306_show_dirty():
    d, i2c = uifakes.ssd1306(record=False)
    d.mark(10, 10, 20, 20)  # pages 1..3, columns 8..31
    n = fwtest.run(d.show_dirty())
    assert n == 3 * (7 + 1 + 24)
