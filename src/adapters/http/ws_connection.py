"""One accepted socket: the Connection port over the ASGI socket, with a deadline on
every write."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from litestar import WebSocket
from litestar.types import WebSocketSendEvent

from adapters.http import frames
from adapters.http.errors import (
    CLOSES,
    Close,
)
from adapters.http.guard import transport_control
from domain.errors import CloseReason
from domain.model import Message
from domain.ports import Connection, ConnectionGone
from domain.receipts import Receipt
from domain.sessions import Session
from domain.watches import PeerIdle

log = logging.getLogger("meshbroker.ws")


class WsConnection(Connection):
    """One accepted socket. A frame of an open, writable socket is written at once
    (`TransportControl.send_now`, docs/adr/0030-per-frame-cost.md); any other write
    goes to the ASGI server within `write_timeout`: a peer that does not take its data
    by then (its buffers are full: suspended, stuck, or behind a proxy that buffers)
    has its transport aborted, and counts as gone (docs/adr/0024-hostile-clients.md)."""

    __slots__ = ("_control", "_id", "closed", "socket", "write_timeout")
    _counter = 0

    def __init__(
        self, socket: WebSocket[Any, Any, Any], instance: str, write_timeout: float = 5.0
    ) -> None:
        WsConnection._counter += 1
        self._id = f"{instance}:{WsConnection._counter}"
        self.socket = socket
        self.closed = False
        self.write_timeout = write_timeout
        self._control = transport_control(getattr(socket, "scope", None) or {})

    @property
    def id(self) -> str:
        return self._id

    async def send_text(self, text: str) -> None:
        if self.closed:
            raise ConnectionGone(self._id)
        control = self._control
        try:
            if control is not None and control.send_now(text):
                return  # written at once: nothing waited, no deadline to keep
            async with asyncio.timeout(self.write_timeout):
                await self.socket.send(
                    WebSocketSendEvent(type="websocket.send", text=text, bytes=None)
                )
        except TimeoutError as exc:
            self._stuck("write")
            raise ConnectionGone(self._id) from exc
        except Exception as exc:  # any failed write means the socket is gone
            self.closed = True
            raise ConnectionGone(self._id) from exc

    async def push(self, messages: Sequence[Message]) -> None:
        for message in messages:
            await self.send_text(frames.push_text(message))

    async def notify(self, event: Receipt | PeerIdle) -> None:
        await self.send_text(frames.event_text(event))

    async def close(self, reason: CloseReason) -> None:
        await self.close_with(CLOSES[reason])

    async def close_with(self, close: Close) -> None:
        code, reason = close
        if self.closed:
            return
        self.closed = True
        try:
            async with asyncio.timeout(self.write_timeout):
                await self.socket.close(code, reason)
        except TimeoutError:
            self._stuck("close")
        except Exception:  # already closed by the peer: nothing left to tell it
            log.debug("close on a dead socket", extra={"ctx": {"connection": self._id}})

    def authenticated(self) -> None:
        """The hello was accepted: this socket no longer counts as pending."""
        if self._control is not None:
            self._control.authenticated()

    def _stuck(self, what: str) -> None:
        """The peer did not take a write within the deadline: drop the socket at once."""
        self.closed = True
        log.info(
            "ws peer stuck: aborted",
            extra={"ctx": {"connection": self._id, "on": what, "after": self.write_timeout}},
        )
        if self._control is not None:
            self._control.abort()


def who(session: Session) -> dict[str, str]:
    return {
        "presence_id": session.presence_id,
        "mesh_id": session.mesh_id,
        "member_id": session.member_id,
        "session_id": session.session_id,
    }


async def receive(connection: WsConnection) -> str | bytes | None:
    """The next frame's payload, or None once the peer is gone."""
    event = await connection.socket.receive()
    if event["type"] != "websocket.receive":
        return None
    payload: str | bytes | None = event.get("text")
    return payload if payload is not None else event.get("bytes") or b""
