"""Structured logs: one JSON object a line on stderr (the line: app/log_lines.py).

    log(logger, logging.INFO, "ws hello", presence_id=p.id, mesh_id=p.mesh_id)
    logger.info("ws hello", extra={"ctx": {"presence_id": p.id}})

This module names the loggers, logs with context, and sets up the root handler.
"""

from __future__ import annotations

import logging
import sys
from typing import IO, Any

from app.log_filters import DemoteSocketChatter, DemoteToDebug
from app.log_lines import PREFIX, JsonFormatter
from app.log_ticks import TickHandler

ROOT = "meshbroker"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_MARK = "_meshbroker_json"


def get_logger(component: str) -> logging.Logger:
    """The logger of one component: `get_logger("ws")` logs with `component: "ws"`."""
    return logging.getLogger(PREFIX + component)


def log(logger: logging.Logger, level: int | str, msg: str, /, **context: Any) -> None:
    """Log `msg` with `context` as top-level fields of the line. `exc_info=True` (or an
    exception) attaches the exception, as with the standard library."""
    levelno = _LEVELS[level.lower()] if isinstance(level, str) else level
    if not logger.isEnabledFor(levelno):
        return
    exc_info = context.pop("exc_info", None)
    logger.log(levelno, msg, exc_info=exc_info, extra={"ctx": context}, stacklevel=2)


def configure_logging(
    level: int | str = "info", stream: IO[str] | None = None, *, per_tick: bool = False
) -> logging.Handler:
    """Send every log record (the broker's and its libraries') to `stream` (stderr by
    default) as JSON lines, at `level` and above. Calling it again replaces the level
    and stream; it never adds a second handler. `per_tick` (serve): lines logged on the
    event loop are written once per loop tick (TickHandler)."""
    levelno = _LEVELS[level.lower()] if isinstance(level, str) else level
    root = logging.getLogger()
    handler = next((h for h in root.handlers if getattr(h, _MARK, False)), None)
    target = stream if stream is not None else sys.stderr
    if isinstance(handler, logging.StreamHandler) and isinstance(handler, TickHandler) == per_tick:
        handler.setStream(target)
    else:
        if handler is not None:
            root.removeHandler(handler)
            handler.flush()
        handler = TickHandler(target) if per_tick else logging.StreamHandler(target)
        setattr(handler, _MARK, True)
        root.addHandler(handler)
    handler.setFormatter(JsonFormatter())
    root.setLevel(levelno)
    logging.getLogger(ROOT).setLevel(logging.NOTSET)
    chatter = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, DemoteSocketChatter) for f in chatter.filters):
        chatter.addFilter(DemoteSocketChatter())
    pgserver = logging.getLogger("pgserver")
    if not any(isinstance(f, DemoteToDebug) for f in pgserver.filters):
        pgserver.addFilter(DemoteToDebug())
    return handler
