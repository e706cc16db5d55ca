"""PendingSignals contract: hook reports kept until their session connects."""

from __future__ import annotations

from domain.model import HookSignal, Status
from domain.ports import PendingSignals
from tests.integration.contract.support import at, new_id


def signal(
    status: Status = Status.WORKING,
    *,
    session_id: str | None = None,
    pid: int | None = 4242,
    cwd: str = "/home/ada/proj",
    received: float = 0,
) -> HookSignal:
    return HookSignal(cwd, pid, session_id, status, at(received))


async def test_take_by_session_id_removes_the_signal(signals: PendingSignals) -> None:
    session = new_id("session-")
    s = signal(session_id=session, pid=None, cwd="/other")
    await signals.stash(s)

    assert await signals.take(session, 1, "/elsewhere", at(-10)) == s
    assert await signals.take(session, 1, "/elsewhere", at(-10)) is None


async def test_take_returns_the_newest_and_removes_every_match(signals: PendingSignals) -> None:
    session = new_id("session-")
    older = signal(Status.WORKING, session_id=session, received=1)
    newest = signal(Status.IDLE, session_id=session, received=3)
    middle = signal(Status.DND, session_id=session, received=2)
    for s in (older, newest, middle):
        await signals.stash(s)

    assert await signals.take(session, None, "/x", at(0)) == newest
    assert await signals.take(session, None, "/x", at(0)) is None


async def test_take_ignores_signals_older_than_since(signals: PendingSignals) -> None:
    session = new_id("session-")
    old = signal(session_id=session, received=0)
    await signals.stash(old)

    assert await signals.take(session, None, "/x", at(1)) is None
    # not taken, so still there for a wider window (received_at == since matches)
    assert await signals.take(session, None, "/x", at(0)) == old


async def test_a_signal_without_session_matches_pid_and_cwd(signals: PendingSignals) -> None:
    cwd = "/work/" + new_id()
    s = signal(pid=77, cwd=cwd)
    await signals.stash(s)

    assert await signals.take(new_id(), 78, cwd, at(0)) is None
    assert await signals.take(new_id(), 77, cwd + "/sub", at(0)) is None
    assert await signals.take(new_id(), 77, cwd, at(0)) == s


async def test_a_signal_without_session_or_pid_matches_no_pid_and_cwd(
    signals: PendingSignals,
) -> None:
    cwd = "/work/" + new_id()
    s = signal(pid=None, cwd=cwd)
    await signals.stash(s)

    assert await signals.take(new_id(), 1, cwd, at(0)) is None
    assert await signals.take(new_id(), None, cwd, at(0)) == s


async def test_a_signal_naming_a_session_does_not_match_by_pid_and_cwd(
    signals: PendingSignals,
) -> None:
    cwd = "/work/" + new_id()
    session = new_id("session-")
    s = signal(session_id=session, pid=77, cwd=cwd)
    await signals.stash(s)

    assert await signals.take(new_id(), 77, cwd, at(0)) is None
    assert await signals.take(session, 77, cwd, at(0)) == s


async def test_purge_forgets_signals_received_before_the_cutoff(signals: PendingSignals) -> None:
    old_session, new_session = new_id("session-"), new_id("session-")
    await signals.stash(signal(session_id=old_session, received=0))
    kept = signal(session_id=new_session, received=10)
    await signals.stash(kept)

    purged = await signals.purge(at(10))

    assert purged >= 1  # the Postgres store is shared with other tests
    assert await signals.take(old_session, None, "/x", at(-100)) is None
    assert await signals.take(new_session, None, "/x", at(-100)) == kept


async def test_a_waiting_signal_is_kept_like_any_other(signals: PendingSignals) -> None:
    session = new_id("session-")
    s = signal(Status.WAITING, session_id=session)
    await signals.stash(s)

    assert await signals.take(session, 4242, "/home/ada/proj", at(-10)) == s
