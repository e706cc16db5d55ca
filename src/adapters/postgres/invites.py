"""Invites on Postgres. `redeem` is one statement: the conditional UPDATE that counts
the use and the INSERT of the member succeed or fail together."""

from __future__ import annotations

from datetime import datetime

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.database import Connection, Database, Record
from adapters.postgres.directory import member_from
from domain.errors import Conflict, InvalidInvite, NotFound
from domain.invites import Invite
from domain.model import Member, Role
from domain.ports import InviteStore, Joiner

_INVITE = "id, mesh_id, token_hash, role, uses, used, created_at, expires_at, revoked_at"

# The WHERE clause is Invite.usable. Under READ COMMITTED a second join that waited for
# the row lock re-evaluates it on the row the first one committed: with the last use
# taken, it updates nothing and so inserts nothing.
_REDEEM = f"""
WITH taken AS (
    UPDATE mesh.invites SET used = used + 1
     WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2 AND used < uses
    RETURNING {_INVITE}
), added AS (
    INSERT INTO mesh.members (id, mesh_id, pubkey, display_name, role)
    SELECT $3, mesh_id, $4, $5, role FROM taken
    RETURNING id, mesh_id, pubkey, display_name, role, revoked_at
)
SELECT t.id, t.mesh_id, t.token_hash, t.role, t.uses, t.used, t.created_at, t.expires_at,
       t.revoked_at, a.id AS member_id, a.pubkey, a.display_name, a.role AS member_role,
       a.revoked_at AS member_revoked_at
  FROM taken t JOIN added a ON a.mesh_id = t.mesh_id
"""


def invite_from(row: Record) -> Invite:
    return Invite(
        id=row["id"],
        mesh_id=row["mesh_id"],
        token_hash=row["token_hash"],
        role=Role(row["role"]),
        uses=row["uses"],
        used=row["used"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
    )


class PostgresInvites(InviteStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_invite(self, invite: Invite) -> Invite:
        async def insert(conn: Connection) -> Record:
            try:
                return await conn.fetchrow(
                    "INSERT INTO mesh.invites (id, mesh_id, token_hash, role, uses, used,"
                    " created_at, expires_at, revoked_at)"
                    f" VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {_INVITE}",
                    invite.id,
                    invite.mesh_id,
                    invite.token_hash,
                    invite.role.value,
                    invite.uses,
                    invite.used,
                    invite.created_at,
                    invite.expires_at,
                    invite.revoked_at,
                )
            except asyncpg.UniqueViolationError as exc:
                raise Conflict("an invite with this id or token exists") from exc
            except asyncpg.ForeignKeyViolationError as exc:
                raise NotFound(f"no mesh {invite.mesh_id!r}") from exc

        return invite_from(await self.db.run(insert))

    async def invites(self, mesh_id: str) -> list[Invite]:
        rows = await self.db.fetch(
            f"SELECT {_INVITE} FROM mesh.invites WHERE mesh_id = $1 ORDER BY seq", mesh_id
        )
        return [invite_from(row) for row in rows]

    async def revoke_invite(self, mesh_id: str, invite_id: str, now: datetime) -> Invite:
        row = await self.db.fetchrow(
            "UPDATE mesh.invites SET revoked_at = coalesce(revoked_at, $3)"
            f" WHERE id = $2 AND mesh_id = $1 RETURNING {_INVITE}",
            mesh_id,
            invite_id,
            now,
        )
        if row is None:
            raise NotFound(f"no invite {invite_id!r} in this mesh")
        return invite_from(row)

    async def redeem(self, token_hash: str, joiner: Joiner, now: datetime) -> tuple[Invite, Member]:
        async def take(conn: Connection) -> Record | None:
            try:
                return await conn.fetchrow(
                    _REDEEM, token_hash, now, joiner.member_id, joiner.pubkey, joiner.display_name
                )
            except asyncpg.UniqueViolationError as exc:
                if "pubkey" in (exc.constraint_name or ""):
                    raise Conflict("this key is already a member of that mesh") from exc
                raise Conflict(f"a member with id {joiner.member_id!r} exists") from exc

        row = await self.db.run(take)
        if row is None:
            raise InvalidInvite("invalid invite")
        member = member_from(
            {
                "id": row["member_id"],
                "mesh_id": row["mesh_id"],
                "pubkey": row["pubkey"],
                "display_name": row["display_name"],
                "role": row["member_role"],
                "revoked_at": row["member_revoked_at"],
            }
        )
        return invite_from(row), member
