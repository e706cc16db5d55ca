"""The operator's commands: meshes, members, revocation."""

from __future__ import annotations

import contextlib
import re
import uuid

from domain.admission import is_pubkey
from domain.errors import CloseReason, InvalidInput, NotFound, StoreUnavailable
from domain.model import Member, Mesh, MeshSummary, Role
from domain.usecases.context import Context

_SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def slugify(name: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", name.lower()))


async def create_mesh(ctx: Context, name: str, slug: str | None = None) -> Mesh:
    name = name.strip()
    if not name:
        raise InvalidInput("--name must not be empty")
    slug = slugify(name) if slug is None else slug
    if _SLUG.fullmatch(slug) is None or len(slug) > 64:
        raise InvalidInput("--slug takes lowercase letters, digits and single dashes, at most 64")
    return await ctx.admin.create_mesh(Mesh(str(uuid.uuid4()), name, slug))


async def list_meshes(ctx: Context) -> list[MeshSummary]:
    return await ctx.admin.meshes()


async def find_mesh(ctx: Context, id_or_slug: str) -> Mesh:
    mesh = await ctx.admin.find_mesh(id_or_slug)
    if mesh is None:
        raise NotFound(f"no mesh with id or slug {id_or_slug!r}")
    return mesh


async def add_member(
    ctx: Context, mesh_ref: str, pubkey: str, name: str, role: Role = Role.MEMBER
) -> Member:
    if not is_pubkey(pubkey):
        raise InvalidInput("--pubkey takes 64 lowercase hex characters")
    if not name.strip():
        raise InvalidInput("--name must not be empty")
    mesh = await find_mesh(ctx, mesh_ref)
    member = await ctx.admin.add_member(
        Member(str(uuid.uuid4()), mesh.id, pubkey, name.strip(), role)
    )
    # Instances forget the mesh's cached member list, so broadcasts reach the new member
    # at once (a lookup by its pubkey or id was a miss, never cached). If that cannot be
    # published, the member is still added: cached lists age out within seconds.
    with contextlib.suppress(StoreUnavailable):
        await ctx.notifier.member_changed(mesh.id, member.id)
    return member


async def list_members(ctx: Context, mesh_ref: str) -> list[Member]:
    mesh = await find_mesh(ctx, mesh_ref)
    return await ctx.directory.members(mesh.id)


async def revoke_member(ctx: Context, mesh_ref: str, member_id: str) -> Member:
    """Revoke, make every instance forget the member, end its presences at once and
    close its live sockets."""
    mesh = await find_mesh(ctx, mesh_ref)
    now = ctx.clock.now()
    member = await ctx.admin.revoke_member(mesh.id, member_id, now)
    # Before the kicks: an instance forgets the member before it closes the socket, so
    # neither a send to it nor its own reconnecting hello meets a cached, unrevoked copy.
    await ctx.notifier.member_changed(mesh.id, member.id)
    for presence in await ctx.presences.end_member(member.id, now):
        if presence.connection_id is not None:
            await ctx.notifier.kick(presence.connection_id, CloseReason.REVOKED)
    return member
