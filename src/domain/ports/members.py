"""Members and meshes: the lookups (cached) and the admin verbs."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.model import (
    Member,
    Mesh,
    MeshSummary,
)


class MemberDirectory(Protocol):
    async def member(self, mesh_id: str, member_id: str) -> Member | None: ...

    async def member_by_pubkey(self, mesh_id: str, pubkey: str) -> Member | None: ...

    async def members(self, mesh_id: str) -> list[Member]:
        """Every member of the mesh, revoked ones included."""
        ...


class MeshAdmin(Protocol):
    async def create_mesh(self, mesh: Mesh) -> Mesh:
        """Raise Conflict when the slug is taken."""
        ...

    async def find_mesh(self, id_or_slug: str) -> Mesh | None: ...

    async def meshes(self) -> list[MeshSummary]: ...

    async def add_member(self, member: Member) -> Member:
        """Raise Conflict when the mesh already has a member with this pubkey."""
        ...

    async def revoke_member(self, mesh_id: str, member_id: str, now: datetime) -> Member:
        """Raise NotFound for an unknown member; revoking twice keeps the first time."""
        ...
