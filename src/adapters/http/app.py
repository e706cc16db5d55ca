"""The Litestar application: four routes, one port, no rule of the broker in them."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, WebSocket, get, post, websocket
from litestar.exceptions import HTTPException
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)

from adapters import wire
from adapters.http.errors import HOOK_ERRORS
from adapters.http.gateway import Gateway
from adapters.http.join import join_mesh
from adapters.http.ws import serve_socket
from domain.errors import DomainError, InvalidInput
from domain.model import Status
from domain.usecases.status import HookReport, hook_set_status

log = logging.getLogger("meshbroker.hook")


def _gateway(connection: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> Gateway:
    gateway: Gateway = connection.app.state.gateway
    return gateway


def _json(status: int, body: dict[str, object]) -> Response[bytes]:
    return Response(wire.encoder.encode(body), status_code=status, media_type="application/json")


@websocket("/ws")
async def peer_socket(socket: WebSocket[Any, Any, Any]) -> None:
    await serve_socket(socket, _gateway(socket))


@dataclass
class HookOperation(Operation):
    """The hook handler reads its body itself (to answer in the protocol's shape), so
    the OpenAPI document is told what that body is, from the same Struct."""

    def __post_init__(self) -> None:
        spec = msgspec.json.schema(wire.HookBody)["$defs"]["HookBody"]
        properties: dict[str, Schema | Reference] = {
            name: _schema(field) for name, field in spec["properties"].items()
        }
        body = Schema(type=OpenAPIType.OBJECT, required=spec["required"], properties=properties)
        self.request_body = RequestBody(
            content={"application/json": OpenAPIMediaType(schema=body)}, required=True
        )


_TYPES = {"string": OpenAPIType.STRING, "integer": OpenAPIType.INTEGER, "null": OpenAPIType.NULL}
_KEYWORDS = {
    "minLength": "min_length",
    "maxLength": "max_length",
    "minimum": "minimum",
    "maximum": "maximum",
    "pattern": "pattern",
    "enum": "enum",
}


def _schema(field: dict[str, Any]) -> Schema:
    """A msgspec JSON-schema property as Litestar's Schema; `X | None` as a type list."""
    variants = field.get("anyOf", [field])
    types = [_TYPES[v["type"]] for v in variants if "type" in v]
    keywords = {name: v[key] for v in variants for key, name in _KEYWORDS.items() if key in v}
    kind: Any = types[0] if len(types) == 1 else (types or None)
    return Schema(type=kind, **keywords)


@post("/hook/set-status", status_code=200, operation_class=HookOperation)
async def hook(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Claude Code hook scripts report a session's status."""
    media_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    if media_type != "application/json":
        # What a web page can send without a preflight is never JSON (issue 15).
        log.info("hook refused", extra={"ctx": {"reason": "content type", "type": media_type}})
        return _json(415, {"ok": False, "error": "Content-Type must be application/json"})
    try:
        body = wire.hook_decoder.decode(await request.body())
    except (ValueError, RecursionError) as exc:  # msgspec's errors, invalid UTF-8, nesting
        problem = _body_problem(exc)
        log.info("hook refused", extra={"ctx": {"reason": problem}})
        return _json(400, {"ok": False, "error": problem})
    token = _bearer(request.headers.get("authorization"))
    report = HookReport(body.cwd, body.pid, Status(body.status), body.session_id)
    context = {"cwd": cwd_digest(body.cwd), "pid": body.pid, "status": body.status}
    try:
        outcome = await hook_set_status(_gateway(request).ctx, report, token)
    except DomainError as exc:
        status, text = HOOK_ERRORS.get(type(exc), (500, "internal"))
        if isinstance(exc, InvalidInput):
            text = str(exc)
        log.info("hook refused", extra={"ctx": {**context, "reason": text}})
        return _json(status, {"ok": False, "error": text})
    log.info(
        "hook",
        extra={"ctx": {**context, "presence_id": outcome.presence_id, "pending": outcome.pending}},
    )
    if outcome.pending:
        return _json(200, {"ok": True, "pending": True})
    return _json(200, {"ok": True, "presence_id": outcome.presence_id})


def _body_problem(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "body is not valid UTF-8"
    if isinstance(exc, RecursionError):
        return "body is nested too deeply"
    return str(exc)


def cwd_digest(cwd: str) -> str:
    """What the log keeps of a working directory: its last segment and a short digest
    (the whole path can be long, and says more than the log needs)."""
    last = cwd.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1][:64]
    digest = hashlib.sha256(cwd.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{last}#{digest}"


def _bearer(header: str | None) -> str | None:
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    # A malformed header is a token that matches nothing: the use case answers 401.
    return token.strip() if scheme.lower() == "bearer" and token.strip() else header


@get("/health")
async def health(request: Request[Any, Any, Any]) -> Response[bytes]:
    """200 while Postgres answers, 503 while it does not."""
    gateway = _gateway(request)
    up = gateway.healthy()
    body = {"status": "ok" if up else "degraded", "db": "up" if up else "down"}
    return _json(200 if up else 503, {**body, **gateway.health_info()})


@get("/metrics")
async def metrics(request: Request[Any, Any, Any]) -> Response[bytes]:
    """Prometheus text exposition."""
    body, content_type = _gateway(request).render_metrics()
    return Response(body, status_code=200, headers={"content-type": content_type})


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    if exc.status_code == 413:
        return _json(413, {"ok": False, "error": "payload too large"})
    return _json(exc.status_code, {"ok": False, "error": exc.detail})


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
