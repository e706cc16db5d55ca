from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import count

from adapters.memory.presences import InMemoryPresenceStore
from domain.delivery import claimable_by
from domain.mailbox_rules import Claimant, LeaseOffer, claimable, leasable
from domain.model import Message, Priority
from domain.ports import Mailbox, ReceiptStore
from domain.receipts import (
    DeliveryState,
    Transition,
    pushed_when_leased,
    sent_by,
    transition,
)

PUSHED = DeliveryState.PUSHED


@dataclass(slots=True)
class _Delivery:
    seq: int
    message: Message
    member_id: str
    priority: Priority  # the message's, `now` once escalated
    leased_to: str | None = None
    lease_until: datetime | None = None
    delivered_at: datetime | None = None


class InMemoryMailbox(Mailbox):
    def __init__(self, presences: InMemoryPresenceStore | None = None) -> None:
        self.deliveries: list[_Delivery] = []  # in queue order
        self._seq = count(1)
        # Where a message for one session learns whether that session still lives;
        # without a store, no session does.
        self.presences = presences
        # Where an ack keeps its `acked` receipt (the InMemoryReceipts beside it).
        self.receipts: ReceiptStore | None = None

    def _lives(self, member_id: str, session_id: str) -> bool:
        """The member has an unended presence of this session (online or in grace)."""
        if self.presences is None:
            return False
        return any(
            p.member_id == member_id and p.session_id == session_id and p.ended_at is None
            for p in self.presences.presences.values()
        )

    async def enqueue(
        self, message: Message, recipients: Sequence[str], offers: Sequence[LeaseOffer] = ()
    ) -> frozenset[str]:
        offered = {offer.member_id: offer for offer in offers}
        leased = set()
        for member_id in dict.fromkeys(recipients):
            d = _Delivery(next(self._seq), message, member_id, message.priority)
            offer = offered.get(member_id)
            if offer is not None and leasable(
                older_claimable=any(
                    self._takes(o, offer.claimant, offer.session_id) for o in self.deliveries
                ),
                session_live=self._connected(offer),
            ):
                d.leased_to, d.lease_until = offer.connection_id, offer.lease_until
                leased.add(member_id)
            self.deliveries.append(d)
        return frozenset(leased)

    def _takes(self, d: _Delivery, claimant: Claimant, session_id: str | None) -> bool:
        return (
            d.delivered_at is None
            and claimable(
                claimant,
                member_id=d.member_id,
                sender_presence_id=d.message.sender_presence_id,
                priority=d.priority,
                expires_at=d.message.expires_at,
                lease_until=d.lease_until,
            )
            and self._claimable(d, session_id)
        )

    def _connected(self, offer: LeaseOffer) -> bool:
        """The offered presence is still live on the offered connection."""
        if self.presences is None:
            return True
        p = self.presences.presences.get(offer.presence_id)
        return p is not None and p.ended_at is None and p.connection_id == offer.connection_id

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
        claimant = Claimant(member_id, presence_id, priorities, now)
        claimed: list[Message] = []
        for d in self.deliveries:
            if len(claimed) >= limit:
                break
            if self._takes(d, claimant, session_id):
                d.leased_to, d.lease_until = connection_id, lease_until
                claimed.append(d.message)
        return claimed

    def _claimable(self, d: _Delivery, session_id: str | None) -> bool:
        target = d.message.target_session_id
        lives = target is not None and self._lives(d.member_id, target)
        return claimable_by(target, session_id, target_lives=lives)

    async def ack(self, member_id: str, message_ids: Sequence[str], now: datetime) -> int:
        return len(self._mark(member_id, message_ids, now))

    async def acknowledge(
        self, member_id: str, message_ids: Sequence[str], now: datetime
    ) -> list[Transition]:
        marked = [
            transition(
                sent_by(d.message),
                member_id,
                DeliveryState.ACKED,
                now,
                escalated=d.priority is not d.message.priority,
            )
            for d in self._mark(member_id, message_ids, now)
        ]
        if self.receipts is None:
            return marked
        return await self.receipts.record(marked)

    def _mark(self, member_id: str, message_ids: Sequence[str], now: datetime) -> list[_Delivery]:
        wanted = set(message_ids)
        marked = []
        for d in self.deliveries:
            if d.member_id == member_id and d.message.id in wanted and d.delivered_at is None:
                d.delivered_at = now
                marked.append(d)
        return marked

    async def escalate(self, now: datetime) -> set[str]:
        members = set()
        for d in self.deliveries:
            due = d.message.escalate_at is not None and d.message.escalate_at <= now
            if due and d.priority is not Priority.NOW and self._undelivered(d, now):
                d.priority = Priority.NOW
                members.add(d.member_id)
        return members

    @staticmethod
    def _undelivered(d: _Delivery, now: datetime) -> bool:
        return d.delivered_at is None and d.message.expires_at > now

    async def release(self, connection_id: str) -> None:
        for d in self.deliveries:
            if d.leased_to == connection_id and d.delivered_at is None:
                d.leased_to = d.lease_until = None

    async def release_orphans(self, member_id: str, live: Sequence[str]) -> int:
        orphaned = [
            d
            for d in self.deliveries
            if d.member_id == member_id
            and d.delivered_at is None
            and d.leased_to is not None
            and d.leased_to not in live
        ]
        for d in orphaned:
            d.leased_to = d.lease_until = None
        return len(orphaned)

    async def release_expired(self, now: datetime, leased_for: timedelta) -> set[str]:
        members, lapsed = set(), []
        for d in self.deliveries:
            if d.delivered_at is None and d.lease_until is not None and d.lease_until <= now:
                at = pushed_when_leased(d.lease_until, leased_for)
                escalated = d.priority is not d.message.priority
                lapsed.append(transition(sent_by(d.message), d.member_id, PUSHED, at, escalated))
                d.leased_to = d.lease_until = None
                members.add(d.member_id)
        if self.receipts is not None:
            await self.receipts.record([t for t in lapsed if not await self._kept(t)])
        return members

    async def _kept(self, t: Transition) -> bool:
        assert self.receipts is not None
        facts = await self.receipts.facts(t.message_id)
        return facts is not None and any(
            r.member_id == t.recipient_member_id and r.receipt is not None for r in facts.recipients
        )

    async def prune(self, now: datetime) -> int:
        before = len(self.deliveries)
        self.deliveries = [
            d for d in self.deliveries if d.delivered_at is None and d.message.expires_at > now
        ]
        return before - len(self.deliveries)

    async def depth(self, now: datetime) -> int:
        return sum(
            1 for d in self.deliveries if d.delivered_at is None and d.message.expires_at > now
        )
