"""A presence's status: compare-and-set, the TTL flip, and finding the presence a hook
report means."""

from __future__ import annotations

from datetime import datetime

from adapters.postgres.database import SOFT, Database
from adapters.postgres.presences.rows import COLUMNS, P_COLUMNS, presence_from
from domain.model import Presence, StatusRecord
from domain.status import SWEPT_STATUS


class Statuses:
    db: Database

    async def by_hook_token(self, token_hash: str) -> Presence | None:
        # The oldest holder wins: domain/presence.py token_owner.
        row = await self.db.fetchrow(
            f"SELECT {COLUMNS} FROM mesh.presences"
            " WHERE hook_token_hash = $1 AND ended_at IS NULL ORDER BY seq LIMIT 1",
            token_hash,
        )
        return None if row is None else presence_from(row)

    async def hook_candidates(self, session_id: str | None, cwd: str) -> list[Presence]:
        rows = await self.db.fetch(
            f"""
            SELECT {COLUMNS} FROM mesh.presences
            WHERE ended_at IS NULL AND (session_id = $1 OR cwd = $2)
            ORDER BY connected_at DESC, seq
            """,
            session_id,
            cwd,
        )
        return [presence_from(row) for row in rows]

    async def set_status(
        self, presence_id: str, record: StatusRecord, expected: StatusRecord | None = None
    ) -> bool:
        # Compare-and-set in the UPDATE's own WHERE: a concurrent writer's row lock is
        # waited for and the condition re-checked on the row it committed.
        unexpected = expected is None
        row = await self.db.fetchrow(
            f"""
            WITH {SOFT}
            UPDATE mesh.presences p
            SET status = $2, status_source = $3, status_since = $4
            FROM soft
            WHERE p.id = $1 AND p.ended_at IS NULL
              AND ($5 OR (p.status = $6 AND p.status_source = $7 AND p.status_since = $8))
            RETURNING p.id
            """,
            presence_id,
            record.status.value,
            record.source.value,
            record.since,
            unexpected,
            None if expected is None else expected.status.value,
            None if expected is None else expected.source.value,
            None if expected is None else expected.since,
        )
        return row is not None

    async def flip_stuck(self, cutoff: datetime, record: StatusRecord) -> list[Presence]:
        rows = await self.db.fetch(
            f"""
            WITH {SOFT}, flipped AS (
                UPDATE mesh.presences p
                SET status = $2, status_source = $3, status_since = $4
                FROM soft
                WHERE p.ended_at IS NULL AND p.status = $5 AND p.status_since < $1
                RETURNING {P_COLUMNS}, p.seq
            )
            SELECT * FROM flipped ORDER BY seq
            """,
            cutoff,
            record.status.value,
            record.source.value,
            record.since,
            SWEPT_STATUS.value,  # domain/status.py stuck(): the rule this statement applies
        )
        return [presence_from(row) for row in rows]
