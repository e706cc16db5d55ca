"""The rules the domain names for the adapters that apply them in SQL (README: where the
rules live)."""

from datetime import UTC, datetime, timedelta

from domain.admission import replay_key
from domain.model import HookSignal, Source, Status, StatusRecord
from domain.policy import (
    HookAuth,
    default_hook_auth,
    heartbeat_interval,
    stale_after,
    ttl_ceiling,
)
from domain.presence import newest_signal, signal_matches
from domain.status import stuck

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _signal(session_id: str | None, pid: int | None, cwd: str, at: int) -> HookSignal:
    return HookSignal(cwd, pid, session_id, Status.WORKING, T0 + timedelta(seconds=at))


def test_only_working_confirmed_before_the_cutoff_is_stuck() -> None:
    before, after = T0 - timedelta(seconds=1), T0 + timedelta(seconds=1)

    assert stuck(StatusRecord(Status.WORKING, Source.HOOK, before), T0)
    assert not stuck(StatusRecord(Status.WORKING, Source.HOOK, after), T0)
    assert not stuck(StatusRecord(Status.WAITING, Source.HOOK, before), T0)
    assert not stuck(StatusRecord(Status.DND, Source.MANUAL, before), T0)


def test_a_signal_naming_a_session_matches_that_session_only() -> None:
    named = _signal("s1", 7, "/w", 0)

    assert signal_matches(named, "s1", None, "/elsewhere")
    assert not signal_matches(named, "s2", 7, "/w")


def test_a_signal_naming_no_session_matches_by_pid_and_cwd() -> None:
    unnamed = _signal(None, 7, "/w", 0)

    assert signal_matches(unnamed, "any", 7, "/w")
    assert not signal_matches(unnamed, "any", 8, "/w")
    assert not signal_matches(unnamed, "any", 7, "/other")


def test_the_newest_signal_wins_and_the_first_stashed_breaks_a_tie() -> None:
    first, tie, old = (
        _signal("a", None, "/w", 5),
        _signal("b", None, "/w", 5),
        _signal("c", None, "/w", 1),
    )

    assert newest_signal([old, first, tie]) is first


def test_the_derived_numbers() -> None:
    assert default_hook_auth(production=True) is HookAuth.TOKEN
    assert default_hook_auth(production=False) is HookAuth.OPEN
    assert ttl_ceiling(timedelta(days=7)) == timedelta(days=30)
    assert ttl_ceiling(timedelta(days=40)) == timedelta(days=40)
    assert stale_after(timedelta(seconds=30), timedelta(seconds=45)) == timedelta(seconds=75)
    assert heartbeat_interval(timedelta(seconds=30)) == timedelta(seconds=10)
    assert heartbeat_interval(timedelta(seconds=3)) == timedelta(seconds=3)
    assert replay_key("ABcd") == replay_key("abCD")
