"""`python -m monitoring`: see monitoring/cli.py."""

from monitoring.cli import main

raise SystemExit(main())
