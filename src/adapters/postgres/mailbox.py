"""The mailbox: messages stored once, one delivery row per recipient member.

A delivery row is the queue entry of one member: it is leased by claim, deleted by
that member's ack, and pruned once its message expires (ADR 0004). Every method is a
single statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.postgres.batch import Batcher
from adapters.postgres.database import SOFT, Database, Record
from domain.model import Message, Priority
from domain.ports import Mailbox
from domain.receipts import DeliveryState, Transition

# Many sends share one commit (group commit): the messages of a batch and all their
# deliveries go in one statement; ORDER BY n gives deliveries their seq in batch
# order, which is arrival order.
_ENQUEUE = """
WITH message AS (
    INSERT INTO mesh.messages
        (id, mesh_id, sender_member_id, sender_pubkey, sender_presence_id, priority,
         nonce, ciphertext, created_at, expires_at, escalate_at)
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                         $6::text[], $7::text[], $8::text[], $9::timestamptz[],
                         $10::timestamptz[], $11::timestamptz[])
)
INSERT INTO mesh.deliveries
    (message_id, member_id, priority, sender_presence_id, expires_at, escalate_at,
     target_session_id)
SELECT d.message_id, d.member_id, d.priority, d.sender_presence_id, d.expires_at,
       d.escalate_at, d.target_session_id
FROM unnest($12::text[], $13::text[], $14::text[], $15::text[], $16::timestamptz[],
            $17::timestamptz[], $18::text[])
     WITH ORDINALITY
     AS d(message_id, member_id, priority, sender_presence_id, expires_at,
          escalate_at, target_session_id, n)
ORDER BY d.n
"""

MAX_BATCH = 512

# Pick the member's claimable deliveries in queue order, skipping rows another
# claimer holds locked; lease them; return their messages. RETURNING has no order,
# so the final SELECT sorts by seq. The target-session condition is
# domain.delivery.claimable_by: a message for one session ($8 is the claimer's) waits
# while that session has an unended presence, in the same snapshot as the claim.
_CLAIM = f"""
WITH {SOFT}, picked AS (
    SELECT d.seq FROM mesh.deliveries d
    WHERE d.member_id = $1
      AND d.sender_presence_id <> $2
      AND d.priority = ANY($4::text[])
      AND d.expires_at > $5
      AND (d.lease_until IS NULL OR d.lease_until <= $5)
      AND (d.target_session_id IS NULL
           OR d.target_session_id = $8
           OR NOT EXISTS (
               SELECT 1 FROM mesh.presences p
               WHERE p.member_id = d.member_id AND p.session_id = d.target_session_id
                 AND p.ended_at IS NULL))
    ORDER BY d.seq
    LIMIT $7
    FOR UPDATE SKIP LOCKED
), leased AS (
    UPDATE mesh.deliveries d SET leased_to = $3, lease_until = $6
    FROM picked, soft WHERE d.seq = picked.seq
    RETURNING d.seq, d.message_id, d.target_session_id
)
SELECT m.id, m.mesh_id, m.sender_member_id, m.sender_pubkey, m.sender_presence_id,
       m.priority, m.nonce, m.ciphertext, m.created_at, m.expires_at, m.escalate_at,
       leased.target_session_id
