"""``python -m services.sync``: one sync from OCS into the store (see services/sync/engine.py)."""

import sys

from services.sync.engine import main

sys.exit(main())
