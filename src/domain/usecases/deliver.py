"""Pushing queued mail to live sessions of this instance, and the acks that end it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable, Sequence
from functools import partial
from typing import Any

from domain.escalation import as_pushed
from domain.mailbox_rules import LeaseOffer
from domain.model import Message
from domain.ports import ConnectionGone
from domain.receipts import DeliveryState, Transition, sent_by, transition
from domain.sessions import Session
from domain.status import admitted
from domain.usecases import receipts
from domain.usecases.context import Context


async def deliver(ctx: Context, member_ids: Iterable[str]) -> None:
    """Offer each member's claimable mail to its sessions here, newest session first.

    Each member is drained on its own: one whose socket does not take its pushes (until
    its write deadline aborts it) delays no other member (issue 15). A member's own
    sessions are offered the mail in turn, newest first, so the newest claims it. A
    transient session (a one-shot command) is offered none: mail waits for the
    member's lasting sessions rather than pass through a process about to exit."""
    await _side_by_side([_drain_member(ctx, member_id) for member_id in dict.fromkeys(member_ids)])


async def _side_by_side(drains: list[Coroutine[Any, Any, None]]) -> None:
    """Run the drains together: one that waits on a stuck socket holds up no other."""
    if len(drains) == 1:
        await drains[0]
        return
    failures = [
        outcome
        for outcome in await asyncio.gather(*drains, return_exceptions=True)
        if isinstance(outcome, BaseException)
    ]
    if failures:
        raise failures[0]


async def _drain_member(ctx: Context, member_id: str) -> None:
    for session in ctx.sessions.of_member(member_id):
        if not session.transient:
            await ctx.drains.run(session.connection_id, partial(_drain, ctx, session))


async def hand_over(ctx: Context, message: Message, leased: Sequence[LeaseOffer]) -> None:
    """Push a message leased in its enqueue (ADR 0031) to those sessions, after the mail
    leased to them before it, without a claim. Called as the enqueue returns: the
    message joins each session's queue before anything else can run, so commits that
    end in order push in that order. A session gone meanwhile (its close may have
    released its leases before this one was written) has its leases released again and
    its member woken, so another session claims the message."""
    here, gone = [], []
    for offer in leased:
        session = ctx.sessions.get(offer.connection_id)
        if session is None:
            gone.append(offer)
        else:
            session.leased.append(message)
            here.append(session)
    if here:
        drains = [
            ctx.drains.run(s.connection_id, partial(_drain, ctx, s), claim=False) for s in here
        ]
        await ctx.offload.start(_side_by_side(drains))
    for offer in gone:
        await ctx.mailbox.release(offer.connection_id)
    if gone:
        await ctx.notifier.wake([offer.member_id for offer in gone])


async def _drain(ctx: Context, session: Session, claim: bool = True) -> None:
    """Push the mail leased to the session in its enqueue, then (`claim`) claim and push
    the rest of what it may take, batch by batch."""
    while session.leased and ctx.sessions.get(session.connection_id) is session:
        messages = list(session.leased)
        session.leased.clear()
        if not await _push(ctx, session, messages):
            return
    batch = ctx.policy.claim_batch
    while claim and ctx.sessions.get(session.connection_id) is session:
        now = ctx.clock.now()
        messages = await ctx.mailbox.claim(
            session.member_id,
            session.presence_id,
            session.connection_id,
            admitted(session.status),
            now,
            now + ctx.policy.ack_timeout,
            batch,
            session.session_id,
        )
        if not messages or not await _push(ctx, session, messages):
            return
        if len(messages) < batch:
            return


async def _push(ctx: Context, session: Session, messages: list[Message]) -> bool:
    """Write the leased messages to the session's socket and note them pushed; False
    once the socket is gone (its leases are released for another session)."""
    now = ctx.clock.now()
    messages = [as_pushed(m, now) for m in messages]
    try:
        await session.connection.push(messages)
    except ConnectionGone:
        await ctx.mailbox.release(session.connection_id)
        return False
    pushed_at = ctx.clock.now()
    member = session.member_id
    states = [
        transition(sent_by(m), member, DeliveryState.PUSHED, pushed_at, m.escalated)
        for m in messages
    ]
    acked: list[Transition] = []
    if not session.acks:
        # Without `ack`, a message counts as delivered once it is written.
        acked = await ctx.mailbox.acknowledge(member, [m.id for m in messages], pushed_at)
    ctx.metrics.messages_pushed([(pushed_at - m.created_at).total_seconds() for m in messages])
    for m in messages:
        if m.escalated:
            ctx.metrics.message_escalated()
    # Off the push path: the next claim does not wait for the receipts.
    await ctx.offload.start(_receipts(ctx, states, acked))
    return True


async def _receipts(ctx: Context, pushed: list[Transition], acked: list[Transition]) -> None:
    await receipts.note_pushed(ctx, pushed)
    await receipts.announce(ctx, acked)


async def client_ack(ctx: Context, session: Session, message_ids: Sequence[str]) -> int:
    """Mark this member's messages delivered; other members' ids are ignored. Their
    senders hear `acked`."""
    acked = await ctx.mailbox.acknowledge(session.member_id, message_ids, ctx.clock.now())
    if acked:
        await ctx.offload.start(receipts.announce(ctx, acked))
    return len(acked)
