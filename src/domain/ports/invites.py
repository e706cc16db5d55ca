"""Invites and the joins they allow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.invites import Invite
from domain.model import (
    Member,
)


@dataclass(frozen=True, slots=True)
class Joiner:
    """A new member as a join names it; its mesh and role come from the invite."""

    member_id: str
    pubkey: str
    display_name: str


class InviteStore(Protocol):
    async def create_invite(self, invite: Invite) -> Invite: ...

    async def invites(self, mesh_id: str) -> list[Invite]:
        """The mesh's invites, oldest first, revoked and used-up ones included."""
        ...

    async def revoke_invite(self, mesh_id: str, invite_id: str, now: datetime) -> Invite:
        """Raise NotFound for an unknown invite; revoking twice keeps the first time."""
        ...

    async def redeem(self, token_hash: str, joiner: Joiner, now: datetime) -> tuple[Invite, Member]:
        """Atomically: take the invite with this token hash if it is `usable` at `now`,
        add the joiner to its mesh with its role, and count one use. Of joins racing
        for the last use exactly one succeeds. Raise InvalidInvite when no usable
        invite has this hash, Conflict when the mesh already has this pubkey (then no
        use is counted). Returns the invite as counted and the new member."""
        ...
