"""``python -m services.sync``: one sync from OCS into the store (see services/sync/engine.py).

This entry point composes the sync with what runs after a successful one (the alerts,
docs/alerts.md); the engine itself knows nothing of alerts (pyproject.toml allows exactly this
one upward import).
"""

import sys

from services.alerts import after_sync
from services.sync.engine import main

sys.exit(main(after_success=after_sync))
