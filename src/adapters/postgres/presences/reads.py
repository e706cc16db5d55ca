"""Reading presences, and the heartbeat that keeps them alive."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from adapters.postgres.database import SOFT, Database
from adapters.postgres.presences.rows import COLUMNS, presence_from
from domain.model import PeerView, Presence, Status


class Reads:
    db: Database

    async def touch(self, connection_ids: Sequence[str], now: datetime) -> list[str]:
        if not connection_ids:
            return []
        rows = await self.db.fetch(
            f"""
            WITH {SOFT}, touched AS (
                UPDATE mesh.presences p SET last_ping_at = $2
                FROM soft
                WHERE p.connection_id = ANY($1::text[]) AND p.ended_at IS NULL
                RETURNING p.connection_id
            )
            SELECT c.id FROM unnest($1::text[]) WITH ORDINALITY AS c(id, n)
            WHERE NOT EXISTS (SELECT 1 FROM touched t WHERE t.connection_id = c.id)
            ORDER BY c.n
            """,
            list(connection_ids),
            now,
        )
        return [row["id"] for row in rows]

    async def get(self, presence_id: str) -> Presence | None:
        row = await self.db.fetchrow(
            f"SELECT {COLUMNS} FROM mesh.presences WHERE id = $1 AND ended_at IS NULL",
            presence_id,
        )
        return None if row is None else presence_from(row)

    async def connections_of(self, member_id: str) -> list[str]:
        rows = await self.db.fetch(
            "SELECT connection_id FROM mesh.presences"
            " WHERE member_id = $1 AND ended_at IS NULL AND connection_id IS NOT NULL",
            member_id,
        )
        return [row["connection_id"] for row in rows]

    async def peers(self, mesh_id: str) -> list[PeerView]:
        rows = await self.db.fetch(
            """
            SELECT p.member_id, m.pubkey, m.display_name, p.id, p.session_id, p.status,
                   p.connection_id IS NOT NULL AS online, p.connected_at, p.transient
            FROM mesh.presences p
            JOIN mesh.members m ON m.id = p.member_id
            WHERE p.mesh_id = $1 AND p.ended_at IS NULL
            ORDER BY p.connected_at, p.seq
            """,
            mesh_id,
        )
        return [
            PeerView(
                member_id=row["member_id"],
                pubkey=row["pubkey"],
                display_name=row["display_name"],
                presence_id=row["id"],
                session_id=row["session_id"],
                status=Status(row["status"]),
                online=row["online"],
                connected_at=row["connected_at"],
                transient=row["transient"],
            )
            for row in rows
        ]
