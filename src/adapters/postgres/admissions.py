"""A hello's writes in one statement (issue 18; docs/adr/0028-hello-in-one-statement.md)."""

from __future__ import annotations

import uuid

from adapters.postgres.database import Database, Record
from adapters.postgres.presences import Incarnation, presence_from
from domain.errors import CapacityExceeded, StoreUnavailable, Unauthorized
from domain.model import HookSignal, Status
from domain.ports import Admissions, Admitted, Entered, Entry

_ENTER = (
    "SELECT * FROM mesh.enter_presence($1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
    " $11, $12, $13, $14, $15, $16, $17, $18, $19, $20)"
)


class PostgresAdmissions(Admissions):
    """`mesh.enter_presence` (migrations/0007): the replay guard, `mesh.admit_presence`
    (0004), the orphaned-lease release and the pending-signal take, one round trip and
    one transaction, where they were four to five statements. It commits without
    waiting for the WAL flush, as each of them did (ADR 0006)."""

    def __init__(self, db: Database, incarnation: Incarnation | None = None) -> None:
        self.db = db
        self.incarnation = incarnation

    async def enter(self, entry: Entry) -> Entered:
        a = entry.arrival
        instance = None
        if self.incarnation is not None:
            instance = self.incarnation.current
            if instance is None:
                raise StoreUnavailable("this broker holds no liveness lock; reconnect")
        row: Record = await self.db.fetchrow(  # the function returns exactly one row
            _ENTER,
            a.mesh_id,
            a.member_id,
            a.session_id,
            a.pid,
            a.cwd,
            a.connection_id,
            a.hook_token_hash,
            a.now,
            entry.capacity,
            entry.grace_cutoff,
            str(uuid.uuid4()),  # the id of a new presence, unused otherwise
            entry.initial.status.value,
            entry.initial.source.value,
            entry.initial.since,
            instance,
            entry.manual_cutoff,
            a.transient,
            None if entry.signature is None else entry.signature.lower(),
            entry.keep_until,
            entry.signal_since,
        )
        refusal = row["refusal"]
        if refusal == "replayed":
            raise Unauthorized("hello signature already used")
        if refusal == "capacity":
            raise CapacityExceeded(f"mesh holds {entry.capacity} connections")
        if refusal == "revoked":
            raise Unauthorized("member revoked")
        if refusal == "instance":
            raise StoreUnavailable("this broker lost its liveness lock; reconnect")
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
