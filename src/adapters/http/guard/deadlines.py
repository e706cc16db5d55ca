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


class CoalescingTransport(DeadlineTransport):
    """A WebSocket's transport: the bytes written to it within one turn of the event
    loop go to the socket in one write, at the end of that turn (one `send` syscall
    instead of one per frame; docs/adr/0030-per-frame-cost.md).

    What the inner transport promised still holds: order (every write goes through
    here, close frames too); flow control (past `COALESCE_LIMIT` pending bytes the
    write is flushed at once, so the inner transport's high-water mark pauses the
    protocol as before, and with it the write deadline); `close()` writes what is
    pending first; `abort()` drops it, as it drops the inner buffer."""

    def __init__(self, inner: asyncio.Transport, seconds: float) -> None:
        super().__init__(inner, seconds)
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        pending = self._pending
        if self.inner.is_closing():  # written after close: the inner transport decides
            self.flush()
            self.inner.write(data)
            return
        pending.append(bytes(data))
        self._size += len(data)
        if self._size >= COALESCE_LIMIT:
            self.flush()
        elif len(pending) == 1:
            asyncio.get_running_loop().call_soon(self.flush)

    def writelines(self, lines: Any) -> None:
        for data in lines:
            self.write(data)

    def flush(self) -> None:
        pending = self._pending
        if not pending:
            return
        data = pending[0] if len(pending) == 1 else b"".join(pending)
        self._pending = []
        self._size = 0
        self.inner.write(data)

    def discard(self) -> None:
        """The connection is lost: what is pending can go nowhere."""
        self._pending = []
        self._size = 0

    def get_write_buffer_size(self) -> int:
        return self._size + self.inner.get_write_buffer_size()

    def is_closing(self) -> bool:
        return self.inner.is_closing()

    def write_eof(self) -> None:
        self.flush()
        self.inner.write_eof()

    def close(self) -> None:
        self.flush()
        super().close()

    def abort(self) -> None:
        self.discard()
        self.inner.abort()


# Pending bytes past which a coalescing write goes out at once: asyncio's default
# high-water mark, so that a peer that does not read pauses the writer as before.
COALESCE_LIMIT = 64 * 1024


def wrap(transport: asyncio.Transport, seconds: float) -> asyncio.Transport:
    if isinstance(transport, DeadlineTransport):
        return cast(asyncio.Transport, transport)
    return cast(asyncio.Transport, DeadlineTransport(transport, seconds))


def wrap_coalescing(transport: asyncio.Transport, seconds: float) -> asyncio.Transport:
    """A WebSocket's transport (the HTTP connection's it was upgraded from, unwrapped)."""
    if isinstance(transport, CoalescingTransport):
        return cast(asyncio.Transport, transport)
    if isinstance(transport, DeadlineTransport):
        transport = transport.inner
    return cast(asyncio.Transport, CoalescingTransport(transport, seconds))


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
