"""The `/ws` endpoint: hello first, then frames in, pushes out. No rule lives here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import WebSocket
from litestar.types import WebSocketSendEvent

from adapters import wire
from adapters.http import frames
from adapters.http.errors import HELLO_REFUSALS, ws_code
from adapters.http.gateway import Gateway
from adapters.http.guard import transport_control
from domain.errors import DomainError, Rejected, Revoked
from domain.model import Message, Priority, Status
from domain.ports import Connection, ConnectionGone
from domain.receipts import Receipt
from domain.sessions import Session
from domain.usecases import connect, deliver, peers, receipts, send, status, watch
from domain.usecases.admin import CLOSE_REVOKED
from domain.watches import PeerIdle

log = logging.getLogger("meshbroker.ws")


class WsConnection(Connection):
    """One accepted socket. Writes go straight to the ASGI server, each within
    `write_timeout`: a peer that does not take its data by then (its buffers are full:
    suspended, stuck, or behind a proxy that buffers) has its transport aborted, and
    counts as gone (docs/adr/0024-hostile-clients.md)."""

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
        try:
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

    async def close(self, code: int, reason: str) -> None:
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


async def serve_socket(socket: WebSocket[Any, Any, Any], gateway: Gateway) -> None:
    await socket.accept()
    connection = WsConnection(socket, gateway.instance, gateway.write_timeout)
    try:
        welcome = await _await_hello(connection, gateway)
    except ConnectionGone:
        return
    if welcome is None:
        return
    connection.authenticated()
    session = welcome.session
    try:
        # From here the session is admitted: whatever happens, it must be disconnected,
        # or its presence would be heartbeated forever.
        await _greet(connection, welcome, gateway)
        await _converse(connection, session, gateway)
    except ConnectionGone:
        pass  # the peer left while we wrote to it: disconnect below, the server closes
    finally:
        connection.closed = True
        try:
            await connect.disconnect(gateway.ctx, session)
        except DomainError as exc:
            log.warning("disconnect failed", extra={"ctx": {"error": str(exc)}})
        log.info("ws close", extra={"ctx": _who(session)})


def _who(session: Session) -> dict[str, str]:
    return {
        "presence_id": session.presence_id,
        "mesh_id": session.mesh_id,
        "member_id": session.member_id,
        "session_id": session.session_id,
    }


async def _receive(connection: WsConnection) -> str | bytes | None:
    """The next frame's payload, or None once the peer is gone."""
    event = await connection.socket.receive()
    if event["type"] != "websocket.receive":
        return None
    payload: str | bytes | None = event.get("text")
    return payload if payload is not None else event.get("bytes") or b""


BINARY_BEFORE_HELLO = "frames must be text (JSON): say hello in a text frame"


async def _await_hello(connection: WsConnection, gateway: Gateway) -> connect.Welcome | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + gateway.hello_timeout
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                payload = await _receive(connection)
        except TimeoutError:
            gateway.ctx.metrics.connection_rejected("hello_timeout")
            await connection.close(1008, "hello timeout")
            return None
        if payload is None:
            return None
        if isinstance(payload, bytes):  # a hello too must be text (protocol.md: no_hello)
            await connection.send_text(frames.error("no_hello", BINARY_BEFORE_HELLO))
            continue
        try:
            frame = wire.client_decoder.decode(payload)
        except msgspec.ValidationError as exc:
            await connection.send_text(_hello_problem(payload, str(exc)))
            continue
        except (msgspec.DecodeError, RecursionError):
            await connection.send_text(frames.error("no_hello", "say hello first"))
            continue
        if not isinstance(frame, wire.Hello):
            await connection.send_text(frames.error("no_hello", "say hello first"))
            continue
        return await _hello(connection, frame, gateway)


def _hello_problem(payload: str | bytes, problem: str) -> str:
    try:
        kind = msgspec.json.decode(payload).get("type")
    except (msgspec.DecodeError, AttributeError, RecursionError):
        kind = None
    if kind == "hello":
        return frames.error("invalid", problem)
    return frames.error("no_hello", "say hello first")


async def _hello(
    connection: WsConnection, frame: wire.Hello, gateway: Gateway
) -> connect.Welcome | None:
    try:
        return await connect.hello(gateway.ctx, connection, frames.to_hello(frame))
    except DomainError as exc:
        code, close_code, reason = HELLO_REFUSALS.get(type(exc), ("internal", 1011, "internal"))
        log.info("ws refused", extra={"ctx": {"code": code, "member_id": frame.member_id}})
        await connection.send_text(frames.error(code, str(exc)))
        await connection.close(close_code, reason)
        return None


