import sys

from host_tools.history.export import main

sys.exit(main())
