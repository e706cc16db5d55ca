"""Receiving: pushes decrypted into the inbox in arrival order, redeliveries of handled
messages dropped (and acked again), acks batched and sent again after a reconnect."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator
from typing import Any

from client import crypto
from client.errors import (
    Disconnected,
)
from client.model import Incoming
from client.peer_core import PeerCore
from protocol import wire

log = logging.getLogger("meshpeer")


class Receiving(PeerCore):
    async def messages(self) -> AsyncGenerator[Incoming, None]:
        """Decrypted messages in arrival order. Each is acknowledged once the consumer
        asks for the next one (or calls `ack`); one the consumer never finished (it
        raised, or stopped without `ack`) is redelivered by the broker later."""
        while True:
            incoming = await self._next_incoming()
            if incoming is None:
                return
            yield incoming
            await self.ack(incoming)

    async def ack(self, incoming: Incoming) -> None:
        """Mark a message handled; idempotent."""
        if incoming.message_id in self._handled:
            return
        self._mark_handled(incoming.message_id)
        await self._flush_acks()

    async def _next_incoming(self) -> Incoming | None:
        if not self._inbox.empty():
            return self._inbox.get_nowait()
        getter = asyncio.ensure_future(self._inbox.get())
        watched: set[asyncio.Future[Any]] = {getter}
        if self._task is not None:
            watched.add(self._task)
        try:
            await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not getter.done():
                getter.cancel()
        if getter.done() and not getter.cancelled():
            return getter.result()
        self._raise_if_dead()
        return None

    def _mark_handled(self, message_id: str) -> None:
        self._queued.discard(message_id)
        self._handled.add(message_id)
        self._unsent_acks.append(message_id)

    async def _flush_acks(self) -> None:
        if not self._unsent_acks or not self.connected:
            return
        ids, self._unsent_acks = self._unsent_acks, []
        try:
            await self._write(wire.ClientAck(message_ids=ids))
        except Disconnected:
            self._unsent_acks[:0] = ids  # sent again after the next hello

    def _on_push(self, push: wire.Push) -> None:
        if push.message_id in self._handled:
            self._unsent_acks.append(push.message_id)  # our earlier ack was lost
            return
        if push.message_id in self._queued:
            return
        self._queued.add(push.message_id)
        sealed = crypto.Sealed(nonce=push.nonce, ciphertext=push.ciphertext)
        try:
            opened = crypto.open_payload(self.config.identity.key, push.sender_pubkey, sealed)
        except crypto.OpenError as exc:
            log.warning("dropping message %s from %s: %s", push.message_id, push.sender_pubkey, exc)
            self._mark_handled(push.message_id)
            return
        self._inbox.put_nowait(
            Incoming(
                message_id=push.message_id,
                sender=push.sender_pubkey,
                priority=push.priority,
                text=opened.text,
                encrypted=opened.encrypted,
                created_at=push.created_at,
            )
        )
