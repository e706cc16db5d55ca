"""Escalation: a `next` or `low` message not pushed by its deadline is pushed as `now`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from domain.errors import Rejected
from domain.model import Message, Priority


def escalate_at(
    now: datetime, priority: Priority, seconds: int | None, expires_at: datetime
) -> datetime | None:
    """The deadline of a send's `escalateAfterSeconds` (1 to the message's TTL, on a
    `next` or `low` message only); None when it asks for none."""
    if seconds is None:
        return None
    if priority is Priority.NOW:
        raise Rejected("invalid", "escalateAfterSeconds applies to next or low messages only")
    ttl = int((expires_at - now).total_seconds())
    if not 1 <= seconds <= ttl:
        raise Rejected("invalid", f"escalateAfterSeconds must be between 1 and {ttl}")
    return now + timedelta(seconds=seconds)


def is_due(message: Message, at: datetime) -> bool:
    """Whether a push at `at` is an escalated one: the deadline has passed."""
    return (
        message.escalate_at is not None
        and message.priority is not Priority.NOW
        and at >= message.escalate_at
    )


def as_pushed(message: Message, at: datetime) -> Message:
    """The message as a push at `at` carries it: `now` and escalated once due."""
    if is_due(message, at):
        return replace(message, priority=Priority.NOW, escalated=True)
    return message
