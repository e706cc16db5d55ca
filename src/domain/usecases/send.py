"""A peer sends: size, rate, target, recipients, then one durable enqueue."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from domain import delivery
from domain.errors import InvalidInput, Rejected, StoreUnavailable
from domain.model import Message, Priority
from domain.sessions import Session
from domain.usecases.context import Context


@dataclass(frozen=True, slots=True)
class SendRequest:
    target_spec: str
    nonce: str
    ciphertext: str
    priority: Priority = Priority.NEXT
    ttl_seconds: int | None = None
    frame_bytes: int = 0


async def send(ctx: Context, session: Session, request: SendRequest) -> str:
    """Return the message id once it is durably queued; raise Rejected or StoreUnavailable."""
    try:
        message_id = await _send(ctx, session, request)
    except Rejected as rejected:
        ctx.metrics.message_rejected(rejected.code)
        raise
    except StoreUnavailable:
        ctx.metrics.message_rejected("unavailable")
        raise
    ctx.metrics.message_routed(request.priority)
    return message_id


def reject_oversized(ctx: Context, frame_bytes: int) -> None:
    limit = ctx.policy.max_message_bytes
    if frame_bytes > limit:
        raise Rejected("too_large", f"frame of {frame_bytes} bytes exceeds {limit}")


async def _send(ctx: Context, session: Session, request: SendRequest) -> str:
    policy, now = ctx.policy, ctx.clock.now()
    reject_oversized(ctx, request.frame_bytes)
    if not ctx.send_buckets.take(session.member_id, now.timestamp()):
        raise Rejected("rate_limited", "send budget of this member exhausted; retry later")
    target = delivery.parse_target(request.target_spec)
    expires = delivery.expires_at(
        now, request.ttl_seconds, policy.message_ttl, policy.max_message_ttl
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
    )
    try:
        await ctx.mailbox.enqueue(message, recipients)
    except InvalidInput as refused:  # content the store cannot hold (a NUL, say)
        raise Rejected("invalid", str(refused)) from refused
    await ctx.notifier.wake(recipients)
    return message.id
