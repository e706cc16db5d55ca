"""Structured logs: one JSON object a line on stderr, with the standard library.

Every line has `ts` (ISO 8601 UTC, milliseconds, `Z`), `level`, `component` (the
logger's name without the `meshbroker.` prefix) and `msg`; the context of the event
follows at the top level. A record that carries an exception adds `error`
(`Type: message`) and `traceback`.

    log(logger, logging.INFO, "ws hello", presence_id=p.id, mesh_id=p.mesh_id)
    logger.info("ws hello", extra={"ctx": {"presence_id": p.id}})

Encoding never raises: values JSON cannot carry are written as `str(value)`.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import IO, Any

import msgspec

PREFIX = "meshbroker."
ROOT = "meshbroker"
_CORE = frozenset({"ts", "level", "component", "msg", "error", "traceback"})
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
_MARK = "_meshbroker_json"


def _fallback(value: Any) -> Any:
    return str(value)


_encoder = msgspec.json.Encoder(enc_hook=_fallback)


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


def encode(line: dict[str, Any]) -> str:
    """`line` as JSON; whatever cannot be encoded as is goes in as its `str()`."""
    try:
        return _encoder.encode(line).decode()
    except Exception:
        safe = {str(k): _plain(v) for k, v in line.items()}
        return _encoder.encode(safe).decode()


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"


def _timestamp(created: float) -> str:
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # bad %-args must not lose the line
        return f"{record.msg!s} {record.args!r}"


class DemoteToDebug(logging.Filter):
    """pgserver logs its routine steps (initdb, pg_ctl output) at INFO: for the broker
    they are debug detail, shown only with LOG_LEVEL=debug. Its warnings stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


class TickHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that, on a thread running an event loop, keeps the lines of one
    loop tick and writes them with one write at the end of the tick (issue 18: in a
    reconnect storm one write and flush per line was 12 % of the broker's samples).
    Lines keep their order; a record logged off the loop (another thread, no loop)
    first writes what is kept, then itself, at once. `flush` (called at exit by
    `logging.shutdown`) writes what is kept."""

    def __init__(self, stream: IO[str]) -> None:
        super().__init__(stream)
        self._kept: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is None or (self._kept and loop is not self._loop):
            self.flush()
            if loop is None:
                super().emit(record)
                return
        try:
            line = self.format(record)
        except Exception:
            self.handleError(record)
            return
        if not self._kept:
            self._loop = loop
            loop.call_soon(self.flush)
        self._kept.append(line + self.terminator)

    def flush(self) -> None:
        self.acquire()
        try:
            kept, self._kept = self._kept, []
            if kept and self.stream is not None:
                self.stream.write("".join(kept))
            super().flush()
        except Exception:
            pass  # the stream is gone (closed at exit): nothing left to tell
        finally:
            self.release()


# uvicorn (and websockets through uvicorn's logger) log two INFO lines per accepted
# WebSocket; "ws hello" and "ws close" already say who came and went. Two of the four
# lines per connection in a reconnect storm (issue 18).
_SOCKET_CHATTER = frozenset({'%s - "WebSocket %s" [accepted]', "connection open"})


class DemoteSocketChatter(logging.Filter):
    """uvicorn's per-WebSocket INFO lines become debug lines (shown with LOG_LEVEL=debug)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO or record.msg not in _SOCKET_CHATTER:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


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
