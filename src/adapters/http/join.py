"""`POST /join`: a new key redeems an invite (../shared/spec/join.md)."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response, post

from adapters.http.errors import http_error
from adapters.http.gateway import Gateway
from adapters.http.responses import json_response
from domain.errors import DomainError, InvalidInput
from domain.invites import JoinRequest
from domain.usecases.invites import join

log = logging.getLogger("meshbroker.join")


class JoinBody(msgspec.Struct, forbid_unknown_fields=False):
    token: str
    pubkey: str
    name: str
    signature: str


_decoder = msgspec.json.Decoder(JoinBody)


@post("/join", status_code=201)
async def join_mesh(request: Request[Any, Any, Any], data: JoinBody) -> Response[bytes]:
    """Add the signed key to the invite's mesh: 201, or 400/401/409/413/429."""
    gateway: Gateway = request.app.state.gateway
    address = request.client.host if request.client else "unknown"
    join_request = JoinRequest(data.token, data.pubkey, data.name, data.signature)
    try:
        joined = await join(gateway.ctx, join_request, address)
    except InvalidInput as exc:
        log.info("join refused", extra={"ctx": {"address": address, "reason": "bad request"}})
        return json_response(400, {"ok": False, "error": str(exc)})
    except DomainError as exc:
        status, text = http_error(exc)
        log.info("join refused", extra={"ctx": {"address": address, "status": status}})
        return json_response(status, {"ok": False, "error": text})
    member = joined.member
    context = {"mesh_id": member.mesh_id, "member_id": member.id, "invite_id": joined.invite_id}
    log.info("join", extra={"ctx": context})
    return json_response(
        201,
        {
            "meshId": member.mesh_id,
            "memberId": member.id,
            "meshName": joined.mesh.name,
            "role": member.role.value,
        },
    )
