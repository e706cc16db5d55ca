"""The `/ws` endpoint: hello first, then frames in, pushes out. No rule lives here."""

from __future__ import annotations

import logging
from typing import Any

from litestar import WebSocket

from adapters.http.gateway import Gateway
from adapters.http.ws_connection import WsConnection, who
from adapters.http.ws_hello import await_hello, greet
from adapters.http.ws_pipeline import converse
from domain.errors import DomainError
from domain.ports import ConnectionGone
from domain.usecases import connect

log = logging.getLogger("meshbroker.ws")


async def serve_socket(socket: WebSocket[Any, Any, Any], gateway: Gateway) -> None:
    await socket.accept()
    connection = WsConnection(socket, gateway.instance, gateway.write_timeout)
    try:
        welcome = await await_hello(connection, gateway)
    except ConnectionGone:
        return
    if welcome is None:
        return
    connection.authenticated()
    session = welcome.session
    try:
        # From here the session is admitted: whatever happens, it must be disconnected,
        # or its presence would be heartbeated forever.
        await greet(connection, welcome, gateway)
        await converse(connection, session, gateway)
    except ConnectionGone:
        pass  # the peer left while we wrote to it: disconnect below, the server closes
    finally:
        connection.closed = True
        try:
            await connect.disconnect(gateway.ctx, session)
        except DomainError as exc:
            log.warning("disconnect failed", extra={"ctx": {"error": str(exc)}})
        log.info("ws close", extra={"ctx": who(session)})
