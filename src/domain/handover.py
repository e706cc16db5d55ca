"""A delivery leased in its own enqueue (ADR 0031): when a recipient has a live,
lasting session on this instance that would claim a new message at once, the enqueue
leases the delivery to that session and the broker pushes the message from memory
after the commit, with no claim round trip. The store grants the lease only by
`mailbox_rules.leasable`; everything else (offline, other instance, held by status,
a lease refused, redelivery) goes through the claim as before."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from domain.mailbox_rules import LeaseOffer
from domain.model import Message
from domain.sessions import Session, SessionRegistry
from domain.status import admitted


def takes_at_once(session: Session, message: Message) -> bool:
    """Whether this session's claim would take the message now (deliver.py offers mail
    to a member's sessions newest first): a lasting session, not the sender's own, whose
    status admits the priority, and the message's target session when it has one."""
    return (
        not session.transient
        and session.presence_id != message.sender_presence_id
        and message.priority in admitted(session.status)
        and message.target_session_id in (None, session.session_id)
    )


def offers(
    sessions: SessionRegistry,
    message: Message,
    recipients: Iterable[str],
    now: datetime,
    lease_until: datetime,
) -> Sequence[LeaseOffer]:
    """One offer per recipient that has such a session here: its newest one."""
    found = []
    for member_id in dict.fromkeys(recipients):
        session = next(
            (s for s in sessions.of_member(member_id) if takes_at_once(s, message)), None
        )
        if session is not None:
            found.append(
                LeaseOffer(
                    member_id=member_id,
                    presence_id=session.presence_id,
                    connection_id=session.connection_id,
                    session_id=session.session_id,
                    priorities=admitted(session.status),
                    now=now,
                    lease_until=lease_until,
                )
            )
    return found
