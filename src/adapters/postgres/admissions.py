"""Hellos' writes in one statement (issue 18; docs/adr/0028-hello-in-one-statement.md)."""

from __future__ import annotations

import uuid

from adapters.postgres.batch import Batcher
from adapters.postgres.database import Database, Record
from adapters.postgres.presences import Incarnation, presence_from
from domain.admission import replay_key
from domain.errors import CapacityExceeded, DomainError, StoreUnavailable, Unauthorized
from domain.model import HookSignal, Status
from domain.ports import Admissions, Admitted, Entered, Entry

_ENTER_MANY = (
    "SELECT * FROM mesh.enter_presences($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
    " $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
)

_Outcome = Entered | DomainError


class PostgresAdmissions(Admissions):
    """`mesh.enter_presences` (migrations/0007): for each hello, the replay guard,
    `mesh.admit_presence` (0004), the orphaned-lease release and the pending-signal
    take, where they were four to five statements each; and the hellos that arrive
    while one batch is in flight share the next statement and transaction (group
    commit, `batch.py`), so a reconnect storm costs a round trip, a pool connection and
    a commit per batch, not per hello. It commits without waiting for the WAL flush,
    as each of those statements did (ADR 0006). `mesh.enter_presence` is the same for
    one hello (kept for a single call; the broker uses the batch)."""

    def __init__(
        self, db: Database, incarnation: Incarnation | None = None, max_batch: int = 256
    ) -> None:
        self.db = db
        self.incarnation = incarnation
        self._batch: Batcher[Entry, _Outcome] = Batcher(self._enter_many, max_batch)

    async def enter(self, entry: Entry) -> Entered:
        outcome = await self._batch.submit(entry)
        if isinstance(outcome, DomainError):
            raise outcome
        return outcome

    async def _enter_many(self, entries: list[Entry]) -> list[_Outcome]:
        instance = None
        if self.incarnation is not None:
            instance = self.incarnation.current
            if instance is None:
                raise StoreUnavailable("this broker holds no liveness lock; reconnect")
        arrivals = [e.arrival for e in entries]
        rows = await self.db.fetch(
            _ENTER_MANY,
            [a.mesh_id for a in arrivals],
            [a.member_id for a in arrivals],
            [a.session_id for a in arrivals],
            [a.pid for a in arrivals],
            [a.cwd for a in arrivals],
            [a.connection_id for a in arrivals],
            [a.hook_token_hash for a in arrivals],
            [a.now for a in arrivals],
            [e.capacity for e in entries],
            [e.grace_cutoff for e in entries],
            [str(uuid.uuid4()) for _ in entries],  # the ids of new presences
            [e.initial.status.value for e in entries],
            [e.initial.source.value for e in entries],
            [e.initial.since for e in entries],
            instance,
            [e.manual_cutoff for e in entries],
            [a.transient for a in arrivals],
            [None if e.signature is None else replay_key(e.signature) for e in entries],
            [e.keep_until for e in entries],
            [e.signal_since for e in entries],
        )
        by_index = {row["n"]: row for row in rows}
        return [_outcome(by_index[i + 1], e) for i, e in enumerate(entries)]


def _outcome(row: Record, entry: Entry) -> _Outcome:
    refusal = row["refusal"]
    if refusal == "replayed":
        return Unauthorized("hello signature already used")
    if refusal == "capacity":
        return CapacityExceeded(f"mesh holds {entry.capacity} connections")
    if refusal == "revoked":
        return Unauthorized("member revoked")
    if refusal == "instance":
        return StoreUnavailable("this broker lost its liveness lock; reconnect")
    signal = None
    if row["signal_received_at"] is not None:
        signal = HookSignal(
            cwd=row["signal_cwd"],
            pid=row["signal_pid"],
            session_id=row["signal_session_id"],
            status=Status(row["signal_status"]),
            received_at=row["signal_received_at"],
        )
    admitted = Admitted(presence_from(row), row["replaced_connection_id"], row["resumed"])
    return Entered(admitted, signal, row["released"])
