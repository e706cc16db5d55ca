"""The mailbox's rows: a batch of sends as the enqueue's parameter arrays, the rows
the claim, the ack and the receipt store return as domain objects."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from adapters.postgres.database import Record
from domain.mailbox_rules import LeaseOffer
from domain.model import Message, Priority
from domain.receipts import DeliveryState, Transition

# One item of each group-committed statement (adapters/postgres/batch.py).
Enqueue = tuple[Message, Sequence[str], dict[str, LeaseOffer]]
Ack = tuple[str, Sequence[str], datetime]
# member, presence, connection, admitted ('now,next'), now, lease end, limit, session
Claim = tuple[str, str, str, str, datetime, datetime, int, str | None]
Acked = tuple[list[Record], list[Transition]]  # deleted deliveries, receipts that advanced


def enqueue_columns(batch: list[Enqueue]) -> list[Any]:
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


def transition_from(row: Record, state: DeliveryState) -> Transition:
    """A receipt row (or an acked delivery joined to its message) as a Transition."""
    return Transition(
        message_id=row["message_id"],
        mesh_id=row["mesh_id"],
        sender_member_id=row["sender_member_id"],
        sender_presence_id=row["sender_presence_id"],
        recipient_member_id=row["member_id"],
        state=state,
        at=row["at"],
        escalated=row["escalated"],
    )
