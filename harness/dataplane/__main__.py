"""``python -m harness.dataplane serve|start|stop|status``."""

from harness.dataplane.daemon import main

raise SystemExit(main())
