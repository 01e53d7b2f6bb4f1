"""Callback modules. Importing this package registers every callback (``@dash.callback``).

Callbacks are thin: they read inputs, call :mod:`services` and return components/figures.
"""

from callbacks import exports, filters, overview, quality, sessions, status, sync, theme  # noqa: F401
