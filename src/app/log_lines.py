"""The JSON line: one object per log record, with the standard library and msgspec.

Every line has `ts` (ISO 8601 UTC, milliseconds, `Z`), `level`, `component` (the
logger's name without the `meshbroker.` prefix) and `msg`; the context of the event
follows at the top level. A record that carries an exception adds `error`
(`Type: message`) and `traceback`.

The line is encoded by app/log_encoding.py, which never raises.
"""

from __future__ import annotations

import logging
import traceback
from datetime import UTC, datetime
from typing import Any

from app.log_encoding import encode

PREFIX = "meshbroker."
_CORE = frozenset({"ts", "level", "component", "msg", "error", "traceback"})


class JsonFormatter(logging.Formatter):
    """One JSON object per record, no newline (the handler adds it)."""

    def __init__(self, prefix: str = PREFIX) -> None:
        super().__init__()
        self._prefix = prefix

    def format(self, record: logging.LogRecord) -> str:
        name = record.name
        component = name[len(self._prefix) :] if name.startswith(self._prefix) else name
        line: dict[str, Any] = {
            "ts": _timestamp(record.created),
            "level": record.levelname.lower(),
            "component": component,
            "msg": _message(record),
        }
        context = getattr(record, "ctx", None)
        if isinstance(context, dict):
            for key, value in context.items():
                key = str(key)
                line[f"ctx_{key}" if key in _CORE else key] = value
        if record.exc_info and record.exc_info[0] is not None:
            kind, error, tb = record.exc_info
            line["error"] = f"{kind.__name__}: {error}"
            line["traceback"] = "".join(traceback.format_exception(kind, error, tb)).rstrip()
        elif record.exc_text:
            line["traceback"] = record.exc_text
        return encode(line)


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # bad %-args must not lose the line
        return f"{record.msg!s} {record.args!r}"
