from crashpilot.cli import main

raise SystemExit(main())
