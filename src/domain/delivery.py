"""Delivery policy: who a send reaches, when it expires, how long a push is leased."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.admission import is_pubkey
from domain.errors import Rejected
from domain.model import Member

BROADCAST = "*"


@dataclass(frozen=True, slots=True)
class Target:
    """A direct message to one member's pubkey, or (pubkey None) a broadcast."""

    pubkey: str | None

    @property
    def broadcast(self) -> bool:
        return self.pubkey is None


def parse_target(spec: str) -> Target:
    if spec == BROADCAST:
        return Target(None)
    if is_pubkey(spec):
        return Target(spec)
    raise Rejected("unsupported_target", "targetSpec must be a member pubkey (64 hex) or '*'")


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
