"""``python -m services.auth hash NAME``: a DASHBOARD_USERS entry from a password on stdin."""

import sys

from services.auth.users import main

sys.exit(main())
