"""What a session may claim, and when a message is done. The Postgres mailbox applies
each inside one statement (adapters/postgres/mailbox_sql.py `CLAIM` and `ACK`: two
claimers never take the same row, nothing reads a message left without deliveries;
ADR 0004); the in-memory mailbox calls these functions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.model import Priority


@dataclass(frozen=True, slots=True)
class Claimant:
    """The session asking for mail, and when."""

    member_id: str
    presence_id: str
    priorities: frozenset[Priority]  # what its status admits (domain/status.py admitted)
    now: datetime


@dataclass(frozen=True, slots=True)
class LeaseOffer:
    """The session of `member_id` that a new delivery may be leased to in its enqueue
    (until `lease_until`), and what that session's claim would admit at `now`."""

    member_id: str
    presence_id: str
    connection_id: str
    session_id: str
    priorities: frozenset[Priority]
    now: datetime
    lease_until: datetime

    @property
    def claimant(self) -> Claimant:
        return Claimant(self.member_id, self.presence_id, self.priorities, self.now)


def claimable(
    claimant: Claimant,
    *,
    member_id: str,
    sender_presence_id: str,
    priority: Priority,
    expires_at: datetime,
    lease_until: datetime | None,
) -> bool:
    """An unacked delivery this session may take now: its member's own, not sent by this
    very session, a priority its status admits, unexpired, and not leased (a lease that
    ran out is claimable again). Which session of the member: delivery.claimable_by.
    Claims take the oldest first (queue order)."""
    return (
        member_id == claimant.member_id
        and sender_presence_id != claimant.presence_id
        and priority in claimant.priorities
        and expires_at > claimant.now
        and (lease_until is None or lease_until <= claimant.now)
    )


def leasable(*, older_claimable: bool, session_live: bool) -> bool:
    """A new delivery is leased in its enqueue to the session offered for it
    (domain/handover.py) only when that session's claim would take it first: none of
    the member's older deliveries is claimable by that session (`claimable`, a lease
    that ran out included, and `delivery.claimable_by`), so per-recipient order holds;
    and the session's presence is still live on that connection, so no lease goes to
    a socket already gone. The store applies this in the enqueue itself, in the same
    snapshot."""
    return session_live and not older_claimable


def spent(deliveries_left: int) -> bool:
    """A message is deleted with its last delivery's ack: none left, no one to tell."""
    return deliveries_left == 0