FROM leased JOIN mesh.messages m ON m.id = leased.message_id
ORDER BY leased.seq
"""

# Delete a batch of acked (member, message) deliveries, and the messages this leaves
# without any delivery. (The snapshot still shows the rows deleted here, hence `NOT IN acked`.
# Two members acking the last two deliveries of a message at the same instant can
# each see the other's row and leave the message behind; prune removes it when it
# expires.)
_ACK = f"""
WITH {SOFT}, acked AS (
    DELETE FROM mesh.deliveries d
    USING unnest($1::text[], $2::text[], $3::timestamptz[]) AS w(member_id, message_id, at),
          soft
    WHERE d.member_id = w.member_id AND d.message_id = w.message_id
    RETURNING d.seq, d.member_id, d.message_id, w.at, d.priority
), emptied AS (
    DELETE FROM mesh.messages m
    WHERE m.id IN (SELECT message_id FROM acked)
      AND NOT EXISTS (
          SELECT 1 FROM mesh.deliveries d
          WHERE d.message_id = m.id AND d.seq NOT IN (SELECT seq FROM acked)
      )
), kept AS (
    -- the `acked` receipt, in the same statement (ADR 0027): receipts.advances, as
    -- in PostgresReceipts (a row changes only while it is `pushed`)
    -- (escalated: the delivery's priority was raised above the message's, so the
    -- flag holds even when the ack lands before the escalated push's own receipt)
    INSERT INTO mesh.receipts AS r
        (message_id, member_id, mesh_id, sender_member_id, sender_presence_id, state, at,
         escalated)
    SELECT a.message_id, a.member_id, m.mesh_id, m.sender_member_id, m.sender_presence_id,
           'acked', a.at, a.priority <> m.priority
    FROM acked a JOIN mesh.messages m ON m.id = a.message_id
    ON CONFLICT (message_id, member_id) DO UPDATE
        SET state = 'acked', at = EXCLUDED.at, escalated = r.escalated OR EXCLUDED.escalated
        WHERE r.state = 'pushed'
    RETURNING r.message_id, r.member_id, r.escalated
)
SELECT a.member_id, a.message_id, a.at, m.mesh_id, m.sender_member_id, m.sender_presence_id,
       k.message_id IS NOT NULL AS advanced, coalesce(k.escalated, false) AS escalated
FROM acked a JOIN mesh.messages m ON m.id = a.message_id
LEFT JOIN kept k ON k.message_id = a.message_id AND k.member_id = a.member_id
"""

# Raise to `now` the deliveries whose escalation deadline passed (the partial index
# deliveries_escalate_at holds exactly the candidates).
_ESCALATE = """
WITH raised AS (
    UPDATE mesh.deliveries SET priority = 'now'
    WHERE escalate_at IS NOT NULL AND priority <> 'now'
      AND escalate_at <= $1 AND expires_at > $1
    RETURNING member_id
)
SELECT DISTINCT member_id FROM raised
"""

_PRUNE = """
WITH expired AS (
    DELETE FROM mesh.deliveries WHERE expires_at <= $1 RETURNING seq
), messages AS (
    DELETE FROM mesh.messages WHERE expires_at <= $1
)
SELECT count(*) FROM expired
"""


def _columns(batch: list[_Enqueue]) -> list[list[Any]]:
    """The batch as the statement's 18 parallel arrays: 11 of messages, 7 of deliveries."""
    messages = [
        (
            m.id,
            m.mesh_id,
            m.sender_member_id,
            m.sender_pubkey,
            m.sender_presence_id,
            m.priority.value,
            m.nonce,
            m.ciphertext,
            m.created_at,
            m.expires_at,
            m.escalate_at,
        )
        for m, _ in batch
    ]
    deliveries = [
        (
            m.id,
            member_id,
            m.priority.value,
            m.sender_presence_id,
            m.expires_at,
            m.escalate_at,
            m.target_session_id,
        )
        for m, recipients in batch
        for member_id in dict.fromkeys(recipients)
    ]
    columns = (*zip(*messages, strict=True), *zip(*deliveries, strict=True))
    return [list(column) for column in columns]


def message_from(row: Record) -> Message:
    return Message(
        id=row["id"],
        mesh_id=row["mesh_id"],
        sender_member_id=row["sender_member_id"],
        sender_pubkey=row["sender_pubkey"],
        sender_presence_id=row["sender_presence_id"],
        priority=Priority(row["priority"]),
        nonce=row["nonce"],
        ciphertext=row["ciphertext"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        escalate_at=row["escalate_at"],
        target_session_id=row["target_session_id"],
    )


_Enqueue = tuple[Message, Sequence[str]]
_Ack = tuple[str, Sequence[str], datetime]
_Acked = tuple[list[Record], list[Transition]]  # deleted deliveries, receipts that advanced


def _acked(row: Record) -> Transition:
    return Transition(
        message_id=row["message_id"],
        mesh_id=row["mesh_id"],
        sender_member_id=row["sender_member_id"],
        sender_presence_id=row["sender_presence_id"],
        recipient_member_id=row["member_id"],
        state=DeliveryState.ACKED,
        at=row["at"],
        escalated=row["escalated"],
    )


class PostgresMailbox(Mailbox):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._enqueues: Batcher[_Enqueue, None] = Batcher(self._insert, MAX_BATCH)
        self._acks: Batcher[_Ack, _Acked] = Batcher(self._delete, MAX_BATCH)

    async def enqueue(self, message: Message, recipients: Sequence[str]) -> None:
        """Returns once the message and a delivery per distinct recipient are committed
        (with the server's synchronous_commit, never `off`). Sends that arrive while a
        commit is in flight share the next one."""
        if recipients:
            await self._enqueues.submit((message, recipients))

    async def _insert(self, batch: list[_Enqueue]) -> list[None]:
        await self.db.execute(_ENQUEUE, *_columns(batch))
        return [None] * len(batch)

    async def claim(
        self,
        member_id: str,
        presence_id: str,
        connection_id: str,
        priorities: frozenset[Priority],
        now: datetime,
        lease_until: datetime,
        limit: int,
        session_id: str | None = None,
    ) -> list[Message]:
        if limit <= 0 or not priorities:
            return []
        rows = await self.db.fetch(
            _CLAIM,
            member_id,
            presence_id,
            connection_id,
            sorted(p.value for p in priorities),
            now,
            lease_until,
            limit,
            session_id,
        )
        return [message_from(row) for row in rows]

    async def ack(self, member_id: str, message_ids: Sequence[str], now: datetime) -> int:
        if not message_ids:
            return 0
        return len((await self._acks.submit((member_id, message_ids, now)))[0])

    async def acknowledge(
        self, member_id: str, message_ids: Sequence[str], now: datetime
    ) -> list[Transition]:
        if not message_ids:
            return []
        return (await self._acks.submit((member_id, message_ids, now)))[1]

    async def _delete(self, batch: list[_Ack]) -> list[_Acked]:
        pairs = [
            (member, message, now) for member, ids, now in batch for message in dict.fromkeys(ids)
        ]
        members, messages, times = zip(*pairs, strict=True)
        rows = await self.db.fetch(_ACK, list(members), list(messages), list(times))
        acked = {(row["member_id"], row["message_id"]): row for row in rows}
        out: list[_Acked] = []
        for member, ids, _ in batch:
            mine = [acked[(member, m)] for m in dict.fromkeys(ids) if (member, m) in acked]
            out.append((mine, [_acked(row) for row in mine if row["advanced"]]))
        return out

    async def escalate(self, now: datetime) -> set[str]:
        rows = await self.db.fetch(_ESCALATE, now)
        return {row["member_id"] for row in rows}

    async def release(self, connection_id: str) -> None:
        await self.db.execute(
            f"WITH {SOFT} UPDATE mesh.deliveries SET leased_to = NULL, lease_until = NULL"
            " FROM soft WHERE leased_to = $1",
            connection_id,
        )

    async def release_orphans(self, member_id: str, live: Sequence[str]) -> int:
        released: int = await self.db.fetchval(
            f"""
            WITH {SOFT}, released AS (
                UPDATE mesh.deliveries SET leased_to = NULL, lease_until = NULL
                FROM soft
                WHERE member_id = $1 AND leased_to IS NOT NULL
                  AND leased_to <> ALL($2::text[])
                RETURNING 1
            )
            SELECT count(*) FROM released
            """,
            member_id,
            list(live),
        )
        return released

    async def release_expired(self, now: datetime) -> set[str]:
        rows = await self.db.fetch(
            """
            WITH released AS (
                UPDATE mesh.deliveries SET leased_to = NULL, lease_until = NULL
                WHERE lease_until <= $1
                RETURNING member_id
            )
            SELECT DISTINCT member_id FROM released
            """,
            now,
        )
        return {row["member_id"] for row in rows}

    async def prune(self, now: datetime) -> int:
        """Delete expired deliveries and expired messages; returns the deliveries
        removed. Delivered ones are already gone: an ack deletes them."""
        pruned: int = await self.db.fetchval(_PRUNE, now)
        return pruned

    async def depth(self, now: datetime) -> int:
        depth: int = await self.db.fetchval(
            "SELECT count(*) FROM mesh.deliveries WHERE expires_at > $1", now
        )
        return depth
