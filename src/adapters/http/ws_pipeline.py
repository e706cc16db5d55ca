"""After hello: frames read and started in order, replies written in the same order, at
most Policy.pipeline_depth in flight (ADR 0017)."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec

from adapters.http import frames
from adapters.http.errors import INTERNAL
from adapters.http.gateway import Gateway
from adapters.http.ws_connection import WsConnection, receive
from adapters.http.ws_dispatch import dispatch
from adapters.http.ws_replies import Farewell, Reply, start
from domain.ports import ConnectionGone
from domain.sessions import Session
from protocol import wire


async def converse(connection: WsConnection, session: Session, gateway: Gateway) -> None:
    """Read frames and start their work in order; a writer sends the replies in the
    same order as each one is ready (ADR 0017). Once the peer is gone the session is
    disconnected at once; the work already started finishes on its own."""
    replies: asyncio.Queue[Reply] = asyncio.Queue()
    room = asyncio.Semaphore(gateway.ctx.policy.pipeline_depth)
    start(_write_replies(connection, replies, room))
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
        payload = await receive(connection)
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
        reply = await dispatch(frame, size, session, gateway)
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
                # recipients. A failed task was logged by settled.
                reply = await asyncio.shield(reply)
            if isinstance(reply, Farewell):
                with contextlib.suppress(ConnectionGone):
                    await connection.send_text(reply.text)
                await connection.close(reply.reason)
            elif reply is not None and not connection.closed:
                with contextlib.suppress(ConnectionGone):  # the reader sees the close next
                    await connection.send_text(reply)
        except Exception:
            await connection.close_with(INTERNAL)
        finally:
            room.release()


def _refusal(payload: str, problem: str, code: str, gateway: Gateway) -> str:
    reply, was_send = frames.refusal(payload, problem, code)
    if was_send:
        gateway.ctx.metrics.message_rejected(code)
    return reply
