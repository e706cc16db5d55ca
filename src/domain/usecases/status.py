"""Status reports from the peer (manual), from hooks, and from transcripts."""

from __future__ import annotations

from dataclasses import dataclass, replace

from domain.errors import InvalidInput, RateLimited, StoreUnavailable, Unauthorized
from domain.model import HookSignal, Presence, Source, Status, StatusRecord
from domain.policy import HookAuth
from domain.presence import hash_token, pick_hook_target
from domain.sessions import Session
from domain.usecases.context import Context


@dataclass(frozen=True, slots=True)
class HookReport:
    cwd: str
    pid: int | None
    status: Status
    session_id: str | None = None


@dataclass(frozen=True, slots=True)
class HookOutcome:
    """Applied to `presence_id`, or stashed (`pending`) until a matching session connects."""

    presence_id: str | None
    pending: bool


# Compare-and-set rounds before a report gives up; each lost round means another
# writer changed this presence's status in between, so this bounds nothing real.
STATUS_ROUNDS = 8


async def record_status(
    ctx: Context, presence: Presence, status: Status, source: Source
) -> Presence:
    """Apply the status rules and store the result; held mail follows a change to idle.

    The rules decide from the record read, and the store writes only if the record is
    still that one (compare-and-set): a hook that read `idle` cannot overwrite a
    manual `dnd` that landed in between. A lost round reads again and decides again."""
    for _ in range(STATUS_ROUNDS):
        record = ctx.policy.status_rules.apply(presence.status, status, source, ctx.clock.now())
        if record == presence.status:
            return presence
        if await ctx.presences.set_status(presence.id, record, expected=presence.status):
            await status_changed(ctx, presence, record)
            return replace(presence, status=record)
        current = await ctx.presences.get(presence.id)
        if current is None:
            return presence  # ended meanwhile: nothing to change
        presence = current
    raise StoreUnavailable("the status kept changing under this report; try again")


async def status_changed(ctx: Context, presence: Presence, record: StatusRecord) -> None:
    if not await apply_status(ctx, presence.id, presence.member_id, record.status):
        await ctx.notifier.status_changed(presence.id, presence.member_id, record.status)
    if record.status is Status.IDLE:
        await ctx.notifier.went_idle(presence.member_id, presence.id, presence.session_id)


async def apply_status(ctx: Context, presence_id: str, member_id: str, status: Status) -> bool:
    """Gate this instance's session by its new status; held mail follows a change to
    idle. False when the presence has no socket here."""
    session = ctx.sessions.of_presence(presence_id)
    if session is None:
        return False
    session.status = status
    if status is Status.IDLE:
        await ctx.notifier.wake([member_id])
    return True


async def set_status(ctx: Context, session: Session, status: Status) -> StatusRecord:
    presence = await ctx.presences.get(session.presence_id)
    if presence is None:
        raise Unauthorized("this session has ended")
    return (await record_status(ctx, presence, status, Source.MANUAL)).status


async def hook_set_status(ctx: Context, report: HookReport, token: str | None) -> HookOutcome:
    """Raise InvalidInput (`dnd`), Unauthorized, RateLimited or StoreUnavailable. The
    rate limit is charged only once the hook is authenticated: a refused request
    spends nothing of its `(pid, cwd)` budget (issue 15)."""
    ctx.metrics.hook_request()
    if report.status is Status.DND:
        raise InvalidInput("dnd is a person's choice: set it with set_status, not a hook")
    presence = await _hook_target(ctx, report, token)
    now = ctx.clock.now()
    if not ctx.hook_buckets.take((report.pid, report.cwd), now.timestamp()):
        ctx.metrics.hook_rate_limited()
        raise RateLimited("too many hook reports for this (pid, cwd)")
    if presence is None:
        signal = HookSignal(report.cwd, report.pid, report.session_id, report.status, now)
        await ctx.signals.stash(signal)
        return HookOutcome(None, pending=True)
    await record_status(ctx, presence, report.status, Source.HOOK)
    return HookOutcome(presence.id, pending=False)


async def _hook_target(ctx: Context, report: HookReport, token: str | None) -> Presence | None:
    if token is not None:
        presence = await ctx.presences.by_hook_token(hash_token(token))
        if presence is None:
            raise Unauthorized("invalid hook token")
        return presence
    if ctx.policy.hook_auth is HookAuth.TOKEN:
        raise Unauthorized("a hook token is required")
    candidates = await ctx.presences.hook_candidates(report.session_id, report.cwd)
    return pick_hook_target(candidates, report.session_id, report.pid, report.cwd)
