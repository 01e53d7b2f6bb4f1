"""Validation at the edge: Dash callback request bodies and log lines (no Dash import).

* :func:`check_callback_body` checks a ``POST /_dash-update-component`` body against the
  registered callbacks before Dash sees it: a JSON object naming a known callback, with
  exactly its declared inputs and state (same ids and properties, in order), values of the
  JSON types the app's components send for that property, and no ``NaN``/``Infinity``
  (which browsers never produce). Anything else raises :class:`CallbackRequestError`, which
  :mod:`services.web.security` answers with 400 JSON.
* :class:`SafeLogFilter` escapes control characters in every log line and caps its length,
  so attacker-supplied text (user names, paths, exception messages) cannot forge log lines.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Mapping

__all__ = [
    "CALLBACK_INPUT_ERRORS",
    "CallbackRequestError",
    "SafeLogFilter",
    "check_callback_body",
    "escape_log_text",
    "protect_logging",
]

LOG_LINE_LIMIT = 2000
"""Characters of one log message; the rest is replaced by a count."""
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")

CALLBACK_INPUT_ERRORS = (TypeError, ValueError, KeyError, AttributeError, IndexError)
"""Exceptions a callback raises on input it cannot use; answered 400, never 500."""


def escape_log_text(text: str, limit: int = LOG_LINE_LIMIT) -> str:
    """``text`` with control characters as ``\\xNN``/``\\uNNNN`` and at most ``limit`` chars."""
    escaped = _CONTROL.sub(
        lambda m: (
            f"\\x{ord(m.group()):02x}" if ord(m.group()) < 0x100 else f"\\u{ord(m.group()):04x}"
        ),
        text,
    )
    if len(escaped) > limit:
        escaped = f"{escaped[:limit]}… (+{len(escaped) - limit} chars)"
    return escaped


class SafeLogFilter(logging.Filter):
    """A handler filter that formats each record's message once, escaped and capped.

    Tracebacks (``exc_info``) are left alone: they are written only at DEBUG level and their
    line breaks are the logger's own.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the line
            message = f"{record.msg!r} {record.args!r}"
        record.msg = escape_log_text(message)
        record.args = None
        return True


def protect_logging(logger: logging.Logger | None = None) -> None:
    """Add :class:`SafeLogFilter` to every handler of ``logger`` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, SafeLogFilter) for f in handler.filters):
            handler.addFilter(SafeLogFilter())


# -- Dash callback bodies -------------------------------------------------------------------


class CallbackRequestError(ValueError):
    """A callback request body the app will not run; ``str(err)`` is the client message."""


def _no_constant(name: str):
    raise CallbackRequestError(f"{name} is not a JSON value")


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _scalar(value) -> bool:
    return value is None or isinstance(value, str | bool) or _number(value)


PROPERTY_TYPES = {
    "n_clicks": lambda v: v is None or (_number(v) and v >= 0),
    "n_clicks_timestamp": lambda v: v is None or _number(v),
    "n_intervals": lambda v: v is None or (_number(v) and v >= 0),
    "active_tab": lambda v: v is None or isinstance(v, str),
    "search": lambda v: v is None or isinstance(v, str),
    "pathname": lambda v: v is None or isinstance(v, str),
    "hash": lambda v: v is None or isinstance(v, str),
    "href": lambda v: v is None or isinstance(v, str),
    "start_date": lambda v: v is None or isinstance(v, str),
    "end_date": lambda v: v is None or isinstance(v, str),
    "date": lambda v: v is None or isinstance(v, str),
    "value": lambda v: _scalar(v) or (isinstance(v, list) and all(_scalar(x) for x in v)),
    "clickData": lambda v: v is None or isinstance(v, dict),
    "selectedData": lambda v: v is None or isinstance(v, dict),
    "relayoutData": lambda v: v is None or isinstance(v, dict),
    "sort_by": lambda v: v is None or isinstance(v, list),
    "page_current": lambda v: v is None or (_number(v) and v >= 0),
}
"""JSON shapes the app's components send for a property (Dash's prop types for dcc.Dropdown,
dbc.Switch, dbc.Tabs, dcc.Location, dcc.DatePickerRange, …). Properties not listed (``data`` of
a ``dcc.Store``: any JSON) are checked by the callbacks themselves."""


def _check_item(item, declared: Mapping, where: str, check_value: bool = True) -> None:
    declared_id, prop = declared["id"], declared["property"]
    pattern = declared_id.startswith("{")
    items = item if pattern and isinstance(item, list) else [item]
    for one in items:
        if not isinstance(one, dict):
            raise CallbackRequestError(f"{where}: expected an object with id and property")
        if one.get("property") != prop:
            raise CallbackRequestError(f"{where}: expected property {prop!r}")
        if pattern:
            if not isinstance(one.get("id"), dict):
                raise CallbackRequestError(f"{where}: expected a pattern-matching id")
        elif one.get("id") != declared_id:
            raise CallbackRequestError(f"{where}: expected id {declared_id!r}")
        check = PROPERTY_TYPES.get(prop) if check_value else None
        if check is not None and not check(one.get("value")):
            raise CallbackRequestError(f"{where}: wrong type of value for {prop!r}")


def declared_outputs(output: str) -> list[dict]:
    """``"..a.children...b.figure.."`` → ``[{"id": "a", "property": "children"}, …]``."""
    parts = output[2:-2].split("...") if output.startswith("..") else [output]
    return [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True)) for p in parts]


def _check_outputs(output: str, given) -> None:
    declared = declared_outputs(output)
    if output.startswith(".."):  # several outputs: a list, one entry per output
        if not isinstance(given, list) or len(given) != len(declared):
            raise CallbackRequestError(f"outputs must list the callback's {len(declared)} outputs")
    else:
        given = [given]
    for position, (item, expected) in enumerate(zip(given, declared, strict=True)):
        _check_item(item, expected, f"outputs[{position}]", check_value=False)


def check_callback_body(raw: bytes, callbacks: Mapping[str, Mapping]) -> dict:
    """The parsed body when it fits a registered callback, else :class:`CallbackRequestError`.

    ``callbacks`` is Dash's ``app.callback_map`` (output id → ``{"inputs": [{"id",
    "property"}], "state": [...]}``), passed in so this module needs no Dash.
    """
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except CallbackRequestError:
        raise
    except (ValueError, RecursionError):
        raise CallbackRequestError("the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise CallbackRequestError("the body must be a JSON object")
    output = body.get("output")
    if not isinstance(output, str) or output not in callbacks:
        raise CallbackRequestError("unknown callback output")
    spec = callbacks[output]
    if not spec.get("no_output"):
        _check_outputs(output, body.get("outputs"))
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(c, str) for c in changed):
        raise CallbackRequestError("changedPropIds must be a list of strings")
    for key, what in (("inputs", "input"), ("state", "state")):
        declared = spec.get(key) or []
        given = body.get(key, [])
        if not isinstance(given, list) or len(given) != len(declared):
            raise CallbackRequestError(f"{key} must list the callback's {len(declared)} {what}s")
        for position, (item, expected) in enumerate(zip(given, declared, strict=True)):
            _check_item(item, expected, f"{key}[{position}]")
    return body
