"""Matching broker replies to the requests that wait for them.

`ack`, `peers`, `message_status` and `peer_idle` (a watch's answer) echo the
request's `id`; a `status` reply has none, but the broker
answers the frames of one connection in order, so status requests wait in a FIFO. An
`error` frame with an `id` fails that request; one without an id fails the oldest
status request (the only request whose failure carries no echo)."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque

from adapters import wire
from client.errors import BrokerError

Reply = (
    wire.Ack
    | wire.Peers
    | wire.StatusReply
    | wire.Members
    | wire.MessageStatusReply
    | wire.PeerIdle
)
_BY_ID = (
    wire.Ack,
    wire.Peers,
    wire.Error,
    wire.Members,
    wire.MessageStatusReply,
    wire.PeerIdle,
)


class Pending:
    def __init__(self) -> None:
        self._by_id: dict[str, asyncio.Future[Reply]] = {}
        self._status: deque[asyncio.Future[Reply]] = deque()
        self._ids = itertools.count(1)

    def new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def expect(self, request_id: str) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._by_id[request_id] = future
        return future

    def expect_status(self) -> asyncio.Future[Reply]:
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._status.append(future)
        return future

    def forget(self, future: asyncio.Future[Reply]) -> None:
        self._by_id = {k: f for k, f in self._by_id.items() if f is not future}
        if future in self._status:
            self._status.remove(future)

    def resolve(self, frame: wire.BrokerFrame) -> bool:
        """Settle the request `frame` answers; False when it answers none."""
        future = self._claim(frame)
        if future is None or future.done():
            return False
        if isinstance(frame, wire.Error):
            future.set_exception(BrokerError(frame.code, frame.message))
        elif isinstance(
            frame,
            wire.Ack
            | wire.Peers
            | wire.StatusReply
            | wire.Members
            | wire.MessageStatusReply
            | wire.PeerIdle,
        ):
            future.set_result(frame)
        return True

    def _claim(self, frame: wire.BrokerFrame) -> asyncio.Future[Reply] | None:
        if isinstance(frame, wire.StatusReply) or (
            isinstance(frame, wire.Error) and frame.id is None
        ):
            return self._status.popleft() if self._status else None
        if isinstance(frame, _BY_ID) and frame.id is not None:
            return self._by_id.pop(str(frame.id), None)
        return None

    def fail_all(self, exc: Exception) -> None:
        futures = [*self._by_id.values(), *self._status]
        self._by_id.clear()
        self._status.clear()
        for future in futures:
            if not future.done():
                future.set_exception(exc)
