"""``python -m services.alerts [--dry-run] [--report-now]`` (see :mod:`services.alerts.cli`)."""

import sys

from services.alerts.cli import main

sys.exit(main())
