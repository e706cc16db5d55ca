"""What became of a message, per recipient: the receipt states, their order, the
facts the stores keep, and which sessions get a receipt (contract: spec/receipts.md).
Who may ask and what `message_status` reports: domain/message_status.py."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from domain.model import Message, Priority

RECEIPTS_CAPABILITY = "receipts"


class DeliveryState(StrEnum):
    QUEUED = "queued"
    HELD = "held"
    PUSHED = "pushed"
    ACKED = "acked"
    EXPIRED = "expired"


# The states a receipt reports (queued and held are only ever answered, never sent).
RECEIPT_STATES = (DeliveryState.PUSHED, DeliveryState.ACKED, DeliveryState.EXPIRED)
TERMINAL = frozenset({DeliveryState.ACKED, DeliveryState.EXPIRED})


def advances(current: DeliveryState | None, new: DeliveryState) -> bool:
    """Per recipient the states only move forward: pushed, then acked or expired. A
    redelivery (pushed again) is reported while nothing final was; after acked or
    expired, nothing is. Stores apply exactly this rule atomically (an upsert that
    changes a row only while it is `pushed`)."""
    if new not in RECEIPT_STATES:
        raise ValueError(f"{new} is not a receipt state")
    return current is None or current is DeliveryState.PUSHED


def pushed_when_leased(lease_until: datetime, leased_for: timedelta) -> datetime:
    """A lease that ran out without an ack stood for a push (its state stays `pushed`:
    states only move forward, receipts.md), made when the lease was taken. The lease
    sweep keeps that `pushed` receipt as it releases the lease, unless one is kept;
    a store applies this in the release itself (`Mailbox.release_expired`)."""
    return lease_until - leased_for


@dataclass(frozen=True, slots=True)
class SentBy:
    """Who sent a message: what a receipt about it needs to find its sender."""

    message_id: str
    mesh_id: str
    sender_member_id: str
    sender_presence_id: str


@dataclass(frozen=True, slots=True)
class Transition:
    """A recipient's delivery state moved: the store keeps it, the sender hears it."""

    message_id: str
    mesh_id: str
    sender_member_id: str
    sender_presence_id: str
    recipient_member_id: str
    state: DeliveryState
    at: datetime
    escalated: bool = False


def transition(
    sent: SentBy, recipient: str, state: DeliveryState, at: datetime, escalated: bool = False
) -> Transition:
    return Transition(
        message_id=sent.message_id,
        mesh_id=sent.mesh_id,
        sender_member_id=sent.sender_member_id,
        sender_presence_id=sent.sender_presence_id,
        recipient_member_id=recipient,
        state=state,
        at=at,
        escalated=escalated,
    )


def sent_by(message: Message) -> SentBy:
    return SentBy(message.id, message.mesh_id, message.sender_member_id, message.sender_presence_id)


@dataclass(frozen=True, slots=True)
class Receipt:
    """A `receipt` frame as the core hands it to a sender's connection."""

    message_id: str
    recipient_member_id: str
    recipient_pubkey: str
    state: DeliveryState
    at: datetime
    escalated: bool = False


@dataclass(frozen=True, slots=True)
class KeptReceipt:
    state: DeliveryState
    at: datetime
    escalated: bool


@dataclass(frozen=True, slots=True)
class QueuedDelivery:
    """A delivery still in the mailbox: its effective priority (`now` once
    escalated) and until when a lease holds it, if one does."""

    priority: Priority
    expires_at: datetime
    lease_until: datetime | None


@dataclass(frozen=True, slots=True)
class RecipientFacts:
    member_id: str
    receipt: KeptReceipt | None
    queued: QueuedDelivery | None


@dataclass(frozen=True, slots=True)
class MessageFacts:
    """What the stores know of one message: who sent it, and each recipient's
    kept receipt and live delivery."""

    message_id: str
    mesh_id: str
    sender_member_id: str
    created_at: datetime | None
    recipients: tuple[RecipientFacts, ...]


def receipt_targets(
    candidates: Sequence[tuple[str, bool]], sender_presence_id: str, sender_online_elsewhere: bool
) -> list[str]:
    """Which of the sender member's sessions here (presence id, asked for receipts)
    get a receipt: the sending session when it is here and asked; otherwise, unless
    the sending session is live on another instance, every other one that asked."""
    asking = [presence for presence, wants in candidates if wants]
    if sender_presence_id in asking:
        return [sender_presence_id]
    if sender_online_elsewhere:
        return []
    return asking
