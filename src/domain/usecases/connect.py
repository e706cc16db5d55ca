"""Sessions coming and going: hello, disconnect, and the instance's shutdown."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass
from datetime import datetime

from domain.admission import Hello, HelloAuth
from domain.departures import Departure
from domain.errors import CapacityExceeded, CloseReason, StoreUnavailable, Unauthorized
from domain.model import Presence, Source, Status
from domain.ports import Arrival, Connection, Entered, Entry
from domain.presence import hash_token
from domain.receipts import RECEIPTS_CAPABILITY
from domain.sessions import Session
from domain.usecases.context import Context
from domain.usecases.status import record_status
from domain.usecases.watch import end_watches

ACK_CAPABILITY = "ack"
# A one-shot command (meshpeer send, peers): no grace window, not shown to others.
TRANSIENT_CAPABILITY = "transient"


@dataclass(frozen=True, slots=True)
class Welcome:
    session: Session
    presence: Presence
    hook_token: str


async def hello(ctx: Context, connection: Connection, request: Hello) -> Welcome:
    """Admit a session; raise Unauthorized, CapacityExceeded or StoreUnavailable."""
    try:
        return await _admit(ctx, connection, request)
    except Unauthorized:
        ctx.metrics.connection_rejected("unauthorized")
        raise
    except CapacityExceeded:
        ctx.metrics.connection_rejected("capacity")
        raise
    except StoreUnavailable:
        ctx.metrics.connection_rejected("unavailable")
        raise


async def _admit(ctx: Context, connection: Connection, request: Hello) -> Welcome:
    policy, now = ctx.policy, ctx.clock.now()
    member = await ctx.directory.member(request.mesh_id, request.member_id)
    policy.admission.check(request, member, now)  # the one signature check of a hello
    strict = policy.hello_auth is HelloAuth.STRICT
    token = secrets.token_urlsafe(32)
    arrival = Arrival(
        mesh_id=request.mesh_id,
        member_id=request.member_id,
        session_id=request.session_id,
        pid=request.pid,
        cwd=request.cwd,
        connection_id=connection.id,
        hook_token_hash=hash_token(token),
        now=now,
        transient=TRANSIENT_CAPABILITY in request.capabilities,
    )
    # The replay guard, the connect, the orphaned-lease release and the pending-signal
    # take in one step (one statement on Postgres, ADR 0028).
    entered = await ctx.admissions.enter(
        Entry(
            arrival=arrival,
            capacity=policy.max_connections_per_mesh,
            grace_cutoff=now - policy.reconnect_grace,
            initial=policy.status_rules.initial(now),
            manual_cutoff=now - policy.manual_status_kept,
            signature=request.signature if strict else None,
            keep_until=policy.admission.replay_window(now) if strict else None,
            signal_since=now - policy.pending_signal_ttl,
        )
    )
    admitted = entered.admitted
    try:
        session, presence = await _settle(ctx, connection, request, entered, now)
    except BaseException:
        # The presence is online in the store but this hello is refused: take it
        # offline again, or it would be listed and counted until the stale sweep.
        await _undo(ctx, connection.id, admitted.presence, now)
        raise
    ctx.sessions.add(session)
    ctx.metrics.connection_opened()
    if session.status is Status.IDLE and not session.transient:  # a one-shot is no peer
        await ctx.notifier.went_idle(session.member_id, session.presence_id, session.session_id)
    return Welcome(session, presence, token)


async def _settle(
    ctx: Context, connection: Connection, request: Hello, entered: Entered, now: datetime
) -> tuple[Session, Presence]:
    """The rest of a hello, once its presence is written."""
    admitted = entered.admitted
    if admitted.replaced_connection_id is not None:
        # The notifier closes the older socket wherever it is; its own close handler
        # then releases whatever that socket still had leased.
        await ctx.notifier.kick(admitted.replaced_connection_id, CloseReason.REPLACED)
    presence = admitted.presence
    if entered.signal is not None:
        presence = await record_status(ctx, presence, entered.signal.status, Source.HOOK)
    session = Session(
        connection=connection,
        presence_id=presence.id,
        mesh_id=presence.mesh_id,
        member_id=presence.member_id,
        pubkey=request.pubkey,
        session_id=presence.session_id,
        cwd=presence.cwd,
        acks=ACK_CAPABILITY in request.capabilities,
        status=presence.status.status,
        connected_at=now,
        receipts=RECEIPTS_CAPABILITY in request.capabilities,
        transient=presence.transient,
    )
    return session, presence


async def _undo(ctx: Context, connection_id: str, presence: Presence, now: datetime) -> None:
    """Take back an admitted hello's presence; when the store cannot take that now
    either, the departure waits in `ctx.departures` like any other disconnect."""
    departure = Departure(connection_id, presence.id, presence.member_id, now)
    try:
        await record_departure(ctx, departure)
    except StoreUnavailable as exc:
        ctx.departures.defer(departure, str(exc))


async def disconnect(ctx: Context, session: Session) -> bool:
    """The socket closed: its leases go back to the queue and the presence enters its
    grace window, unless the presence already moved to a newer socket.

    The session leaves this instance at once. When the store cannot take the write
    now, the departure is kept in `ctx.departures` for `sweeps.retry_disconnects`
    (which reports it) and False is returned instead of raising StoreUnavailable."""
    ctx.sessions.remove(session)
    end_watches(ctx, session.connection_id)
    ctx.metrics.connection_closed()
    departure = Departure(
        connection_id=session.connection_id,
        presence_id=session.presence_id,
        member_id=session.member_id,
        at=ctx.clock.now(),
        transient=session.transient,
    )
    try:
        await record_departure(ctx, departure)
    except StoreUnavailable as exc:
        ctx.departures.defer(departure, str(exc))
        return False
    return True


async def record_departure(ctx: Context, departure: Departure) -> None:
    """Write a departure: each step is keyed by the closed connection's id, so writing
    it again (a retry) changes nothing that moved on since."""
    await ctx.mailbox.release(departure.connection_id)
    left = await ctx.presences.disconnect(departure.connection_id, departure.at)
    if departure.transient and left is not None:
        # A one-shot session is not coming back: no grace window, and mail held for
        # it goes to the member's other sessions now, wherever they are.
        await ctx.presences.end([left.id], departure.at)
        await ctx.notifier.wake_everywhere([departure.member_id])
        return
    await ctx.notifier.wake([departure.member_id])


async def record_deferred(ctx: Context) -> tuple[int, str | None]:
    """Write the departures the store refused before, oldest first, stopping at the
    first refusal: how many were written, and that refusal."""
    recorded = 0
    for departure in ctx.departures.pending():
        try:
            await record_departure(ctx, departure)
        except StoreUnavailable as exc:
            return recorded, str(exc)
        ctx.departures.settled(departure)
        recorded += 1
    return recorded, None


async def fence(ctx: Context) -> int:
    """Another instance took this one for dead (ADR 0025: its liveness lock was found
    free and its incarnation reaped): its presences are in their grace window and
    their leased mail offered to other sockets, so it must stop serving them. Every
    socket closes (STORE_LOST); each one's close handler records its departure (deferred
    while the store is away). A hello that was admitted just before the reap and
    joins after this loop is closed by the next heartbeat (its presence is gone)."""
    sessions = ctx.sessions.all()
    for session in sessions:
        ctx.sessions.remove(session)
        end_watches(ctx, session.connection_id)
        await session.connection.close(CloseReason.STORE_LOST)
    return len(sessions)


async def shutdown(ctx: Context) -> int:
    """Close every socket of this instance (SHUTDOWN) and end their presences at once;
    write the departures still deferred (else they would wait for another instance's
    stale sweep)."""
    sessions = ctx.sessions.all()
    for session in sessions:
        ctx.sessions.remove(session)
        end_watches(ctx, session.connection_id)
    # All at once: a socket that does not take its close (until its write deadline)
    # holds up no other.
    await asyncio.gather(*(s.connection.close(CloseReason.SHUTDOWN) for s in sessions))
    await ctx.presences.end([s.presence_id for s in sessions], ctx.clock.now())
    if sessions:
        # Mail held for one of these sessions is now for the member's others, elsewhere.
        await ctx.notifier.wake_everywhere({s.member_id for s in sessions})
    await record_deferred(ctx)
    return len(sessions)
