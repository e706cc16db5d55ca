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


def spent(deliveries_left: int) -> bool:
    """A message is deleted with its last delivery's ack: none left, no one to tell."""
    return deliveries_left == 0
