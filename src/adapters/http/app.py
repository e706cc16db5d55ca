"""The Litestar application: four routes, one port, no rule of the broker in them."""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, WebSocket, get, websocket
from litestar.exceptions import HTTPException

from adapters.http.gateway import Gateway
from adapters.http.hook import hook
from adapters.http.join import join_mesh
from adapters.http.responses import gateway_of, json_response
from adapters.http.ws import serve_socket


@websocket("/ws")
async def peer_socket(socket: WebSocket[Any, Any, Any]) -> None:
    await serve_socket(socket, gateway_of(socket))


@get("/health")
async def health(request: Request[Any, Any, Any]) -> Response[bytes]:
    """200 while Postgres answers, 503 while it does not."""
    gateway = gateway_of(request)
    up = gateway.healthy()
    body = {"status": "ok" if up else "degraded", "db": "up" if up else "down"}
    return json_response(200 if up else 503, {**body, **gateway.health_info()})


@get("/metrics")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text exposition."""
    body, content_type = gateway_of(request).render_metrics()
    return Response(body, status_code=200, headers={"content-type": content_type})


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 413:
        return json_response(413, {"ok": False, "error": "payload too large"})
    return json_response(exc.status_code, {"ok": False, "error": exc.detail})


def create_app(gateway: Gateway, debug: bool = False, openapi: bool = True) -> Litestar:
    """`openapi=False` (NODE_ENV=production) serves no OpenAPI document or UI."""
    extra: dict[str, Any] = {} if openapi else {"openapi_config": None}
    app = Litestar(
        route_handlers=[peer_socket, hook, join_mesh, health, metrics],
        request_max_body_size=gateway.ctx.policy.max_message_bytes,
        exception_handlers={HTTPException: _http_error},
        debug=debug,
        logging_config=None,
        **extra,
    )
    app.state.gateway = gateway
    return app
