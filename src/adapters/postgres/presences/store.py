"""Presences: one row per session of a member, shared by every broker instance. A
session arrives (`connect`, one statement: ADR 0020) and leaves (`disconnect`); the
other verbs are in the sibling modules."""

from __future__ import annotations

import uuid
from datetime import datetime

from adapters.postgres.database import Database, Record
from adapters.postgres.presences.ending import Ending
from adapters.postgres.presences.reads import Reads
from adapters.postgres.presences.rows import COLUMNS, Incarnation, presence_from
from adapters.postgres.presences.statuses import Statuses
from domain.errors import CapacityExceeded, StoreUnavailable, Unauthorized
from domain.model import Presence, StatusRecord
from domain.ports import Admitted, Arrival, PresenceStore


class PostgresPresenceStore(Ending, Statuses, Reads, PresenceStore):
    def __init__(self, db: Database, incarnation: Incarnation | None = None) -> None:
        self.db = db
        # Without one (tests, admin commands) presences belong to no incarnation and
        # only the heartbeat staleness sweep ends them.
        self.incarnation = incarnation

    async def connect(
        self,
        arrival: Arrival,
        *,
        capacity: int,
        grace_cutoff: datetime,
        initial: StatusRecord,
        manual_cutoff: datetime | None = None,
    ) -> Admitted:
        """One statement, one round trip: `mesh.admit_presence` (migrations/0004, which
        extends 0002's `connect_presence` with the revoked and reaped refusals and
        writes the transient mark of 0003 in the same transaction)
        takes the mesh's advisory lock, so that connects to one mesh take turns on
        every instance and the online count cannot be raced past `capacity`, then
        decides and writes. The count is a counter kept by triggers, not a count of
        rows (ADR 0020). When capacity is exceeded, the ending of a lapsed presence of
        this session is still committed (as the fake keeps it), then CapacityExceeded.
        Commits without waiting for the WAL flush (ADR 0006): a lost presence is a
        session that reconnects, and the lock is held for less time."""
        a = arrival
        instance = None
        if self.incarnation is not None:
            instance = self.incarnation.current
            if instance is None:
                raise StoreUnavailable("this broker holds no liveness lock; reconnect")
        row: Record = await self.db.fetchrow(  # the function returns exactly one row
            "SELECT * FROM mesh.admit_presence"
            "($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
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
            instance,
            manual_cutoff or a.now,
            a.transient,
        )
        if row["refusal"] == "capacity":
            raise CapacityExceeded(f"mesh holds {capacity} connections")
        if row["refusal"] == "revoked":
            raise Unauthorized("member revoked")
        if row["refusal"] == "instance":
            raise StoreUnavailable("this broker lost its liveness lock; reconnect")
        return Admitted(presence_from(row), row["replaced_connection_id"], row["resumed"])

    async def disconnect(self, connection_id: str, now: datetime) -> Presence | None:
        row = await self.db.fetchrow(
            f"""
            UPDATE mesh.presences SET connection_id = NULL, disconnected_at = $2
            WHERE connection_id = $1 AND ended_at IS NULL
            RETURNING {COLUMNS}
            """,
            connection_id,
            now,
        )
        return None if row is None else presence_from(row)
