"""What became of a message, per recipient: the receipt states, their order, who may
ask, and the state a `message_status` reports (contract: spec/receipts.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.model import Message, PeerView, Priority
from domain.status import admitted

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


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    member_id: str
    state: DeliveryState
    at: datetime | None
    reason: str | None = None
    escalated: bool = False


def may_ask(facts: MessageFacts | None, mesh_id: str, member_id: str) -> bool:
    """Only the member who sent the message may ask about it; anyone else gets the
    same answer as for an unknown id."""
    return facts is not None and facts.mesh_id == mesh_id and facts.sender_member_id == member_id


def recipient_status(
    facts: RecipientFacts, peers: Sequence[PeerView], now: datetime, created_at: datetime | None
) -> RecipientStatus:
    """The state reported for one recipient. A kept receipt says it; otherwise the
    live delivery: expired once its TTL passed, pushed while leased, else held when
    the recipient has live sessions but none whose status admits the priority
    (reason: the status of its most recently connected one), queued otherwise
    (reason `offline` when it has no live session)."""
    kept = facts.receipt
    if kept is not None:
        return RecipientStatus(facts.member_id, kept.state, kept.at, escalated=kept.escalated)
    queued = facts.queued
    if queued is None or queued.expires_at <= now:
        at = queued.expires_at if queued is not None else None
        return RecipientStatus(facts.member_id, DeliveryState.EXPIRED, at)
    if queued.lease_until is not None and queued.lease_until > now:
        return RecipientStatus(facts.member_id, DeliveryState.PUSHED, None)
    live = [p for p in peers if p.member_id == facts.member_id and p.online]
    if not live:
        return RecipientStatus(facts.member_id, DeliveryState.QUEUED, created_at, "offline")
    if any(queued.priority in admitted(p.status) for p in live):
        return RecipientStatus(facts.member_id, DeliveryState.QUEUED, created_at)
    newest = max(live, key=lambda p: p.connected_at)
    return RecipientStatus(facts.member_id, DeliveryState.HELD, created_at, newest.status.value)


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
