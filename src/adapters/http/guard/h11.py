"""HTTP/1.1 with a deadline per request phase and a bound on pending connections."""

from __future__ import annotations

import asyncio
from typing import ClassVar

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from adapters.http.guard.bounds import Guard
from adapters.http.guard.deadlines import TIMED_OUT, TOO_MANY, WriteDeadline, wrap_coalescing
from adapters.http.guard.websocket import GuardedWebSocket
from domain.pending import Refusal


class GuardedH11(H11Protocol):
    guard: ClassVar[Guard]

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._address = ""
        self._slot = False
        self._refused = False
        self._timer: asyncio.TimerHandle | None = None
        self._writes = WriteDeadline(lambda: self.transport, self.guard, "http")
        super().connection_made(wrap_coalescing(transport, self.guard.write_timeout))
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
