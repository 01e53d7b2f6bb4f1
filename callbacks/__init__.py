"""Callback modules. Importing this package registers every callback (``@dash.callback``).

Callbacks are thin: they read inputs, call :mod:`services` and return components/figures.
"""

from callbacks import (  # noqa: F401
    alerts,
    cost,
    engagement,
    exports,
    filters,
    overview,
    position,
    quality,
    saved_views,
    sessions,
    status,
    sync,
    theme,
)
