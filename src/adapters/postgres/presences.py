"""Presences: one row per session of a member, shared by every broker instance."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.postgres.database import SOFT, Database, Record
from domain.errors import CapacityExceeded
from domain.model import PeerView, Presence, Source, Status, StatusRecord
from domain.ports import Admitted, Arrival, PresenceStore

_COLUMNS = (
    "id, mesh_id, member_id, session_id, pid, cwd, connection_id, status, status_source,"
    " status_since, connected_at, disconnected_at, ended_at, transient"
)
_P_COLUMNS = ", ".join(f"p.{c.strip()}" for c in _COLUMNS.split(","))


def presence_from(row: Record) -> Presence:
    return Presence(
        id=row["id"],
        mesh_id=row["mesh_id"],
        member_id=row["member_id"],
        session_id=row["session_id"],
        pid=row["pid"],
        cwd=row["cwd"],
        connection_id=row["connection_id"],
        status=StatusRecord(
            Status(row["status"]), Source(row["status_source"]), row["status_since"]
        ),
        connected_at=row["connected_at"],
        disconnected_at=row["disconnected_at"],
        ended_at=row["ended_at"],
        transient=row["transient"],
    )


class PostgresPresenceStore(PresenceStore):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def connect(
        self, arrival: Arrival, *, capacity: int, grace_cutoff: datetime, initial: StatusRecord
    ) -> Admitted:
        """One statement, one round trip: `mesh.connect_presence` (migrations/0002),
        through `mesh.connect_presence_as` (migrations/0003, which marks the presence
        transient or not in the same transaction), takes the mesh's advisory lock, so that connects to one mesh take turns on
        every instance and the online count cannot be raced past `capacity`, then
        decides and writes. The count is a counter kept by triggers, not a count of
        rows (ADR 0020). When capacity is exceeded, the ending of a lapsed presence of
        this session is still committed (as the fake keeps it), then CapacityExceeded.
        Commits without waiting for the WAL flush (ADR 0006): a lost presence is a
        session that reconnects, and the lock is held for less time."""
        a = arrival
        row: Record = await self.db.fetchrow(  # the function returns exactly one row
            "SELECT * FROM mesh.connect_presence_as"
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
            a.mesh_id,
            a.member_id,
            a.session_id,
            a.pid,
            a.cwd,
            a.connection_id,
            a.hook_token_hash,
            a.now,
            capacity,
            grace_cutoff,
            str(uuid.uuid4()),  # the id of a new presence, unused otherwise
            initial.status.value,
            initial.source.value,
            initial.since,
            a.transient,
        )
        if row["refused"]:
            raise CapacityExceeded(f"mesh holds {capacity} connections")
        return Admitted(presence_from(row), row["replaced_connection_id"], row["resumed"])

    async def disconnect(self, connection_id: str, now: datetime) -> Presence | None:
        row = await self.db.fetchrow(
            f"""
            UPDATE mesh.presences SET connection_id = NULL, disconnected_at = $2
            WHERE connection_id = $1 AND ended_at IS NULL
            RETURNING {_COLUMNS}
            """,
            connection_id,
            now,
        )
        return None if row is None else presence_from(row)

    async def end(self, presence_ids: Sequence[str], now: datetime) -> None:
        if not presence_ids:
            return
        await self.db.execute(
            "UPDATE mesh.presences SET ended_at = $2 WHERE id = ANY($1::text[]) AND ended_at IS NULL",
            list(presence_ids),
            now,
        )

    async def end_member(self, member_id: str, now: datetime) -> list[Presence]:
        # Returned as they were before they ended, as the in-memory store does.
        return await self._end_where("p.member_id = $2", now, member_id)

    async def end_lapsed(
        self, grace_cutoff: datetime, stale_cutoff: datetime, now: datetime
    ) -> list[Presence]:
        return await self._end_where(
            "((p.connection_id IS NULL AND p.disconnected_at < $2)"
            " OR (p.connection_id IS NOT NULL AND p.last_ping_at < $3))",
            now,
            grace_cutoff,
            stale_cutoff,
        )

    async def _end_where(self, condition: str, now: datetime, *args: Any) -> list[Presence]:
        rows = await self.db.fetch(
            f"""
            WITH target AS (
                SELECT {_P_COLUMNS}, p.seq FROM mesh.presences p
                WHERE p.ended_at IS NULL AND {condition}
                FOR UPDATE
            ), ended AS (
                UPDATE mesh.presences p SET ended_at = $1
                FROM target WHERE p.id = target.id
                RETURNING target.*
            )
            SELECT * FROM ended ORDER BY seq
            """,
            now,
            *args,
        )
        return [presence_from(row) for row in rows]

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
            f"SELECT {_COLUMNS} FROM mesh.presences WHERE id = $1 AND ended_at IS NULL",
            presence_id,
        )
        return None if row is None else presence_from(row)

    async def by_hook_token(self, token_hash: str) -> Presence | None:
        row = await self.db.fetchrow(
            f"SELECT {_COLUMNS} FROM mesh.presences"
            " WHERE hook_token_hash = $1 AND ended_at IS NULL ORDER BY seq LIMIT 1",
            token_hash,
        )
        return None if row is None else presence_from(row)

    async def hook_candidates(self, session_id: str | None, cwd: str) -> list[Presence]:
        rows = await self.db.fetch(
            f"""
            SELECT {_COLUMNS} FROM mesh.presences
            WHERE ended_at IS NULL AND (session_id = $1 OR cwd = $2)
            ORDER BY connected_at DESC, seq
            """,
            session_id,
            cwd,
        )
        return [presence_from(row) for row in rows]

    async def set_status(self, presence_id: str, record: StatusRecord) -> None:
        await self.db.execute(
            f"""
            WITH {SOFT}
            UPDATE mesh.presences p
            SET status = $2, status_source = $3, status_since = $4
            FROM soft
            WHERE p.id = $1 AND p.ended_at IS NULL
            """,
            presence_id,
            record.status.value,
            record.source.value,
            record.since,
        )

    async def flip_stuck(self, cutoff: datetime, record: StatusRecord) -> list[Presence]:
        rows = await self.db.fetch(
            f"""
            WITH {SOFT}, flipped AS (
                UPDATE mesh.presences p
                SET status = $2, status_source = $3, status_since = $4
                FROM soft
                WHERE p.ended_at IS NULL AND p.status = 'working' AND p.status_since < $1
                RETURNING {_P_COLUMNS}, p.seq
            )
            SELECT * FROM flipped ORDER BY seq
            """,
            cutoff,
            record.status.value,
            record.source.value,
            record.since,
        )
        return [presence_from(row) for row in rows]

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
