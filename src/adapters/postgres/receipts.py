"""Kept delivery states (ADR 0027): `mesh.receipts`, one row per (message, recipient)
once the message was pushed to it or expired.

Rows are written beside the hot path, never by enqueue or claim: transitions queue
in a Batcher and many share one statement and one commit, written without waiting
for the WAL flush (soft state, ADR 0006: a crash may lose the last few milliseconds
of receipts, never a message). The retention sweep deletes in bounded batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from adapters.postgres.batch import Batcher
from adapters.postgres.database import Database, Record
from adapters.postgres.mailbox_rows import transition_from
from adapters.postgres.receipts_sql import EXPIRE, MESSAGE, PRUNE, RECIPIENTS, UPSERT
from domain.model import Priority
from domain.ports import ReceiptStore
from domain.receipts import (
    DeliveryState,
    KeptReceipt,
    MessageFacts,
    QueuedDelivery,
    RecipientFacts,
    Transition,
)

MAX_BATCH = 1024


def _waves(transitions: Sequence[Transition]) -> list[list[Transition]]:
    """Split into runs in which each (message, recipient) appears once: one upsert
    cannot change a row twice. Order is kept: a key's later transition goes in a
    later wave."""
    waves: list[list[Transition]] = []
    seen: list[set[tuple[str, str]]] = []
    last: dict[tuple[str, str], int] = {}
    for t in transitions:
        key = (t.message_id, t.recipient_member_id)
        wave = last.get(key, -1) + 1
        if wave == len(waves):
            waves.append([])
            seen.append(set())
        waves[wave].append(t)
        seen[wave].add(key)
        last[key] = wave
    return waves


class PostgresReceipts(ReceiptStore):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._writes: Batcher[Sequence[Transition], list[Transition]] = Batcher(self._write, 64)

    async def record(self, transitions: Sequence[Transition]) -> list[Transition]:
        if not transitions:
            return []
        return await self._writes.submit(transitions)

    async def _write(self, batch: list[Sequence[Transition]]) -> list[list[Transition]]:
        """One upsert per wave; RETURNING names the rows that advanced (and whether
        they are escalated by now), matched back to the transitions asked for."""
        flat = [t for ts in batch for t in ts]
        advanced: dict[int, Transition] = {}
        for wave in _waves(flat):
            for start in range(0, len(wave), MAX_BATCH):
                part = wave[start : start + MAX_BATCH]
                rows = await self.db.fetch(UPSERT, *_columns(part))
                moved = {(row["message_id"], row["member_id"]): row["escalated"] for row in rows}
                for t in part:
                    escalated = moved.get((t.message_id, t.recipient_member_id))
                    if escalated is not None:
                        advanced[id(t)] = (
                            t if escalated == t.escalated else replace(t, escalated=escalated)
                        )
        return [[advanced[id(t)] for t in ts if id(t) in advanced] for ts in batch]

    async def expire(self, now: datetime) -> list[Transition]:
        return [
            transition_from(row, DeliveryState(row["state"]))
            for row in await self.db.fetch(EXPIRE, now)
        ]

    async def facts(self, message_id: str) -> MessageFacts | None:
        head = await self.db.fetchrow(MESSAGE, message_id)
        if head is None:
            return None
        rows = await self.db.fetch(RECIPIENTS, message_id)
        return MessageFacts(
            message_id=message_id,
            mesh_id=head["mesh_id"],
            sender_member_id=head["sender_member_id"],
            created_at=head["created_at"],
            recipients=tuple(_recipient(row) for row in rows),
        )

    async def prune(self, cutoff: datetime, limit: int) -> int:
        pruned: int = await self.db.fetchval(PRUNE, cutoff, limit)
        return pruned


def _recipient(row: Record) -> RecipientFacts:
    receipt = None
    if row["state"] is not None:
        receipt = KeptReceipt(DeliveryState(row["state"]), row["at"], row["escalated"])
    queued = None
    if row["priority"] is not None:
        queued = QueuedDelivery(Priority(row["priority"]), row["expires_at"], row["lease_until"])
    return RecipientFacts(row["member_id"], receipt, queued)


def _columns(wave: list[Transition]) -> list[list[Any]]:
    return [
        [t.message_id for t in wave],
        [t.recipient_member_id for t in wave],
        [t.mesh_id for t in wave],
        [t.sender_member_id for t in wave],
        [t.sender_presence_id for t in wave],
        [t.state.value for t in wave],
        [t.at for t in wave],
        [t.escalated for t in wave],
    ]
