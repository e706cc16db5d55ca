"""The sender's view: receipts kept per message and recipient, read and pruned."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from domain.receipts import MessageFacts, Transition


class ReceiptStore(Protocol):
    """Delivery state kept after the mailbox is done with a message, for receipts and
    `message_status` (ADR 0027)."""

    async def record(self, transitions: Sequence[Transition]) -> list[Transition]:
        """Keep these transitions, in order, under `receipts.advances` applied
        atomically per (message, recipient); return those that advanced."""
        ...

    async def expire(self, now: datetime) -> list[Transition]:
        """Record `expired` for the mailbox's deliveries whose TTL passed (before the
        mailbox prunes them); return those that advanced."""
        ...

    async def facts(self, message_id: str) -> MessageFacts | None:
        """The message's sender and each recipient's kept receipt and live delivery;
        None when neither the mailbox nor the kept receipts know the id."""
        ...

    async def prune(self, cutoff: datetime, limit: int) -> int:
        """Forget up to `limit` receipts of messages whose every recipient reached
        acked or expired before `cutoff` and that have no delivery left."""
        ...
