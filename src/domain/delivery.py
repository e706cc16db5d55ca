"""Delivery policy: who a send reaches, when it expires, how long a push is leased."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.admission import is_pubkey
from domain.errors import Rejected
from domain.model import Member

BROADCAST = "*"


MAX_SESSION_ID = 256  # as long as a hello's sessionId may be


@dataclass(frozen=True, slots=True)
class Target:
    """A direct message to one member's pubkey (to one of its sessions when
    `session_id` is set), or (pubkey None) a broadcast."""

    pubkey: str | None
    session_id: str | None = None

    @property
    def broadcast(self) -> bool:
        return self.pubkey is None


def parse_target(spec: str) -> Target:
    """`*`, `<pubkey>` or `<pubkey>/<sessionId>`."""
    if spec == BROADCAST:
        return Target(None)
    pubkey, slash, session_id = spec.partition("/")
    if is_pubkey(pubkey) and (not slash or 0 < len(session_id) <= MAX_SESSION_ID):
        return Target(pubkey, session_id or None)
    raise Rejected(
        "unsupported_target",
        "targetSpec must be a member pubkey (64 hex), '<pubkey>/<sessionId>' or '*'",
    )


def claimable_by(
    target_session_id: str | None, claimer_session_id: str | None, *, target_lives: bool
) -> bool:
    """Who may take a delivery: a message for one session goes to that session while it
    lives (online or in its grace window), held and gated like any other; once that
    session has ended, to any session of the member, so it is never lost. Stores apply
    this rule atomically with the claim."""
    return target_session_id is None or target_session_id == claimer_session_id or not target_lives


def direct_recipient(member: Member | None) -> list[str]:
    if member is None or member.revoked:
        raise Rejected("no_recipient", "no such member in this mesh")
    return [member.id]


def broadcast_recipients(members: list[Member], sender_member_id: str) -> list[str]:
    """Every other unrevoked member: one delivery each, the sender's own member excluded."""
    ids = [m.id for m in members if not m.revoked and m.id != sender_member_id]
    if not ids:
        raise Rejected("no_recipient", "no other member in this mesh")
    return ids


def expires_at(
    now: datetime, ttl_seconds: int | None, default: timedelta, longest: timedelta
) -> datetime:
    if ttl_seconds is None:
        return now + default
    if not 0 < ttl_seconds <= longest.total_seconds():
        limit = int(longest.total_seconds())
        raise Rejected("invalid", f"ttlSeconds must be between 1 and {limit}")
    return now + timedelta(seconds=ttl_seconds)
