# Host tools (CPython 3.11): simulator, flashing, OTA files, history export, screenshots, benches.
