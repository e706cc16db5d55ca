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
from adapters.postgres.mailbox_sql import ACK, CLAIM, CLAIM_MANY, ENQUEUE, ESCALATE, PRUNE
from domain.mailbox_rules import LeaseOffer
from domain.model import Message, Priority
from domain.ports import Mailbox
from domain.receipts import DeliveryState, Transition

MAX_BATCH = 512


def _columns(batch: list[_Enqueue]) -> list[Any]:
    """The batch as the statement's parameters: 11 arrays of messages, 12 of deliveries
    (7 of the delivery, 5 of its lease offer), and the time the offers were made."""
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
        for m, _, _ in batch
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
            *_offer(offers.get(member_id)),
        )
        for m, recipients, offers in batch
        for member_id in dict.fromkeys(recipients)
    ]
    columns = (*zip(*messages, strict=True), *zip(*deliveries, strict=True))
    now = max((o.now for _, _, offers in batch for o in offers.values()), default=None)
    return [*(list(column) for column in columns), now or batch[0][0].created_at]


def _offer(offer: LeaseOffer | None) -> tuple[Any, ...]:
    if offer is None:
        return (None, None, None, None, None)
    admits = ",".join(sorted(p.value for p in offer.priorities))
    return (
        offer.connection_id,
        offer.presence_id,
        offer.session_id,
        admits,
        offer.lease_until,
    )


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


_Enqueue = tuple[Message, Sequence[str], dict[str, LeaseOffer]]
_Ack = tuple[str, Sequence[str], datetime]
# member, presence, connection, admitted ('now,next'), now, lease end, limit, session
_Claim = tuple[str, str, str, str, datetime, datetime, int, str | None]
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
        self._enqueues: Batcher[_Enqueue, frozenset[str]] = Batcher(self._insert, MAX_BATCH)
        self._acks: Batcher[_Ack, _Acked] = Batcher(self._delete, MAX_BATCH)
        self._claims: Batcher[_Claim, list[Message]] = Batcher(self._lease, MAX_BATCH)

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

    async def _insert(self, batch: list[_Enqueue]) -> list[frozenset[str]]:
        rows = await self.db.fetch(ENQUEUE, *_columns(batch))
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

    async def _lease(self, batch: list[_Claim]) -> list[list[Message]]:
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

    async def _lease_round(self, claims: list[_Claim]) -> list[list[Message]]:
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

    async def _delete(self, batch: list[_Ack]) -> list[_Acked]:
        pairs = [
            (member, message, now) for member, ids, now in batch for message in dict.fromkeys(ids)
        ]
        members, messages, times = zip(*pairs, strict=True)
        rows = await self.db.fetch(ACK, list(members), list(messages), list(times))
        acked = {(row["member_id"], row["message_id"]): row for row in rows}
        out: list[_Acked] = []
        for member, ids, _ in batch:
            mine = [acked[(member, m)] for m in dict.fromkeys(ids) if (member, m) in acked]
            out.append((mine, [_acked(row) for row in mine if row["advanced"]]))
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
        pruned: int = await self.db.fetchval(PRUNE, now)
        return pruned

    async def depth(self, now: datetime) -> int:
        depth: int = await self.db.fetchval(
            "SELECT count(*) FROM mesh.deliveries WHERE expires_at > $1", now
        )
        return depth
