"""The peer: one WebSocket session to the broker, kept alive across drops.

- Every (re)connection sends a freshly signed hello under the same `sessionId`, so the
  broker resumes the presence; attempts are paced by `Backoff` (exponential + jitter).
- `send`, `set_status`, `list_peers` and `message_status` wait for their reply
  (matched by `Pending`); `watch_idle` waits for a peer to be idle; `wait_receipts`
  for the `receipt` frames of a message this peer sent (capability `receipts`).
- `messages()` yields decrypted pushes; a message is acknowledged (`client_ack`) once
  the consumer is done with it: when it asks for the next one, or calls `ack()`.
  Redeliveries of handled messages are dropped (and acked again) by `messageId`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from types import TracebackType
from typing import Literal

from client import crypto, frames
from client.errors import (
    BrokerError,
    MeshpeerError,
    NotConnected,
)
from client.model import Incoming, PeerConfig
from client.peer_supervise import Supervised
from client.pending import Reply
from client.receipts import failed, later, reached
from protocol import wire

log = logging.getLogger("meshpeer")

PUBKEY = re.compile(r"[0-9a-f]{64}")
# A member's pubkey, or one session of it: `<pubkey>/<sessionId>` (claude-code.md 4).
TARGET = re.compile(r"(?P<pubkey>[0-9a-f]{64})(?:/(?P<session>[^/\x00]{1,256}))?")


class Peer(Supervised):
    # ---- lifecycle

    async def __aenter__(self) -> Peer:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    _DEFAULT: float = -1.0

    async def start(self, within: float | None = _DEFAULT) -> wire.HelloOk:
        """Connect, retrying for up to `within` seconds (default `connect_timeout`; None:
        forever), until the broker accepts the hello; raise `Fatal` at once if it refuses
        this identity, `NotConnected` when the time is up."""
        self._task = asyncio.create_task(self._supervise(), name="meshpeer-supervisor")
        await self._until_ready(self.config.connect_timeout if within == self._DEFAULT else within)
        assert self.hello_ok is not None
        return self.hello_ok

    async def close(self) -> None:
        self._closed = True
        ws = self._ws
        if ws is not None:
            await self._flush_acks()
            with contextlib.suppress(Exception):
                await ws.close()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, MeshpeerError):
                await self._task

    # ---- requests

    async def send(
        self,
        to: str,
        text: str,
        priority: wire.PriorityName = "next",
        ttl_seconds: int | None = None,
        escalate_after_seconds: int | None = None,
    ) -> wire.Ack:
        """Encrypt `text` for `to` (a member pubkey, `<pubkey>/<sessionId>` for one of its
        sessions, or `*`), send it, return the ack."""
        target = TARGET.fullmatch(to)
        if to != crypto.BROADCAST and target is None:
            raise ValueError("target must be a member pubkey (64 lowercase hex) or '*'")
        recipient = to if target is None else target["pubkey"]
        sealed = crypto.seal(self.config.identity.key, recipient, text)
        request_id = self._pending.new_id("s")
        frame = wire.Send(
            target_spec=to,
            nonce=sealed.nonce,
            ciphertext=sealed.ciphertext,
            id=request_id,
            priority=priority,
            ttl_seconds=ttl_seconds,
            escalate_after_seconds=escalate_after_seconds,
        )
        reply = await self._request(frame, lambda: self._pending.expect(request_id))
        assert isinstance(reply, wire.Ack)
        if reply.message_id is not None:
            self._receipts.track(reply.message_id)
        return reply

    async def message_status(self, message_id: str) -> wire.MessageStatusReply:
        """What became of a message this member sent, per recipient; BrokerError
        `not_found` for any other id."""
        request_id = self._pending.new_id("m")
        frame = wire.MessageStatus(message_id=message_id, id=request_id)
        reply = await self._request(frame, lambda: self._pending.expect(request_id))
        assert isinstance(reply, wire.MessageStatusReply)
        return reply

    async def watch_idle(self, pubkey: str, within: float) -> wire.PeerIdle | None:
        """Wait up to `within` seconds for one of that member's sessions to be idle
        (at once if one is): its `peer_idle`, or None when the time ran out (the
        watch is then withdrawn). BrokerError `no_recipient` for an unknown pubkey,
        `rate_limited` beyond 100 open watches."""
        await self._until_ready(self.config.request_timeout)
        request_id = self._pending.new_id("w")
        future = self._pending.expect(request_id)
        try:
            await self._write(wire.Watch(id=request_id, pubkey=pubkey))
            try:
                async with asyncio.timeout(within):
                    reply = await future
            except TimeoutError:
                with contextlib.suppress(MeshpeerError):
                    await self._write(wire.Unwatch(id=request_id))
                return None
        finally:
            self._pending.forget(future)
        assert isinstance(reply, wire.PeerIdle)
        return reply

    async def wait_receipts(
        self, message_id: str, until: Literal["pushed", "acked"], within: float | None
    ) -> dict[str, str]:
        """Wait until every recipient of a message this peer sent has reached `until`
        (acked counts as pushed): each recipient's pubkey with its last state, as far
        as it got when the wait ended (done, an `expired`, or `within` seconds). The
        recipients come from `message_status`, which also covers receipts that came
        before this call."""
        states: dict[str, str] = {}
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(within):
                status = await self.message_status(message_id)
                states.update((r.pubkey, r.state) for r in status.recipients)
                while not reached(states, until) and not failed(states):
                    for receipt in await self._receipts.next(message_id):
                        pubkey = receipt.recipient.pubkey
                        states[pubkey] = later(states.get(pubkey), receipt.state)
        return states

    async def set_status(self, status: wire.StatusName) -> wire.StatusReply:
        reply = await self._request(wire.SetStatus(status=status), self._pending.expect_status)
        assert isinstance(reply, wire.StatusReply)
        return reply

    async def list_peers(self) -> list[wire.Peer]:
        request_id = self._pending.new_id("q")
        frame = wire.ListPeers(id=request_id)
        reply = await self._request(frame, lambda: self._pending.expect(request_id))
        assert isinstance(reply, wire.Peers)
        return reply.peers

    async def list_members(self) -> list[wire.MemberInfo]:
        """Every unrevoked member of the mesh, connected or not."""
        request_id = self._pending.new_id("m")
        frame = wire.ListMembers(id=request_id)
        reply = await self._request(frame, lambda: self._pending.expect(request_id))
        assert isinstance(reply, wire.Members)
        return list(reply.members)

    @property
    def last_error(self) -> str:
        """Why the last connection attempt failed, in words."""
        return frames.describe(self._last_error)

    async def _request(
        self,
        frame: wire.ClientFrame,
        expect: Callable[[], asyncio.Future[Reply]],
    ) -> Reply:
        timeout = self.config.request_timeout
        await self._until_ready(timeout)
        future = expect()
        try:
            async with asyncio.timeout(timeout):
                await self._write(frame)
                return await future
        except TimeoutError:
            raise NotConnected(f"no reply from the broker within {timeout:g} s") from None
        finally:
            self._pending.forget(future)


__all__ = ["BrokerError", "Incoming", "Peer", "PeerConfig"]
