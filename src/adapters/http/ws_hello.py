"""The hello phase: a text hello within the deadline, its refusal mapped and closed,
then hello_ok and the mail that waits."""

from __future__ import annotations

import asyncio
import logging

import msgspec

from adapters.http import frames
from adapters.http.errors import (
    HELLO_TIMEOUT,
    hello_refusal,
)
from adapters.http.gateway import Gateway
from adapters.http.ws_connection import WsConnection, receive, who
from domain.errors import DomainError
from domain.usecases import connect
from protocol import wire

log = logging.getLogger("meshbroker.ws")


BINARY_BEFORE_HELLO = "frames must be text (JSON): say hello in a text frame"


async def await_hello(connection: WsConnection, gateway: Gateway) -> connect.Welcome | None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + gateway.hello_timeout
    while True:
        try:
            async with asyncio.timeout_at(deadline):
                payload = await receive(connection)
        except TimeoutError:
            gateway.ctx.metrics.connection_rejected("hello_timeout")
            await connection.close_with(HELLO_TIMEOUT)
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
        code, close = hello_refusal(exc)
        log.info("ws refused", extra={"ctx": {"code": code, "member_id": frame.member_id}})
        await connection.send_text(frames.error(code, str(exc)))
        await connection.close_with(close)
        return None


async def greet(connection: WsConnection, welcome: connect.Welcome, gateway: Gateway) -> None:
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
    log.info("ws hello", extra={"ctx": {**who(session), "status": session.status.value}})
    await gateway.ctx.notifier.wake([session.member_id])
