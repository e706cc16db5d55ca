"""Who is in the mesh right now."""

from __future__ import annotations

from domain.model import PeerView
from domain.sessions import Session
from domain.usecases.context import Context


async def list_peers(ctx: Context, session: Session) -> list[PeerView]:
    """Every unended presence of the caller's mesh, on every instance, the caller's own included."""
    return await ctx.presences.peers(session.mesh_id)
