from host_tools.ota.cli import main

raise SystemExit(main())
