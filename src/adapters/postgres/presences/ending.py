"""Ending presences: by id, by member, lapsed (grace or heartbeat), reaped from a dead
instance."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.postgres.database import Database
from adapters.postgres.presences.rows import COLUMNS, P_COLUMNS, Incarnation, presence_from
from domain.model import Presence


class Ending:
    db: Database
    incarnation: Incarnation | None

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
                SELECT {P_COLUMNS}, p.seq FROM mesh.presences p
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

    async def reap_dead(self, now: datetime, free_before: datetime) -> list[Presence]:
        mine = None if self.incarnation is None else self.incarnation.current
        rows = await self.db.fetch(
            f"SELECT {COLUMNS} FROM mesh.reap_dead_instances($1, $2, $3)",
            now,
            free_before,
            mine,
        )
        return [presence_from(row) for row in rows]
