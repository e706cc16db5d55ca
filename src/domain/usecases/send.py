"""A peer sends: size, rate, target, recipients (`prepare`), then one durable enqueue
(`commit`). A socket prepares its sends one after the other, in frame order, and may
commit several at once: commits started in order are queued in that order (the
Mailbox port's promise), so a sender's messages keep their order per recipient."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain import delivery, escalation, handover
from domain.errors import InvalidInput, Rejected, Revoked, StoreUnavailable
from domain.model import Message, Priority
from domain.sessions import Session
from domain.usecases.context import Context
from domain.usecases.deliver import hand_over


@dataclass(frozen=True, slots=True)
class SendRequest:
    target_spec: str
    nonce: str
    ciphertext: str
    priority: Priority = Priority.NEXT
    ttl_seconds: int | None = None
    frame_bytes: int = 0
    escalate_after_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A send that passed every check: the message and the members it goes to."""

    message: Message
    recipients: tuple[str, ...]


async def send(ctx: Context, session: Session, request: SendRequest) -> str:
    """Return the message id once it is durably queued; raise Rejected or StoreUnavailable."""
    return await commit(ctx, await prepare(ctx, session, request))


async def prepare(ctx: Context, session: Session, request: SendRequest) -> Outgoing:
    """Check the send (size, sender not revoked, rate, target) and build its message;
    raise Rejected (Revoked: the sender was revoked) or StoreUnavailable (a lookup).
    Takes from the member's send budget."""
    try:
        return await _prepare(ctx, session, request)
    except (Rejected, StoreUnavailable) as refused:
        ctx.metrics.message_rejected(_code(refused))
        raise


async def commit(ctx: Context, outgoing: Outgoing) -> str:
    """Queue the message durably, hand it to the sessions here it was leased to in
    the enqueue (ADR 0031), wake its other recipients, return its id."""
    message, recipients = outgoing.message, outgoing.recipients
    now = ctx.clock.now()
    offers = handover.offers(ctx.sessions, message, recipients, now, now + ctx.policy.ack_timeout)
    try:
        try:
            leased = await ctx.mailbox.enqueue(message, recipients, offers)
        except InvalidInput as refused:  # content the store cannot hold (a NUL, say)
            raise Rejected("invalid", str(refused)) from refused
    except (Rejected, StoreUnavailable) as refused:
        ctx.metrics.message_rejected(_code(refused))
        raise
    ctx.metrics.message_routed(message.priority)
    if leased:
        await hand_over(ctx, message, [o for o in offers if o.member_id in leased])
    others = [member for member in recipients if member not in leased]
    if others and message.target_session_id is None:
        await ctx.notifier.wake(others)
    elif others:  # that session may be on another instance than the member's others
        await ctx.notifier.wake_everywhere(others)
    return message.id


def _code(refused: Rejected | StoreUnavailable) -> str:
    return refused.code if isinstance(refused, Rejected) else "unavailable"


def reject_oversized(ctx: Context, frame_bytes: int) -> None:
    limit = ctx.policy.max_message_bytes
    if frame_bytes > limit:
        raise Rejected("too_large", f"frame of {frame_bytes} bytes exceeds {limit}")


async def _prepare(ctx: Context, session: Session, request: SendRequest) -> Outgoing:
    policy, now = ctx.policy, ctx.clock.now()
    reject_oversized(ctx, request.frame_bytes)
    # Checked on every send, not only through the revocation's NOTIFY (which a broken
    # LISTEN connection never hears): the member cache serves this for a few seconds at
    # most, and keeps nothing while LISTEN is down (issue 15).
    sender = await ctx.directory.member(session.mesh_id, session.member_id)
    if sender is None or sender.revoked:
        raise Revoked()
    if not ctx.send_buckets.take(session.member_id, now.timestamp()):
        raise Rejected("rate_limited", "send budget of this member exhausted; retry later")
    target = delivery.parse_target(request.target_spec)
    expires = delivery.expires_at(
        now, request.ttl_seconds, policy.message_ttl, policy.max_message_ttl
    )
    escalate_at = escalation.escalate_at(
        now, request.priority, request.escalate_after_seconds, expires
    )
    if target.pubkey is None:
        members = await ctx.directory.members(session.mesh_id)
        recipients = delivery.broadcast_recipients(members, session.member_id)
    else:
        member = await ctx.directory.member_by_pubkey(session.mesh_id, target.pubkey)
        recipients = delivery.direct_recipient(member)
    message = Message(
        id=str(uuid.uuid4()),
        mesh_id=session.mesh_id,
        sender_member_id=session.member_id,
        sender_pubkey=session.pubkey,
        sender_presence_id=session.presence_id,
        priority=request.priority,
        nonce=request.nonce,
        ciphertext=request.ciphertext,
        created_at=now,
        expires_at=expires,
        escalate_at=escalate_at,
        target_session_id=target.session_id,
    )
    return Outgoing(message, tuple(recipients))
