"""Log filters that demote libraries' routine INFO lines to debug lines."""

from __future__ import annotations

import logging


class DemoteToDebug(logging.Filter):
    """pgserver logs its routine steps (initdb, pg_ctl output) at INFO: for the broker
    they are debug detail, shown only with LOG_LEVEL=debug. Its warnings stay."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


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
