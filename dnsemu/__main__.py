from dnsemu.cli import main

raise SystemExit(main())
