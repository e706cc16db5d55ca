"""`message_status`: who may ask about a message (its sender only), and the state
reported for each recipient from the stores' facts and the recipient's live sessions
(contract: spec/receipts.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from domain.model import PeerView
from domain.receipts import DeliveryState, MessageFacts, RecipientFacts
from domain.status import admitted


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