async def _greet(connection: WsConnection, welcome: connect.Welcome, gateway: Gateway) -> None:
    """hello_ok first, then whatever mail waits for this session."""
    session = welcome.session
    hello_ok = wire.HelloOk(
        presence_id=session.presence_id,
        mesh_id=session.mesh_id,
        member_id=session.member_id,
        status=welcome.presence.status.status.value,
        hook_token=welcome.hook_token,
    )
    await connection.send_text(frames.text(hello_ok))
    log.info("ws hello", extra={"ctx": {**_who(session), "status": session.status.value}})
    await gateway.ctx.notifier.wake([session.member_id])


# Frames a socket may have in flight: sends committing, client_acks deleting. The
# replies go out in frame order. When this many wait, the socket is not read until
# the oldest is answered: a sender's backlog stays in its own TCP buffers.
PIPELINE_DEPTH = 64


@dataclass(frozen=True, slots=True)
class Farewell:
    """A last reply: written, then the socket is closed with `code`."""

    text: str
    code: int
    reason: str


Reply = str | asyncio.Task[str | None] | Farewell | None


async def _converse(connection: WsConnection, session: Session, gateway: Gateway) -> None:
    """Read frames and start their work in order; a writer sends the replies in the
    same order as each one is ready (ADR 0017). Once the peer is gone the session is
    disconnected at once; the work already started finishes on its own."""
    replies: asyncio.Queue[Reply] = asyncio.Queue()
    room = asyncio.Semaphore(PIPELINE_DEPTH)
    _start(_write_replies(connection, replies, room))
    try:
        while not connection.closed:
            await room.acquire()
            reply = await _next_reply(connection, session, gateway)
            if reply is None:
                return
            replies.put_nowait(reply)
    finally:
        connection.closed = True  # nothing more is written to this socket
        replies.put_nowait(None)


async def _next_reply(connection: WsConnection, session: Session, gateway: Gateway) -> Reply:
    """The reply to the next frame (text now, or a task that will have it); None once
    the peer is gone."""
    limit = gateway.ctx.policy.max_message_bytes
    while True:
        payload = await _receive(connection)
        if payload is None:
            return None
        if isinstance(payload, bytes):
            return frames.error("invalid", "frames must be text (JSON)")
        size = len(payload) if len(payload) * 4 <= limit else len(payload.encode())
        try:
            frame = wire.client_decoder.decode(payload)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
            code = "too_large" if size > limit else "invalid"
            return _refusal(payload, str(exc), code, gateway)
        if size > limit and not isinstance(frame, wire.Send):
            return _refusal(payload, f"frame exceeds {limit} bytes", "too_large", gateway)
        reply = await _dispatch(frame, size, session, gateway)
        if reply is not None:
            return reply


async def _write_replies(
    connection: WsConnection, replies: asyncio.Queue[Reply], room: asyncio.Semaphore
) -> None:
    """Write each reply in turn, freeing its room once written. Once the socket is gone
    the rest are still awaited (the work they stand for finishes) but not written."""
    while (reply := await replies.get()) is not None:
        try:
            if isinstance(reply, asyncio.Task):
                # Shielded: were this writer cancelled, the send would still wake its
                # recipients. A failed task was logged by _settled.
                reply = await asyncio.shield(reply)
            if isinstance(reply, Farewell):
                with contextlib.suppress(ConnectionGone):
                    await connection.send_text(reply.text)
                await connection.close(reply.code, reply.reason)
            elif reply is not None and not connection.closed:
                with contextlib.suppress(ConnectionGone):  # the reader sees the close next
                    await connection.send_text(reply)
        except Exception:
            await connection.close(1011, "internal error")
        finally:
            room.release()


def _refusal(payload: str, problem: str, code: str, gateway: Gateway) -> str:
    reply, was_send = frames.refusal(payload, problem, code)
    if was_send:
        gateway.ctx.metrics.message_rejected(code)
    return reply


