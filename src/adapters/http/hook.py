"""`POST /hook/set-status`: a Claude Code hook's report, read strictly (JSON only,
bounded), its bearer token passed to the use case; its OpenAPI shape written by hand."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import Request, Response, post
from litestar.openapi.spec import (
    OpenAPIMediaType,
    OpenAPIType,
    Operation,
    Reference,
    RequestBody,
    Schema,
)

from adapters.http.errors import http_error
from adapters.http.responses import gateway_of, json_response
from domain.errors import DomainError, InvalidInput
from domain.model import Status
from domain.usecases.status import HookReport, hook_set_status
from protocol import wire

log = logging.getLogger("meshbroker.hook")


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
        return json_response(415, {"ok": False, "error": "Content-Type must be application/json"})
    try:
        body = wire.hook_decoder.decode(await request.body())
    except (ValueError, RecursionError) as exc:  # msgspec's errors, invalid UTF-8, nesting
        problem = _body_problem(exc)
        log.info("hook refused", extra={"ctx": {"reason": problem}})
        return json_response(400, {"ok": False, "error": problem})
    token = _bearer(request.headers.get("authorization"))
    report = HookReport(body.cwd, body.pid, Status(body.status), body.session_id)
    context = {"cwd": cwd_digest(body.cwd), "pid": body.pid, "status": body.status}
    try:
        outcome = await hook_set_status(gateway_of(request).ctx, report, token)
    except DomainError as exc:
        status, text = http_error(exc)
        if isinstance(exc, InvalidInput):
            text = str(exc)
        log.info("hook refused", extra={"ctx": {**context, "reason": text}})
        return json_response(status, {"ok": False, "error": text})
    log.info(
        "hook",
        extra={"ctx": {**context, "presence_id": outcome.presence_id, "pending": outcome.pending}},
    )
    if outcome.pending:
        return json_response(200, {"ok": True, "pending": True})
    return json_response(200, {"ok": True, "presence_id": outcome.presence_id})


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
