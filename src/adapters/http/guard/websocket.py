"""A WebSocket whose hello phase is bounded and whose writes have a deadline."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar, cast

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

from adapters.http.guard.bounds import Guard
from adapters.http.guard.control import EXTENSION, TransportControl
from adapters.http.guard.deadlines import CoalescingTransport, WriteDeadline, wrap_coalescing

log = logging.getLogger("meshbroker.guard")


class GuardedWebSocket(WebSocketsSansIOProtocol):
    guard: ClassVar[Guard]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._address = ""
        self._slot = False
        self._timer: asyncio.TimerHandle | None = None
        self._writes = WriteDeadline(lambda: self.transport, self.guard, "ws")
        self.pongs_dropped = 0
        self.close_timeout = self.guard.write_timeout
        super().connection_made(
            wrap_coalescing(cast(asyncio.Transport, transport), self.guard.write_timeout)
        )

    def adopt(self, address: str) -> None:
        """Take over the pending slot of the HTTP connection that upgraded: it is held
        until the app says the hello was accepted, or the connection ends. Past the
        hello deadline (plus the time to write the refusal) the transport is aborted."""
        self._address = address
        self._slot = True
        deadline = self.guard.request_timeout + self.guard.write_timeout
        self._timer = self.loop.call_later(deadline, self._timed_out)

    def _timed_out(self) -> None:
        self._timer = None
        if self._slot and not self.disconnected:
            self.guard.on_timeout("ws")
            self.guard.timeout_log(address=self._address, phase="hello")
            self.transport.abort()

    def _authenticated(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._slot:
            self._slot = False
            self.guard.limits.release(self._address)

    def _abort(self) -> None:
        self.transport.abort()

    def _send_now(self, text: str) -> bool:
        """A text frame written now, when uvicorn's `send()` would write it without
        waiting: the handshake done, no close sent or received, the transport writable.
        Otherwise False, and the app goes through `send()`, which waits or refuses. This
        skips the ASGI layers (Litestar's wrappers, the app's write deadline: nothing
        here waits) for the frames of an open socket (docs/adr/0030-per-frame-cost.md)."""
        conn = self.conn
        if (
            self.close_sent
            or self.disconnected
            or not self.handshake_complete
            or self.initial_response is not None
            or not self.writable.is_set()
            or conn.state is not State.OPEN
            or self.transport.is_closing()
        ):
            return False
        conn.send_text(text.encode())
        self.transport.write(b"".join(conn.data_to_send()))
        return True

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            extensions = scope.setdefault("extensions", {})
            extensions[EXTENSION] = TransportControl(
                self._abort, self._authenticated, self._send_now
            )

    def send_receive_event_to_app(self) -> None:
        """uvicorn's, except for a text message that is not UTF-8: closed 1007 with one
        info line, not a logged traceback per message (a log flood, one per socket)."""
        if self.curr_msg_data_type != "text" or self.close_sent:
            super().send_receive_event_to_app()
            return
        data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
        self.frames = []
        try:
            text = data.decode()
        except UnicodeDecodeError:
            log.info("ws frame not UTF-8: closed 1007", extra={"ctx": {"address": self._address}})
            self.conn.send_close(1007, "invalid UTF-8")
            self.handle_parser_exception()
            return
        self.queue.put_nowait({"type": "websocket.receive", "text": text})
        if not self.read_paused:
            self.read_paused = True
            self.transport.pause_reading()

    def handle_ping(self) -> None:
        if not self.writable.is_set():
            # The peer does not read what it is sent: its pongs would only pile up here.
            self.conn.data_to_send()
            self.pongs_dropped += 1
            return
        super().handle_ping()

    def pause_writing(self) -> None:
        super().pause_writing()
        self._writes.paused()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._writes.resumed()

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(self.transport, CoalescingTransport):
            self.transport.discard()
        self._writes.resumed()
        self._authenticated()
        super().connection_lost(exc)
