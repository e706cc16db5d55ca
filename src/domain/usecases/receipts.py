"""The sender's view: receipts as delivery states move, and `message_status`."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from domain.errors import Rejected
from domain.message_status import RecipientStatus, may_ask, recipient_status
from domain.ports import ConnectionGone
from domain.receipts import (
    Receipt,
    Transition,
    receipt_targets,
)
from domain.sessions import Session
from domain.usecases.context import Context


async def note(ctx: Context, transitions: Sequence[Transition]) -> list[Transition]:
    """Keep these transitions; those that advanced are counted and sent to their
    senders (wherever they are connected). Raise StoreUnavailable."""
    if not transitions:
        return []
    advanced = await ctx.receipts.record(transitions)
    await announce(ctx, advanced)
    return advanced


async def note_pushed(ctx: Context, transitions: Sequence[Transition]) -> None:
    """A push is not written to the store (the hot path stays as it was): while the
    delivery is leased, `message_status` reads `pushed` from the lease, and a
    delivery is claimable again only before it is acked or expired, so a `pushed`
    receipt never follows a final one. Escalated pushes are written (rare), so that
    the status still says so after the ack."""
    escalated = [t for t in transitions if t.escalated]
    if escalated:
        await ctx.receipts.record(escalated)
    await announce(ctx, transitions)


async def announce(ctx: Context, advanced: Sequence[Transition]) -> None:
    for state, count in Counter(t.state.value for t in advanced).items():
        ctx.metrics.receipts_recorded(state, count)
    if advanced:
        await ctx.notifier.receipts(advanced)


async def hand_out(ctx: Context, transitions: Sequence[Transition]) -> int:
    """Write receipts to this instance's sessions of their senders that asked for
    them (`receipts.receipt_targets`); returns how many were written."""
    by_presence: dict[tuple[str, str], list[Transition]] = defaultdict(list)
    for t in transitions:
        by_presence[(t.sender_member_id, t.sender_presence_id)].append(t)
    written = 0
    for (member_id, presence_id), batch in by_presence.items():
        sessions = ctx.sessions.of_member(member_id)
        if not any(s.receipts for s in sessions):
            continue
        here = {s.presence_id: s for s in sessions}
        elsewhere = False
        if not (presence_id in here and here[presence_id].receipts):
            presence = await ctx.presences.get(presence_id)
            elsewhere = presence is not None and presence.online and presence_id not in here
        targets = receipt_targets(
            [(s.presence_id, s.receipts) for s in sessions], presence_id, elsewhere
        )
        for target in targets:
            written += await _write(ctx, here[target], batch)
    return written


async def _write(ctx: Context, session: Session, batch: Sequence[Transition]) -> int:
    written = 0
    for t in batch:
        member = await ctx.directory.member(t.mesh_id, t.recipient_member_id)
        pubkey = member.pubkey if member is not None else ""
        receipt = Receipt(t.message_id, t.recipient_member_id, pubkey, t.state, t.at, t.escalated)
        try:
            await session.connection.notify(receipt)
        except ConnectionGone:
            return written  # that session's disconnect follows; the state is kept
        written += 1
    return written


@dataclass(frozen=True, slots=True)
class RecipientReport:
    status: RecipientStatus
    pubkey: str
    display_name: str


async def message_status(ctx: Context, session: Session, message_id: str) -> list[RecipientReport]:
    """Each recipient's delivery state, for the member who sent the message only;
    raise Rejected(not_found) otherwise, the same as for an unknown id."""
    facts = await ctx.receipts.facts(message_id)
    if facts is None or not may_ask(facts, session.mesh_id, session.member_id):
        raise Rejected("not_found", "no such message")
    now = ctx.clock.now()
    peers = await ctx.presences.peers(session.mesh_id)
    members = {m.id: m for m in await ctx.directory.members(session.mesh_id)}
    reports = []
    for recipient in facts.recipients:
        member = members.get(recipient.member_id)
        reports.append(
            RecipientReport(
                recipient_status(recipient, peers, now, facts.created_at),
                member.pubkey if member is not None else "",
                member.display_name if member is not None else "",
            )
        )
    return reports
