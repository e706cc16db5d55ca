"""Meshes and members: the directory the hello checks and the admin commands write."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.batch import Batcher
from adapters.postgres.database import Connection, Database, Record
from domain.errors import Conflict, NotFound
from domain.model import Member, Mesh, MeshSummary, Role
from domain.ports import MemberDirectory, MeshAdmin

_MEMBER = "id, mesh_id, pubkey, display_name, role, revoked_at"


def member_from(row: Record) -> Member:
    return Member(
        id=row["id"],
        mesh_id=row["mesh_id"],
        pubkey=row["pubkey"],
        display_name=row["display_name"],
        role=Role(row["role"]),
        revoked_at=row["revoked_at"],
    )


def mesh_from(row: Record) -> Mesh:
    return Mesh(id=row["id"], name=row["name"], slug=row["slug"])


class PostgresDirectory(MemberDirectory, MeshAdmin):
    def __init__(self, db: Database) -> None:
        self.db = db
        # Lookups by id in flight together share one statement (issue 18): a reconnect
        # storm after a deploy misses the member cache once per member, and each miss
        # would otherwise be a round trip and a pool connection of its own.
        self._by_id: Batcher[tuple[str, str], Member | None] = Batcher(self._members_by_id)

    async def member(self, mesh_id: str, member_id: str) -> Member | None:
        return await self._by_id.submit((mesh_id, member_id))

    async def _members_by_id(self, keys: list[tuple[str, str]]) -> list[Member | None]:
        rows = await self.db.fetch(
            f"SELECT {_MEMBER} FROM mesh.members WHERE id = ANY($1::text[])",
            list({member_id for _, member_id in keys}),
        )
        found = {row["id"]: member_from(row) for row in rows}
        results: list[Member | None] = []
        for mesh_id, member_id in keys:
            m = found.get(member_id)
            results.append(m if m is not None and m.mesh_id == mesh_id else None)
        return results

    async def member_by_pubkey(self, mesh_id: str, pubkey: str) -> Member | None:
        row = await self.db.fetchrow(
            f"SELECT {_MEMBER} FROM mesh.members WHERE mesh_id = $1 AND pubkey = $2",
            mesh_id,
            pubkey,
        )
        return None if row is None else member_from(row)

    async def members(self, mesh_id: str) -> list[Member]:
        rows = await self.db.fetch(
            f"SELECT {_MEMBER} FROM mesh.members WHERE mesh_id = $1 ORDER BY seq", mesh_id
        )
        return [member_from(row) for row in rows]

    async def create_mesh(self, mesh: Mesh) -> Mesh:
        async def insert(conn: Connection) -> Any:
            try:
                return await conn.fetchrow(
                    "INSERT INTO mesh.meshes (id, name, slug) VALUES ($1, $2, $3)"
                    " RETURNING id, name, slug",
                    mesh.id,
                    mesh.name,
                    mesh.slug,
                )
            except asyncpg.UniqueViolationError as exc:
                what = "slug" if "slug" in (exc.constraint_name or "") else "id"
                value = mesh.slug if what == "slug" else mesh.id
                raise Conflict(f"a mesh with {what} {value!r} exists") from exc

        return mesh_from(await self.db.run(insert))

    async def find_mesh(self, id_or_slug: str) -> Mesh | None:
        # By id first, as an id and another mesh's slug could be the same string.
        row = await self.db.fetchrow(
            "SELECT id, name, slug FROM mesh.meshes WHERE id = $1 OR slug = $1"
            " ORDER BY (id = $1) DESC LIMIT 1",
            id_or_slug,
        )
        return None if row is None else mesh_from(row)

    async def meshes(self) -> list[MeshSummary]:
        rows = await self.db.fetch(
            """
            SELECT m.id, m.name, m.slug,
                   (SELECT count(*) FROM mesh.members u WHERE u.mesh_id = m.id) AS members,
                   (SELECT count(*) FROM mesh.presences p
                     WHERE p.mesh_id = m.id AND p.ended_at IS NULL
                       AND p.connection_id IS NOT NULL) AS online
            FROM mesh.meshes m
            ORDER BY m.slug
            """
        )
        return [MeshSummary(mesh_from(row), row["members"], row["online"]) for row in rows]

    async def add_member(self, member: Member) -> Member:
        async def insert(conn: Connection) -> Any:
            try:
                return await conn.fetchrow(
                    "INSERT INTO mesh.members (id, mesh_id, pubkey, display_name, role, revoked_at)"
                    f" VALUES ($1, $2, $3, $4, $5, $6) RETURNING {_MEMBER}",
                    member.id,
                    member.mesh_id,
                    member.pubkey,
                    member.display_name,
                    member.role.value,
                    member.revoked_at,
                )
            except asyncpg.UniqueViolationError as exc:
                if "pubkey" in (exc.constraint_name or ""):
                    raise Conflict("this mesh already has a member with that pubkey") from exc
                raise Conflict(f"a member with id {member.id!r} exists") from exc
            except asyncpg.ForeignKeyViolationError as exc:
                raise NotFound(f"no mesh {member.mesh_id!r}") from exc

        return member_from(await self.db.run(insert))

    async def revoke_member(self, mesh_id: str, member_id: str, now: datetime) -> Member:
        row = await self.db.fetchrow(
            "UPDATE mesh.members SET revoked_at = coalesce(revoked_at, $3)"
            f" WHERE id = $2 AND mesh_id = $1 RETURNING {_MEMBER}",
            mesh_id,
            member_id,
            now,
        )
        if row is None:
            raise NotFound(f"no member {member_id!r} in this mesh")
        return member_from(row)
