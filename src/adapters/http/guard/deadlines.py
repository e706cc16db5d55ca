"""Deadlines on writes: a peer that does not take its data has its transport aborted;
and the raw answers written before the app is reached."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, cast

from adapters.http.guard.bounds import Guard


class DeadlineTransport:
    """A transport whose `close()` becomes an `abort()` when the peer has not taken the
    buffered data within `seconds` (asyncio's close waits for the buffer to drain)."""

    def __init__(self, inner: asyncio.Transport, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self._armed = False

    def close(self) -> None:
        self.inner.close()
        if not self._armed:
            self._armed = True
            asyncio.get_running_loop().call_later(self.seconds, self.inner.abort)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def wrap(transport: asyncio.Transport, seconds: float) -> asyncio.Transport:
    if isinstance(transport, DeadlineTransport):
        return cast(asyncio.Transport, transport)
    return cast(asyncio.Transport, DeadlineTransport(transport, seconds))


def _raw_response(status: int, reason: str, error: str) -> bytes:
    body = b'{"ok":false,"error":"' + error.encode() + b'"}'
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


TOO_MANY = _raw_response(503, "Service Unavailable", "too many pending connections")
TIMED_OUT = _raw_response(408, "Request Timeout", "request timeout")


class WriteDeadline:
    """Aborts the transport when writing stays paused (the peer's buffer is full and
    it does not read) for longer than the deadline."""

    def __init__(self, transport: Callable[[], asyncio.Transport], guard: Guard, what: str):
        self._transport = transport
        self._guard = guard
        self._what = what
        self._timer: asyncio.TimerHandle | None = None

    def paused(self) -> None:
        if self._timer is None:
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._guard.write_timeout, self._expired)

    def resumed(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expired(self) -> None:
        self._timer = None
        self._guard.stuck_log(kind=self._what)
        self._transport().abort()
