"""Pending hook signals and the hello replay guard."""

from __future__ import annotations

from datetime import datetime

from adapters.postgres.database import SOFT, Database
from domain.admission import replay_key
from domain.model import HookSignal, Status
from domain.ports import PendingSignals, ReplayGuard


class PostgresPendingSignals(PendingSignals):
    def __init__(self, db: Database) -> None:
        self.db = db

    async def stash(self, signal: HookSignal) -> None:
        # Soft state (ADR 0006): a signal lives 10 s; losing one in a crash only
        # means a status is not pre-applied.
        await self.db.execute(
            f"""
            WITH {SOFT}
            INSERT INTO mesh.pending_signals (cwd, pid, session_id, status, received_at)
            SELECT $1, $2, $3, $4, $5 FROM soft
            """,
            signal.cwd,
            signal.pid,
            signal.session_id,
            signal.status.value,
            signal.received_at,
        )

    async def take(
        self, session_id: str, pid: int | None, cwd: str, since: datetime
    ) -> HookSignal | None:
        """Delete every matching signal and return the newest (the earliest stashed
        among equally new ones): domain/presence.py signal_matches and newest_signal,
        in one statement."""
        row = await self.db.fetchrow(
            """
            WITH taken AS (
                DELETE FROM mesh.pending_signals s
                WHERE s.received_at >= $4
                  AND CASE WHEN s.session_id IS NOT NULL THEN s.session_id = $1
                           ELSE s.pid IS NOT DISTINCT FROM $2 AND s.cwd = $3 END
                RETURNING s.seq, s.cwd, s.pid, s.session_id, s.status, s.received_at
            )
            SELECT * FROM taken ORDER BY received_at DESC, seq LIMIT 1
            """,
            session_id,
            pid,
            cwd,
            since,
        )
        if row is None:
            return None
        return HookSignal(
            cwd=row["cwd"],
            pid=row["pid"],
            session_id=row["session_id"],
            status=Status(row["status"]),
            received_at=row["received_at"],
        )

    async def purge(self, before: datetime) -> int:
        purged: int = await self.db.fetchval(
            "WITH purged AS (DELETE FROM mesh.pending_signals WHERE received_at < $1"
            " RETURNING 1) SELECT count(*) FROM purged",
            before,
        )
        return purged


class PostgresReplayGuard(ReplayGuard):
    """Durable on purpose: a signature forgotten in a crash could be replayed."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def first_use(self, signature: str, keep_until: datetime) -> bool:
        # Not waiting for the WAL flush (ADR 0006): a signature recorded in the last
        # fraction of a second before a database crash could be replayed once within
        # HELLO_MAX_SKEW_SECONDS; every hello would otherwise wait for a disk flush.
        inserted = await self.db.fetchval(
            f"WITH {SOFT} INSERT INTO mesh.hello_signatures (signature, keep_until)"
            " SELECT $1, $2 FROM soft"
            " ON CONFLICT (signature) DO NOTHING RETURNING true",
            replay_key(signature),
            keep_until,
        )
        return inserted is True

    async def purge(self, now: datetime) -> int:
        purged: int = await self.db.fetchval(
            "WITH purged AS (DELETE FROM mesh.hello_signatures WHERE keep_until <= $1"
            " RETURNING 1) SELECT count(*) FROM purged",
            now,
        )
        return purged
