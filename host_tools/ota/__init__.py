# Host side of firmware updates (docs/ota.md): build and inspect Zigbee OTA files carrying the
# firmware bundle, and apply one locally (mpremote to a board, or into a unix-port flash image).
