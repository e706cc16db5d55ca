from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from domain.errors import Conflict, NotFound
from domain.model import Member, Mesh, MeshSummary
from domain.ports import MemberDirectory, MeshAdmin


class InMemoryDirectory(MemberDirectory, MeshAdmin):
    def __init__(self) -> None:
        self.meshes_by_id: dict[str, Mesh] = {}
        self.members_by_id: dict[str, Member] = {}
        self.online_count: Callable[[str], int] = _nobody_online

    async def member(self, mesh_id: str, member_id: str) -> Member | None:
        member = self.members_by_id.get(member_id)
        return member if member is not None and member.mesh_id == mesh_id else None

    async def member_by_pubkey(self, mesh_id: str, pubkey: str) -> Member | None:
        return next((m for m in self._of(mesh_id) if m.pubkey == pubkey), None)

    async def members(self, mesh_id: str) -> list[Member]:
        return self._of(mesh_id)

    def _of(self, mesh_id: str) -> list[Member]:
        return [m for m in self.members_by_id.values() if m.mesh_id == mesh_id]

    async def create_mesh(self, mesh: Mesh) -> Mesh:
        if any(m.slug == mesh.slug for m in self.meshes_by_id.values()):
            raise Conflict(f"a mesh with slug {mesh.slug!r} exists")
        self.meshes_by_id[mesh.id] = mesh
        return mesh

    async def find_mesh(self, id_or_slug: str) -> Mesh | None:
        found = self.meshes_by_id.get(id_or_slug)
        return found or next((m for m in self.meshes_by_id.values() if m.slug == id_or_slug), None)

    async def meshes(self) -> list[MeshSummary]:
        return [
            MeshSummary(mesh, len(self._of(mesh.id)), self.online_count(mesh.id))
            for mesh in sorted(self.meshes_by_id.values(), key=lambda m: m.slug)
        ]

    async def add_member(self, member: Member) -> Member:
        if await self.member_by_pubkey(member.mesh_id, member.pubkey) is not None:
            raise Conflict("this mesh already has a member with that pubkey")
        self.members_by_id[member.id] = member
        return member

    async def revoke_member(self, mesh_id: str, member_id: str, now: datetime) -> Member:
        member = await self.member(mesh_id, member_id)
        if member is None:
            raise NotFound(f"no member {member_id!r} in this mesh")
        if member.revoked_at is None:
            member = replace(member, revoked_at=now)
            self.members_by_id[member_id] = member
        return member


def _nobody_online(mesh_id: str) -> int:
    return 0
