# GB smart-metering IHD / PPMID reference firmware.
VERSION = "0.1.0"
# Zigbee OTA file version of this build (appl release.build, stack release.build).
FILE_VERSION = 0x00010000
