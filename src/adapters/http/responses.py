"""What every route shares: the gateway the app was built with, and a JSON answer
encoded once."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, WebSocket

from adapters.http.gateway import Gateway
from protocol import wire


def gateway_of(connection: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> Gateway:
    gateway: Gateway = connection.app.state.gateway
    return gateway


def json_response(status: int, body: dict[str, object]) -> Response[bytes]:
    return Response(wire.encoder.encode(body), status_code=status, media_type="application/json")