async def _dispatch(
    frame: wire.ClientFrame, size: int, session: Session, gateway: Gateway
) -> Reply:
    ctx = gateway.ctx
    match frame:
        case wire.Send():
            return await _send(frame, size, session, gateway)
        case wire.ClientAck():
            return _start(_acked(deliver.client_ack(ctx, session, frame.message_ids)))
        case wire.SetStatus():
            record = await _guard(status.set_status(ctx, session, Status(frame.status)))
            if isinstance(record, str):
                return record
            log.info("ws set_status", extra={"ctx": {**_who(session), "status": frame.status}})
            return frames.text(
                wire.StatusReply(
                    presence_id=session.presence_id,
                    status=record.status.value,
                    source=record.source.value,
                )
            )
        case wire.ListPeers():
            listed = await _guard(peers.list_peers(ctx, session), frame.id)
            if isinstance(listed, str):
                return listed
            return frames.text(wire.Peers(peers=[frames.peer(p) for p in listed], id=frame.id))
        case wire.ListMembers():
            roster = await _guard(peers.list_members(ctx, session), frame.id)
            if isinstance(roster, str):
                return roster
            members = [frames.member(m) for m in roster]
            return frames.text(wire.Members(members=members, id=frame.id))
        case wire.Hello():
            return frames.error("invalid", "this connection already said hello")
        case wire.MessageStatus() | wire.Watch() | wire.Unwatch():
            return await _sender_view(frame, session, gateway)
    return None


async def _sender_view(
    frame: wire.MessageStatus | wire.Watch | wire.Unwatch, session: Session, gateway: Gateway
) -> Reply:
    """message_status, watch and unwatch (spec/receipts.md)."""
    ctx = gateway.ctx
    match frame:
        case wire.MessageStatus():
            reports = await _guard(
                receipts.message_status(ctx, session, frame.message_id), frame.id
            )
            if isinstance(reports, str):
                return reports
            return frames.text(
                wire.MessageStatusReply(
                    message_id=frame.message_id,
                    recipients=[frames.recipient_status(r) for r in reports],
                    id=frame.id,
                )
            )
        case wire.Watch():
            answer = await _guard(watch.watch(ctx, session, frame.id, frame.pubkey), frame.id)
            if isinstance(answer, PeerIdle):
                return frames.event_text(answer)
            return answer  # type: ignore[no-any-return]
        case wire.Unwatch():
            await watch.unwatch(ctx, session, frame.id)
    return None


async def _guard(work: Any, echo: wire.Echo = None) -> Any:
    """Run a use case; a domain failure becomes the `error` frame to send instead."""
    try:
        return await work
    except DomainError as exc:
        return frames.error(ws_code(exc), str(exc), echo)


async def _acked(work: Coroutine[Any, Any, int]) -> None:
    """A client_ack has no reply, not even when it fails (protocol.md)."""
    await _guard(work)


# Frames' tasks and sockets' writers still running: held here so that none is
# collected before it ends, even when its socket is gone.
_running: set[asyncio.Task[str | None]] = set()


def _start(work: Coroutine[Any, Any, str | None]) -> asyncio.Task[str | None]:
    task = asyncio.get_running_loop().create_task(work)
    _running.add(task)
    task.add_done_callback(_settled)
    return task


def _settled(task: asyncio.Task[str | None]) -> None:
    _running.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("frame failed", exc_info=error)


async def _send(frame: wire.Send, size: int, session: Session, gateway: Gateway) -> Reply:
    """Check the send now, in frame order; commit it in a task of its own, so that
    the next frames are read while it waits for its group commit."""
    request = send.SendRequest(
        target_spec=frame.target_spec,
        nonce=frame.nonce,
        ciphertext=frame.ciphertext,
        priority=Priority(frame.priority),
        ttl_seconds=frame.ttl_seconds,
        frame_bytes=size,
        escalate_after_seconds=frame.escalate_after_seconds,
    )
    try:
        outgoing = await send.prepare(gateway.ctx, session, request)
    except Revoked as exc:  # revoked since its hello: closed as a revocation closes it
        log.info("ws sender revoked", extra={"ctx": _who(session)})
        return Farewell(_refused_ack(frame, exc), CLOSE_REVOKED, "revoked")
    except DomainError as exc:
        return _refused_ack(frame, exc)
    return _start(_commit(frame, outgoing, gateway))


async def _commit(frame: wire.Send, outgoing: send.Outgoing, gateway: Gateway) -> str:
    try:
        message_id = await send.commit(gateway.ctx, outgoing)
    except DomainError as exc:
        return _refused_ack(frame, exc)
    return frames.text(
        wire.Ack(
            queued=True,
            id=frame.id,
            message_id=message_id,
            escalate_after_seconds=frame.escalate_after_seconds,
        )
    )


def _refused_ack(frame: wire.Send, exc: DomainError) -> str:
    code = exc.code if isinstance(exc, Rejected) else "unavailable"
    return frames.text(wire.Ack(queued=False, id=frame.id, error=code))
