# Firmware update (docs/ota.md): Zigbee OTA Upgrade client (client.py), streaming file check
# (image.py), application bundle (bundle.py), A/B slots with trial boots and rollback (slots.py,
# boot.py), local update (local.py). The identity below is what the OTA header must carry.
from micropython import const

# Manufacturer code: 0xFFF1 is the first of the CSA test vendor codes (0xFFF1-0xFFF4), assigned
# to no manufacturer; a product build replaces it with its CSA-assigned code (host and device
# read it from here and host_tools/ota).
MANUFACTURER_CODE = const(0xFFF1)
# Image type, one per board (0x0000-0xFFBF is manufacturer-specific): the bundle carries .mpy
# compiled for the board's architecture, so a file for one board must never reach another.
IMAGE_TYPES = {"unix": 0x0100, "esp32s3_st7789": 0x0101, "pico_ssd1306": 0x0102}
DEFAULT_IMAGE_TYPE = const(0x0100)
# Hardware version (high byte version, low byte revision) of a board object that is not a
# board module (tests); checked against the header's min/max range (field control bit 2).
DEFAULT_HW_VERSION = const(0x0100)
STACK_VERSION = const(0x0002)  # ZigBee PRO


def image_type(board):
    return IMAGE_TYPES.get(getattr(board, "NAME", ""), DEFAULT_IMAGE_TYPE)


def hw_version(board):
    return getattr(board, "HW_VERSION", DEFAULT_HW_VERSION)


def running_version():
    # The file version of the code actually running (ihd/__init__.py of the active slot).
    import ihd

    return ihd.FILE_VERSION
