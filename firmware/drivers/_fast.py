# Viper helpers for the display drivers (per-pixel copies without allocation). All supported
# boards (ESP32-S3, RP2040, unix x64) have the native emitter.
# MIT license
# ruff: noqa: F821 (viper pointer types ptr8/ptr16 are compiler builtins)
import micropython


# Copy npix RGB565 pixels from src (native little-endian u16, framebuf.RGB565) starting at pixel
# src_px into dst, swapping bytes for a big-endian panel.
@micropython.viper
def swap_copy16(dst: ptr16, src: ptr16, src_px: int, npix: int):
    for i in range(npix):
        v = src[src_px + i]
        dst[i] = ((v >> 8) | (v << 8)) & 0xFFFF


# Copy n bytes from src[src_off:] to dst[dst_off:].
@micropython.viper
def copy8(dst: ptr8, dst_off: int, src: ptr8, src_off: int, n: int):
    for i in range(n):
        dst[dst_off + i] = src[src_off + i]
