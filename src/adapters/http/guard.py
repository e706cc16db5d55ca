"""uvicorn's protocols with the deadlines and bounds a hostile or stuck client needs
(issue 15; docs/adr/0024-hostile-clients.md):

- a write or close that the peer does not take within `write_timeout` aborts the
  transport (uvicorn's `send()` and `transport.close()` wait on the peer forever);
- every phase before a request is complete (request line, headers, body) or before a
  WebSocket's hello is bounded by `request_timeout`;
- connections in those phases are counted (domain.pending.PendingLimits): beyond the
  limits a connection gets a 503 at once and is closed;
- a pong is not queued behind a write buffer that is already full (a ping flood from
  a socket that does not read grows no memory).

The app reaches its socket's transport through the ASGI scope extension `EXTENSION`
(a `TransportControl`): `abort()` and `authenticated()`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, cast

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from domain.pending import PendingLimits, Refusal

log = logging.getLogger("meshbroker.guard")

EXTENSION = "meshbroker.transport"


@dataclass(slots=True)
class TransportControl:
    """What the app may do to its socket's transport."""

    abort: Callable[[], None]
    authenticated: Callable[[], None]


def transport_control(scope: Any) -> TransportControl | None:
    extensions = scope.get("extensions") or {}
    control = extensions.get(EXTENSION)
    return control if isinstance(control, TransportControl) else None


@dataclass(slots=True)
class Throttled:
    """A warning logged at most once per `every` seconds, with how many it stands for."""

    logger: logging.Logger
    message: str
    every: float = 10.0
    _last: float = -1e18
    _count: int = 0
    _ctx: dict[str, object] = field(default_factory=dict)

    def __call__(self, **ctx: object) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self.logger.warning(self.message, extra={"ctx": {**ctx, "count": self._count}})
        self._last, self._count = now, 0


@dataclass(slots=True)
class Guard:
    """The bounds, shared by every connection of one server."""

    limits: PendingLimits
    request_timeout: float
    write_timeout: float
    on_refused: Callable[[str], None] = lambda _reason: None
    on_timeout: Callable[[str], None] = lambda _phase: None
    refused_log: Throttled = field(
        default_factory=lambda: Throttled(log, "connections refused: too many pending")
    )
    timeout_log: Throttled = field(
        default_factory=lambda: Throttled(log, "connections timed out before completing")
    )
    stuck_log: Throttled = field(
        default_factory=lambda: Throttled(log, "peers aborted: they did not take their data")
    )


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


def _wrap(transport: asyncio.Transport, seconds: float) -> asyncio.Transport:
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


class _WriteDeadline:
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


def protocols(guard: Guard) -> tuple[type[H11Protocol], type[WebSocketsSansIOProtocol]]:
    """The HTTP and WebSocket protocol classes for uvicorn.Config(http=..., ws=...)."""

    class Ws(GuardedWebSocket):
        pass

    Ws.guard = guard

    class Http(GuardedH11):
        pass

    Http.guard = guard
    return Http, Ws


class GuardedH11(H11Protocol):
    guard: ClassVar[Guard]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._address = ""
        self._slot = False
        self._refused = False
        self._timer: asyncio.TimerHandle | None = None
        self._writes = _WriteDeadline(lambda: self.transport, self.guard, "http")
        super().connection_made(_wrap(transport, self.guard.write_timeout))
        self._address = self.client[0] if self.client else ""
        refusal = self.guard.limits.admit(self._address)
        if refusal is not None:
            self._refuse(refusal)
            return
        self._slot = True
        self._arm()

    def _refuse(self, refusal: Refusal) -> None:
        self._refused = True
        self.guard.on_refused("pending_" + refusal.value)
        self.guard.refused_log(address=self._address, limit=refusal.value)
        self.transport.write(TOO_MANY)
        self.transport.close()

    def _arm(self) -> None:
        self._disarm()
        self._timer = self.loop.call_later(self.guard.request_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _timed_out(self) -> None:
        self._timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is not None and not cycle.more_body and not cycle.response_complete:
            return  # the request is complete: the app's to answer
        self.guard.on_timeout("http")
        self.guard.timeout_log(address=self._address, phase="request")
        responding = cycle is not None and cycle.response_started and not cycle.response_complete
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True  # the app's reads end, its writes go nowhere
            cycle.message_event.set()
        if not responding:
            self.transport.write(TIMED_OUT)
        self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        cycle = self.cycle
        if cycle is not None and not cycle.more_body and not cycle.response_complete:
            self._disarm()  # the whole request is in

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection has its own deadline

    def handle_websocket_upgrade(self, event: h11.Request) -> None:
        self._disarm()
        super().handle_websocket_upgrade(event)
        protocol = self.transport.get_protocol()
        if isinstance(protocol, GuardedWebSocket) and self._slot:
            self._slot = False
            protocol.adopt(self._address)

    def pause_writing(self) -> None:
        super().pause_writing()
        self._writes.paused()

    def resume_writing(self) -> None:
        super().resume_writing()
        self._writes.resumed()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._writes.resumed()
        if self._slot:
            self._slot = False
            self.guard.limits.release(self._address)
        super().connection_lost(exc)


class GuardedWebSocket(WebSocketsSansIOProtocol):
    guard: ClassVar[Guard]

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._address = ""
        self._slot = False
        self._timer: asyncio.TimerHandle | None = None
        self._writes = _WriteDeadline(lambda: self.transport, self.guard, "ws")
        self.pongs_dropped = 0
        self.close_timeout = self.guard.write_timeout
        super().connection_made(_wrap(cast(asyncio.Transport, transport), self.guard.write_timeout))

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

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:
            extensions = scope.setdefault("extensions", {})
            extensions[EXTENSION] = TransportControl(self._abort, self._authenticated)

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
        self._writes.resumed()
        self._authenticated()
        super().connection_lost(exc)
