"""The mailbox: messages, their deliveries and leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from domain.mailbox_rules import LeaseOffer
from domain.model import (
    Message,
    Priority,
)
from domain.receipts import Transition


class Mailbox(Protocol):
    async def enqueue(
        self, message: Message, recipients: Sequence[str], offers: Sequence[LeaseOffer] = ()
    ) -> frozenset[str]:
        """Store the message with one delivery per recipient member. Returns only once
        durable: that is what `queued: true` promises. A recipient with an offer has its
        delivery leased to the offered session in the same write when
        `mailbox_rules.leasable` holds; returns those recipients (their session pushes
        the message from memory; the others are woken to claim).

        Order: calls started one after another (tasks created in order) are queued in
        that order, even when they are in flight together. An implementation takes its
        place in the queue before it first suspends."""
        ...

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
        """Lease to this connection, in queue order, up to `limit` of the member's
        deliveries that are undelivered, unexpired, not under a live lease, of an
        admitted priority, not sent by this presence, and that the claiming session
        (`session_id`) may take by `delivery.claimable_by` (a message for another
        session of the member waits while that session has not ended). Concurrent
        claimers never get the same delivery. The rule: domain/mailbox_rules.py."""
        ...

    async def ack(self, member_id: str, message_ids: Sequence[str], now: datetime) -> int:
        """Mark delivered; ids that are not this member's deliveries are ignored. A
        message whose last delivery this acks is deleted (mailbox_rules.spent)."""
        ...

    async def acknowledge(
        self, member_id: str, message_ids: Sequence[str], now: datetime
    ) -> list[Transition]:
        """`ack`, and in the same write keep the `acked` receipt of each delivery it
        marked (`receipts.advances`: not over an `expired`); return the receipts that
        advanced, for their senders."""
        ...

    async def escalate(self, now: datetime) -> set[str]:
        """Raise to `now` the undelivered, unexpired deliveries whose escalation
        deadline passed; return their members (their mail may be claimable now)."""
        ...

    async def release(self, connection_id: str) -> None:
        """Drop the leases of a connection that closed, so they can be claimed again."""
        ...

    async def release_orphans(self, member_id: str, live: Sequence[str]) -> int:
        """Drop the member's leases held by connections other than `live` (sockets
        that died with their instance): a reconnecting member gets that mail now
        rather than when the lease runs out. Returns how many were dropped."""
        ...

    async def release_expired(self, now: datetime, leased_for: timedelta) -> set[str]:
        """Drop leases that ran out; return the members whose mail is claimable again.
        In the same write keep a `pushed` receipt for each such delivery that has no
        receipt kept, at `receipts.pushed_when_leased` (leases last `leased_for`)."""
        ...

    async def prune(self, now: datetime) -> int:
        """Remove delivered and expired deliveries and messages with none left;
        returns the deliveries this call removed (a store may drop acked ones at once)."""
        ...

    async def depth(self, now: datetime) -> int:
        """Undelivered, unexpired deliveries in the whole store."""
        ...
