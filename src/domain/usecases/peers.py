"""Who is in the mesh right now."""

from __future__ import annotations

from domain.model import Member, PeerView
from domain.sessions import Session
from domain.usecases.context import Context


async def list_peers(ctx: Context, session: Session) -> list[PeerView]:
    """Every unended presence of the caller's mesh, on every instance, the caller's own
    included, except other sessions' transient ones: a model need not see throwaway
    sessions of one-shot commands (nor address mail to them)."""
    views = await ctx.presences.peers(session.mesh_id)
    return [p for p in views if not p.transient or p.presence_id == session.presence_id]


async def list_members(ctx: Context, session: Session) -> list[Member]:
    """Every unrevoked member of the caller's mesh, connected or not, in the order they
    were added: whom a peer may address (and encrypt to) by name, offline ones too."""
    return [m for m in await ctx.directory.members(session.mesh_id) if not m.revoked]
