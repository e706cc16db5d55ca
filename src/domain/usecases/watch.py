"""`watch ... until idle`: tell a session when one of a peer's sessions is idle."""

from __future__ import annotations

from domain import delivery
from domain.model import Status
from domain.ports import ConnectionGone
from domain.sessions import Session
from domain.usecases.context import Context
from domain.watches import PeerIdle, WatchId


async def watch(ctx: Context, session: Session, watch_id: WatchId, pubkey: str) -> PeerIdle | None:
    """Open a one-shot watch on the member with this pubkey; its answer now when one
    of its sessions is idle already (the watch then ends), else None (it comes later,
    from `answer_watches`). Raise Rejected (no_recipient, rate_limited)."""
    member = await ctx.directory.member_by_pubkey(session.mesh_id, pubkey)
    (member_id,) = delivery.direct_recipient(member)
    # Opened before looking, so an idle that lands meanwhile is not missed.
    ctx.metrics.watches_changed(ctx.watches.add(session.connection_id, watch_id, member_id))
    try:
        peers = await ctx.presences.peers(session.mesh_id)
    except BaseException:
        _close(ctx, session, watch_id)
        raise
    idle = [p for p in peers if p.member_id == member_id and p.online and p.status is Status.IDLE]
    if not idle or not _close(ctx, session, watch_id):
        return None
    newest = max(idle, key=lambda p: p.connected_at)
    return PeerIdle(watch_id, member_id, newest.session_id, ctx.clock.now())


async def unwatch(ctx: Context, session: Session, watch_id: WatchId) -> bool:
    return _close(ctx, session, watch_id)


def _close(ctx: Context, session: Session, watch_id: WatchId) -> bool:
    if ctx.watches.remove(session.connection_id, watch_id):
        ctx.metrics.watches_changed(-1)
        return True
    return False


def end_watches(ctx: Context, connection_id: str) -> None:
    """A session ended: so do its watches."""
    ended = ctx.watches.end_session(connection_id)
    if ended:
        ctx.metrics.watches_changed(-ended)


async def answer_watches(ctx: Context, member_id: str, presence_id: str, session_id: str) -> int:
    """A session of this member went idle: answer (and end) this instance's watches on
    the member. The notice may be late (it travels between instances): it counts only
    while the store still says that presence is online and idle. Returns how many
    watches were answered."""
    if not ctx.watches.watched(member_id):
        return 0
    presence = await ctx.presences.get(presence_id)
    if presence is None or not presence.online or presence.status.status is not Status.IDLE:
        return 0
    taken = ctx.watches.take(member_id)
    ctx.metrics.watches_changed(-len(taken))
    now, answered = ctx.clock.now(), 0
    for connection_id, watch_id in taken:
        watcher = ctx.sessions.get(connection_id)
        if watcher is None:
            continue
        try:
            await watcher.connection.notify(PeerIdle(watch_id, member_id, session_id, now))
        except ConnectionGone:
            continue
        answered += 1
    return answered
