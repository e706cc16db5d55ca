"""The mailbox: messages stored once, one delivery row per recipient member.

A delivery row is the queue entry of one member: it is leased by claim (or in its
own enqueue, ADR 0031), deleted by that member's ack, and pruned once its message
expires (ADR 0004). Every method is a single statement; enqueues, claims and acks in
flight together share one (`Batcher`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from adapters.postgres.batch import Batcher
from adapters.postgres.database import SOFT, Database
from adapters.postgres.mailbox_rows import (
    Ack,
    Acked,
    Claim,
    Enqueue,
    enqueue_columns,
    message_from,
    transition_from,
)
from adapters.postgres.mailbox_sql import (
    ACK,
    CLAIM,
    CLAIM_MANY,
    ENQUEUE,
    ESCALATE,
    PRUNE,
    RELEASE_EXPIRED,
)
from domain.mailbox_rules import LeaseOffer
from domain.model import Message, Priority
from domain.ports import Mailbox
from domain.receipts import DeliveryState, Transition

MAX_BATCH = 512


class PostgresMailbox(Mailbox):
    def __init__(self, db: Database) -> None:
        self.db = db
        self._enqueues: Batcher[Enqueue, frozenset[str]] = Batcher(self._insert, MAX_BATCH)
        self._acks: Batcher[Ack, Acked] = Batcher(self._delete, MAX_BATCH)
        self._claims: Batcher[Claim, list[Message]] = Batcher(self._lease, MAX_BATCH)

    async def enqueue(
        self, message: Message, recipients: Sequence[str], offers: Sequence[LeaseOffer] = ()
    ) -> frozenset[str]:
        """Returns once the message and a delivery per distinct recipient are committed
        (with the server's synchronous_commit, never `off`), with the recipients whose
        delivery was leased to their offer. Sends that arrive while a commit is in
        flight share the next one."""
        if not recipients:
            return frozenset()
        offered = {offer.member_id: offer for offer in offers}
        return await self._enqueues.submit((message, recipients, offered))

    async def _insert(self, batch: list[Enqueue]) -> list[frozenset[str]]:
        rows = await self.db.fetch(ENQUEUE, *enqueue_columns(batch))
        leased = {(row["message_id"], row["member_id"]) for row in rows if row["leased"]}
        return [
            frozenset(member for member in recipients if (m.id, member) in leased)
            for m, recipients, _ in batch
        ]

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
        admits = ",".join(sorted(p.value for p in priorities))
        return await self._claims.submit(
            (member_id, presence_id, connection_id, admits, now, lease_until, limit, session_id)
        )

    async def _lease(self, batch: list[Claim]) -> list[list[Message]]:
        """Claims in flight together share a statement; two of one member never do
        (in one transaction SKIP LOCKED would not keep them apart): a member's second
        claim goes in the next round."""
        out: list[list[Message]] = [[] for _ in batch]
        rounds: list[list[int]] = []  # indexes into batch; a member at most once each
        seen: dict[str, int] = {}
        for i, claim in enumerate(batch):
            k = seen[claim[0]] = seen.get(claim[0], -1) + 1
            if k == len(rounds):
                rounds.append([])
            rounds[k].append(i)
        for indexes in rounds:
            leased = await self._lease_round([batch[i] for i in indexes])
            for i, messages in zip(indexes, leased, strict=True):
                out[i] = messages
        return out

    async def _lease_round(self, claims: list[Claim]) -> list[list[Message]]:
        if len(claims) == 1:
            member, presence, connection, admits, now, until, limit, session = claims[0]
            rows = await self.db.fetch(
                CLAIM, member, presence, connection, admits.split(","), now, until, limit, session
            )
            return [[message_from(row) for row in rows]]
        rows = await self.db.fetch(
            CLAIM_MANY, *(list(column) for column in zip(*claims, strict=True))
        )
        out: list[list[Message]] = [[] for _ in claims]
        for row in rows:
            out[row["n"] - 1].append(message_from(row))
        return out

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

    async def _delete(self, batch: list[Ack]) -> list[Acked]:
        pairs = [
            (member, message, now) for member, ids, now in batch for message in dict.fromkeys(ids)
        ]
        members, messages, times = zip(*pairs, strict=True)
        rows = await self.db.fetch(ACK, list(members), list(messages), list(times))
        acked = {(row["member_id"], row["message_id"]): row for row in rows}
        out: list[Acked] = []
        for member, ids, _ in batch:
            mine = [acked[(member, m)] for m in dict.fromkeys(ids) if (member, m) in acked]
            out.append(
                (
                    mine,
                    [transition_from(row, DeliveryState.ACKED) for row in mine if row["advanced"]],
                )
            )
        return out

    async def escalate(self, now: datetime) -> set[str]:
        rows = await self.db.fetch(ESCALATE, now)
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

    async def release_expired(self, now: datetime, leased_for: timedelta) -> set[str]:
        rows = await self.db.fetch(RELEASE_EXPIRED, now, leased_for)
        return {row["member_id"] for row in rows}

    async def prune(self, now: datetime) -> int:
        """Delete expired deliveries and expired messages; returns the deliveries
        removed. Delivered ones are already gone: an ack deletes them."""
        pruned: int = await self.db.fetchval(PRUNE, now)
        return pruned

    async def depth(self, now: datetime) -> int:
        depth: int = await self.db.fetchval(
            "SELECT count(*) FROM mesh.deliveries WHERE expires_at > $1", now
        )
        return depth
