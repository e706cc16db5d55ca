"""Pushing queued mail to live sessions of this instance, and the acks that end it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from functools import partial

from domain.escalation import as_pushed
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
    drains = [_drain_member(ctx, member_id) for member_id in dict.fromkeys(member_ids)]
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


async def _drain(ctx: Context, session: Session) -> None:
    batch = ctx.policy.claim_batch
    while ctx.sessions.get(session.connection_id) is session:
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
        if not messages:
            return
        messages = [as_pushed(m, now) for m in messages]
        try:
            await session.connection.push(messages)
        except ConnectionGone:
            await ctx.mailbox.release(session.connection_id)
            return
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
        if len(messages) < batch:
            return


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
