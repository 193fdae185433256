# Entry point: the board wiring module picks the hardware, the app does the rest.
import sys

import board
from ihd import app

try:
    app.main(board)
except KeyboardInterrupt:
    pass
except Exception as e:  # last resort: log, then let the board decide (reset on hardware)
    sys.print_exception(e)
    board.fatal(e)
