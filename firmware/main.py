# Entry point: the board wiring module picks the hardware; the OTA boot selector puts the active
# firmware slot first on sys.path (or rolls back an unconfirmed one); the app does the rest.
import sys

import board
from ihd.ota import boot

boot.select(board.flash_root())  # never raises: the factory firmware is always bootable
from ihd import app  # noqa: E402 - after the slot is selected

try:
    app.main(board)
except KeyboardInterrupt:
    pass
except Exception as e:  # last resort: log, then let the board decide (reset on hardware)
    sys.print_exception(e)
    board.fatal(e)
