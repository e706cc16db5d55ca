"""Kept delivery states beside the in-memory mailbox, faithful to PostgresReceipts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from adapters.memory.mailbox import InMemoryMailbox
from domain.receipts import (
    TERMINAL,
    DeliveryState,
    KeptReceipt,
    MessageFacts,
    QueuedDelivery,
    RecipientFacts,
    Transition,
    advances,
    sent_by,
    transition,
)


@dataclass(slots=True)
class _Kept:
    last: Transition  # state, at and the sender of the message


class InMemoryReceipts:
    def __init__(self, mailbox: InMemoryMailbox) -> None:
        self.mailbox = mailbox
        mailbox.receipts = self
        self.kept: dict[tuple[str, str], _Kept] = {}  # (message id, recipient) in order

    async def record(self, transitions: Sequence[Transition]) -> list[Transition]:
        advanced = []
        for t in transitions:
            key = (t.message_id, t.recipient_member_id)
            kept = self.kept.get(key)
            if not advances(kept.last.state if kept else None, t.state):
                continue
            if kept is not None and kept.last.escalated and not t.escalated:
                t = replace(t, escalated=True)
            self.kept[key] = _Kept(t)
            advanced.append(t)
        return advanced

    async def expire(self, now: datetime) -> list[Transition]:
        expired = [
            transition(sent_by(d.message), d.member_id, DeliveryState.EXPIRED, now)
            for d in self.mailbox.deliveries
            if d.delivered_at is None and d.message.expires_at <= now
        ]
        return await self.record(expired)

    async def facts(self, message_id: str) -> MessageFacts | None:
        live = [d for d in self.mailbox.deliveries if d.message.id == message_id]
        kept = {m: k for (i, m), k in self.kept.items() if i == message_id}
        if not live and not kept:
            return None
        recipients: dict[str, RecipientFacts] = {}
        for d in live:
            queued = None
            if d.delivered_at is None:
                queued = QueuedDelivery(d.priority, d.message.expires_at, d.lease_until)
            recipients[d.member_id] = RecipientFacts(d.member_id, None, queued)
        for member_id, k in kept.items():
            queued = recipients[member_id].queued if member_id in recipients else None
            receipt = KeptReceipt(k.last.state, k.last.at, k.last.escalated)
            recipients[member_id] = RecipientFacts(member_id, receipt, queued)
        if live:
            m = live[0].message
            sender, mesh, created = m.sender_member_id, m.mesh_id, m.created_at
        else:
            first = next(iter(kept.values())).last
            sender, mesh, created = first.sender_member_id, first.mesh_id, None
        return MessageFacts(message_id, mesh, sender, created, tuple(recipients.values()))

    async def prune(self, cutoff: datetime, limit: int) -> int:
        by_message: dict[str, list[_Kept]] = {}
        for (message_id, _), k in self.kept.items():
            by_message.setdefault(message_id, []).append(k)
        live = {d.message.id for d in self.mailbox.deliveries}
        gone = 0
        for message_id, rows in by_message.items():
            settled = all(r.last.state in TERMINAL and r.last.at < cutoff for r in rows)
            if settled and message_id not in live:
                for r in rows:
                    if gone >= limit:
                        return gone
                    del self.kept[(message_id, r.last.recipient_member_id)]
                    gone += 1
        return gone
