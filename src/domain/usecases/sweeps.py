"""Periodic work: each sweep is one set-based pass, safe to run on every instance."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from domain.departures import Deferrals
from domain.errors import CloseReason
from domain.model import Source, Status
from domain.usecases import receipts
from domain.usecases.connect import record_deferred
from domain.usecases.context import Context
from domain.usecases.status import record_status, status_changed


async def sweep_stuck_working(ctx: Context) -> int:
    """Flip sessions `working` for longer than STATUS_TTL to idle; dnd is never swept."""
    now, rules = ctx.clock.now(), ctx.policy.status_rules
    flipped = await ctx.presences.flip_stuck(rules.ttl_cutoff(now), rules.flipped(now))
    for presence in flipped:
        await status_changed(ctx, presence, presence.status)
    ctx.metrics.ttl_sweep(bool(flipped))
    return len(flipped)


async def sweep_presences(ctx: Context) -> int:
    """End presences whose grace ran out, and those a crashed instance left behind.
    Mail held for one of those sessions now goes to the member's other sessions."""
    now, policy = ctx.clock.now(), ctx.policy
    ended = await ctx.presences.end_lapsed(
        now - policy.reconnect_grace, now - policy.presence_stale_after, now
    )
    if ended:
        await ctx.notifier.wake_everywhere({p.member_id for p in ended})
    return len(ended)


async def sweep_dead_instances(ctx: Context) -> int:
    """Presences of broker instances that died (their liveness lock is free) go
    offline now rather than after the heartbeat staleness: their grace window starts,
    the leases of their sockets are dropped and their members woken, so that mail
    leased to a dead socket reaches the member's other sessions now, and a
    reconnecting session at once."""
    now = ctx.clock.now()
    reaped = await ctx.presences.reap_dead(now, now - ctx.policy.dead_instance_after)
    for presence in reaped:
        if presence.connection_id is not None:
            await ctx.mailbox.release(presence.connection_id)
    if reaped:
        await ctx.notifier.wake({p.member_id for p in reaped})
    return len(reaped)


@dataclass(frozen=True, slots=True)
class Retried:
    """One pass over the departures waiting for the store."""

    deferred: Deferrals  # disconnects that failed since the last pass
    recorded: int  # written this pass
    expired: int  # dropped: the stale-presence sweep ends those presences anyway
    waiting: int  # still pending after this pass
    error: str | None  # why the pass stopped early (the store still does not answer)


async def retry_disconnects(ctx: Context) -> Retried:
    """Write the disconnects the store could not take when their sockets closed, oldest
    first, stopping at the first failure (the rest wait for the next pass).

    A departure older than `presence_stale_after` is dropped: its presence has had no
    heartbeat since the socket closed, so any instance's presence sweep ends it."""
    now = ctx.clock.now()
    departures = ctx.departures
    deferred = departures.news()
    expired = departures.expire(now - ctx.policy.presence_stale_after)
    recorded, error = await record_deferred(ctx)
    return Retried(deferred, recorded, len(expired), len(departures), error)


async def sweep_leases(ctx: Context) -> int:
    """Leases that ran out without a client_ack: offer that mail again (its state stays
    `pushed`: receipts.pushed_when_leased)."""
    members = await ctx.mailbox.release_expired(ctx.clock.now(), ctx.policy.ack_timeout)
    if members:
        await ctx.notifier.wake(members)
    return len(members)


async def sweep_escalations(ctx: Context) -> int:
    """Deliveries whose escalation deadline passed are raised to `now` (one set-based
    statement, no timer per message); their recipients are offered them again."""
    members = await ctx.mailbox.escalate(ctx.clock.now())
    if members:
        await ctx.notifier.wake(members)
    return len(members)


async def sweep_receipts(ctx: Context, batch: int = 5000) -> int:
    """Forget the delivery state of messages settled for RECEIPT_RETENTION_SECONDS,
    `batch` rows per statement."""
    cutoff = ctx.clock.now() - ctx.policy.receipt_retention
    pruned = total = await ctx.receipts.prune(cutoff, batch)
    while pruned >= batch:
        pruned = await ctx.receipts.prune(cutoff, batch)
        total += pruned
    return total


async def sweep_mailbox(ctx: Context) -> int:
    """Record `expired` for deliveries whose TTL passed, prune delivered and expired
    mail and report the queue depth."""
    now = ctx.clock.now()
    await receipts.announce(ctx, await ctx.receipts.expire(now))
    pruned = await ctx.mailbox.prune(now)
    ctx.metrics.queue_depth(await ctx.mailbox.depth(now))
    return pruned


async def sweep_guards(ctx: Context) -> int:
    """Forget stale pending hook signals, old hello signatures and idle rate buckets."""
    now = ctx.clock.now()
    purged = await ctx.signals.purge(now - ctx.policy.pending_signal_ttl)
    purged += await ctx.replay.purge(now)
    purged += ctx.send_buckets.evict(now.timestamp()) + ctx.hook_buckets.evict(now.timestamp())
    purged += ctx.join_buckets.evict(now.timestamp())
    return purged


async def heartbeat(ctx: Context) -> int:
    """Tell the store this instance's sessions are alive. A session whose presence was
    ended meanwhile (a long outage) is closed so that its peer reconnects afresh.
    Also reports this instance's sessions by status (how many wait on a person)."""
    sessions = ctx.sessions.all()
    by_status = Counter(s.status for s in sessions)
    ctx.metrics.sessions({status: by_status[status] for status in Status})
    gone = set(await ctx.presences.touch([s.connection_id for s in sessions], ctx.clock.now()))
    for session in sessions:
        if session.connection_id in gone:
            ctx.sessions.remove(session)
            await session.connection.close(CloseReason.SESSION_ENDED)
    return len(gone)


async def infer_statuses(ctx: Context) -> int:
    """Apply what Claude Code transcripts say about this instance's sessions (one
    inference per distinct working directory)."""
    sessions = ctx.sessions.all()
    if not sessions:
        return 0
    inferred = await ctx.inferrer.infer_many({s.cwd for s in sessions})
    changed = 0
    for session in sessions:
        status = inferred.get(session.cwd)
        presence = await ctx.presences.get(session.presence_id) if status else None
        if status is None or presence is None:
            continue
        after = await record_status(ctx, presence, status, Source.JSONL)
        changed += after.status != presence.status
    return changed
