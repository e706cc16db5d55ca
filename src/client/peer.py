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
import time
from collections.abc import AsyncGenerator, Callable
from types import TracebackType
from typing import Any, Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from adapters import wire
from client import crypto, frames
from client.errors import (
    BrokerError,
    Disconnected,
    Fatal,
    MeshpeerError,
    NotConnected,
    Replaced,
    TryAgain,
)
from client.hello import signed_hello
from client.model import Incoming, PeerConfig
from client.pending import Pending, Reply
from client.receipts import Receipts, failed, later, reached
from client.retry import Backoff, Seen

log = logging.getLogger("meshpeer")

PUBKEY = re.compile(r"[0-9a-f]{64}")
# A member's pubkey, or one session of it: `<pubkey>/<sessionId>` (claude-code.md 4).
TARGET = re.compile(r"(?P<pubkey>[0-9a-f]{64})(?:/(?P<session>[^/\x00]{1,256}))?")
_RETRYABLE = (OSError, InvalidHandshake, ConnectionClosed, TryAgain, TimeoutError, EOFError)
REPLACED_DELAY = 2.0


class Peer:
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

    @property
    def connected(self) -> bool:
        return self._ready.is_set()

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

    async def _write(self, frame: wire.ClientFrame) -> None:
        ws = self._ws
        if ws is None:
            raise Disconnected("not connected")
        try:
            await ws.send(wire.encoder.encode(frame).decode())
        except ConnectionClosed as exc:
            raise Disconnected("connection closed while sending") from exc

    # ---- receiving

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

    # ---- the connection loop

    async def _supervise(self) -> None:
        while not self._closed:
            delay: float | None = None
            try:
                await self._session()
            except Fatal:
                raise
            except _RETRYABLE as exc:
                self._last_error = exc
                self._fail_fast(exc)
                delay = self._delay_after(exc)
            finally:
                self._lost()
            if self._closed:
                return
            if delay is None:
                delay = self._backoff.next_delay()
            log.info("reconnecting in %.2f s (%s)", delay, frames.describe(self._last_error))
            await asyncio.sleep(delay)

    def _fail_fast(self, exc: BaseException) -> None:
        """With `fail_fast`, and no hello accepted yet, a broker that is not there (or
        a URL that is not its WebSocket: a 4xx answer) is reported at once, saying what
        to check. A 5xx (a proxy while the broker restarts) is retried as before."""
        if not self.config.fail_fast or self.hello_ok is not None:
            return
        url = self.config.url
        if isinstance(exc, ConnectionRefusedError):
            raise NotConnected(
                f"{url} refused the connection: is `meshbroker serve` running there "
                "(port BROKER_PORT, default 7900)?"
            ) from exc
        if isinstance(exc, InvalidStatus) and exc.response.status_code < 500:
            raise NotConnected(
                f"{url} answered HTTP {exc.response.status_code}, not a WebSocket: "
                "the broker's path is /ws (ws://host:7900/ws)"
            ) from exc

    def _delay_after(self, exc: BaseException) -> float:
        delay = self._backoff.next_delay()
        if isinstance(exc, Replaced):
            log.warning("session %s was taken over by another connection", self.config.session_id)
            return REPLACED_DELAY + delay
        return delay

    async def _session(self) -> None:
        async with connect(self.config.url, open_timeout=self.config.connect_timeout) as ws:
            hello_ok = await self._handshake(ws)
            self._ws = ws
            self.hello_ok = hello_ok
            self._backoff.reset()
            self._ready.set()
            log.info("connected: presence %s, status %s", hello_ok.presence_id, hello_ok.status)
            for callback in self.on_hello:
                callback(hello_ok)
            await self._flush_acks()
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    await self._dispatch(raw)
            frames.raise_for_close(ws)

    async def _handshake(self, ws: ClientConnection) -> wire.HelloOk:
        config = self.config
        # Strictly increasing: two hellos in one millisecond would carry the same
        # (deterministic) signature, and the broker refuses a replayed one.
        self._last_timestamp = max(int(time.time() * 1000), self._last_timestamp + 1)
        hello = signed_hello(
            config.identity,
            mesh_id=config.mesh_id,
            member_id=config.member_id,
            session_id=config.session_id,
            pid=config.pid,
            cwd=config.cwd,
            timestamp_ms=self._last_timestamp,
            capabilities=config.capabilities,
        )
        await ws.send(wire.encoder.encode(hello).decode())
        async with asyncio.timeout(config.connect_timeout):
            raw = await ws.recv()
        frame = frames.decode(raw)
        if isinstance(frame, wire.HelloOk):
            return frame
        if isinstance(frame, wire.Error) and frame.code == "unauthorized":
            raise Fatal(f"unauthorized: {frame.message}")
        detail = f"{frame.code}: {frame.message}" if isinstance(frame, wire.Error) else str(raw)
        raise TryAgain(f"hello refused ({detail})")

    def _lost(self) -> None:
        self._ready.clear()
        self._ws = None
        self._pending.fail_all(Disconnected("connection to the broker lost"))

    async def _dispatch(self, raw: str | bytes) -> None:
        frame = frames.decode(raw)
        if isinstance(frame, wire.Push):
            self._on_push(frame)
            await self._flush_acks()
        elif isinstance(frame, wire.Receipt):
            self._receipts.arrived(frame)
        elif frame is not None and not self._pending.resolve(frame):
            frames.log_unmatched(frame)

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

    # ---- waiting

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


__all__ = ["BrokerError", "Incoming", "Peer", "PeerConfig"]
