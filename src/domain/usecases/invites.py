"""Invites: the operator creates, lists and revokes them; a new member redeems one
with `POST /join` (docs: ../shared/spec/join.md)."""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass

from domain.errors import Conflict, InvalidInput, InvalidInvite, RateLimited, StoreUnavailable
from domain.invites import (
    DEFAULT_EXPIRY,
    DEFAULT_USES,
    Invite,
    JoinRequest,
    check_join,
    check_uses,
    hash_token,
    new_token,
    parse_expiry,
)
from domain.model import Member, Mesh, Role
from domain.ports import Joiner
from domain.usecases.admin import find_mesh
from domain.usecases.context import Context


@dataclass(frozen=True, slots=True)
class Issued:
    """A new invite and its token: the only time the token exists outside the invite string."""

    invite: Invite
    token: str


@dataclass(frozen=True, slots=True)
class Joined:
    mesh: Mesh
    member: Member
    invite_id: str


async def create_invite(
    ctx: Context,
    mesh_ref: str,
    uses: int = DEFAULT_USES,
    expires: str | None = None,
    role: Role = Role.MEMBER,
) -> tuple[Mesh, Issued]:
    lifetime = DEFAULT_EXPIRY if expires is None else parse_expiry(expires)
    check_uses(uses)
    mesh = await find_mesh(ctx, mesh_ref)
    now = ctx.clock.now()
    token = new_token()
    invite = Invite(
        id=str(uuid.uuid4()),
        mesh_id=mesh.id,
        token_hash=hash_token(token),
        role=role,
        uses=uses,
        used=0,
        created_at=now,
        expires_at=now + lifetime,
    )
    return mesh, Issued(await ctx.invites.create_invite(invite), token)


async def list_invites(ctx: Context, mesh_ref: str) -> list[Invite]:
    mesh = await find_mesh(ctx, mesh_ref)
    return await ctx.invites.invites(mesh.id)


async def revoke_invite(ctx: Context, mesh_ref: str, invite_id: str) -> Invite:
    mesh = await find_mesh(ctx, mesh_ref)
    return await ctx.invites.revoke_invite(mesh.id, invite_id, ctx.clock.now())


async def join(ctx: Context, request: JoinRequest, address: str) -> Joined:
    """Add the request's key to the invite's mesh, counting one use. Raises
    RateLimited (too many attempts from `address`), InvalidInput (bad request),
    InvalidInvite (unknown, expired, used-up or revoked: one answer for all) or
    Conflict (the key is already a member)."""
    now = ctx.clock.now()
    if not ctx.join_buckets.take(address, now.timestamp()):
        ctx.metrics.join_attempt("rate_limited")
        raise RateLimited("too many join attempts from this address")
    try:
        check_join(request)
        joiner = Joiner(str(uuid.uuid4()), request.pubkey, request.name)
        invite, member = await ctx.invites.redeem(hash_token(request.token), joiner, now)
    except (InvalidInput, InvalidInvite):
        ctx.metrics.join_attempt("invalid")
        raise
    except Conflict:
        ctx.metrics.join_attempt("conflict")
        raise
    ctx.metrics.join_attempt("joined")
    # As after `member add`: instances forget the mesh's cached member list.
    with contextlib.suppress(StoreUnavailable):
        await ctx.notifier.member_changed(member.mesh_id, member.id)
    return Joined(await find_mesh(ctx, member.mesh_id), member, invite.id)
