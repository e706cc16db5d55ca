"""The peer's state and what every part of it shares: whether it is connected, one
frame written, waiting for the connection (client/peer.py has the overview)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from client import frames
from client.errors import (
    Disconnected,
    NotConnected,
)
from client.model import Incoming, PeerConfig
from client.pending import Pending
from client.receipts import Receipts
from client.retry import Backoff, Seen
from protocol import wire

log = logging.getLogger("meshpeer")


class PeerCore:
    def __init__(self, config: PeerConfig, *, backoff: Backoff | None = None) -> None:
        self.config = config
        self.hello_ok: wire.HelloOk | None = None
        self.on_hello: list[Callable[[wire.HelloOk], None]] = []
        self._backoff = backoff or Backoff()
        self._ws: ClientConnection | None = None
        self._ready = asyncio.Event()
        self._pending = Pending()
        self._inbox: asyncio.Queue[Incoming] = asyncio.Queue()
        self._queued: set[str] = set()
        self._handled = Seen()
        self._unsent_acks: list[str] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._last_error: BaseException | None = None
        self._last_timestamp = 0
        self._receipts = Receipts()

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

    async def _write(self, frame: wire.ClientFrame) -> None:
        ws = self._ws
        if ws is None:
            raise Disconnected("not connected")
        try:
            await ws.send(wire.encoder.encode(frame).decode())
        except ConnectionClosed as exc:
            raise Disconnected("connection closed while sending") from exc

    async def _until_ready(self, within: float | None) -> None:
        if self.connected:
            return
        self._raise_if_dead()
        waiter = asyncio.ensure_future(self._ready.wait())
        watched: set[asyncio.Future[Any]] = {waiter}
        if self._task is not None:
            watched.add(self._task)
        try:
            await asyncio.wait(watched, timeout=within, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self.connected:
            return
        self._raise_if_dead()
        reason = frames.describe(self._last_error)
        limit = "ever" if within is None else f"{within:g} s"
        raise NotConnected(f"not connected to {self.config.url} within {limit} ({reason})")

    def _raise_if_dead(self) -> None:
        task = self._task
        if task is None or not task.done():
            return
        failure = None if task.cancelled() else task.exception()
        if failure is not None:
            raise failure
        if not self._closed:
            raise NotConnected("the connection loop ended")
