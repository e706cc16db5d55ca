"""Which live session a hook report means, and how hook tokens are stored."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.model import Presence, Source, Status, StatusRecord
from domain.presence import hash_token, pick_hook_target

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
PROJ = "/home/ada/proj"
OTHER = "/home/ada/other"


def presence(presence_id: str, session_id: str, pid: int | None, cwd: str, age_s: int) -> Presence:
    return Presence(
        id=presence_id,
        mesh_id="mesh-1",
        member_id="mem-ada",
        session_id=session_id,
        pid=pid,
        cwd=cwd,
        connection_id=f"conn-{presence_id}",
        status=StatusRecord(Status.IDLE, Source.MANUAL, NOW),
        connected_at=NOW - timedelta(seconds=age_s),
    )


NEWEST_IN_PROJ = presence("p-new", "sess-new", 100, PROJ, age_s=1)
PID_200_IN_PROJ = presence("p-pid", "sess-pid", 200, PROJ, age_s=5)
IN_OTHER_DIR = presence("p-other", "sess-other", 300, OTHER, age_s=9)
OLDEST_IN_PROJ = presence("p-old", "sess-old", 400, PROJ, age_s=20)
CANDIDATES = [NEWEST_IN_PROJ, PID_200_IN_PROJ, IN_OTHER_DIR, OLDEST_IN_PROJ]


def test_the_session_id_wins_over_pid_and_cwd() -> None:
    target = pick_hook_target(CANDIDATES, session_id="sess-other", pid=200, cwd=PROJ)

    assert target is IN_OTHER_DIR


def test_an_unknown_session_id_falls_back_to_pid_and_cwd() -> None:
    target = pick_hook_target(CANDIDATES, session_id="sess-gone", pid=200, cwd=PROJ)

    assert target is PID_200_IN_PROJ


def test_pid_and_cwd_win_over_the_newest_session_in_that_cwd() -> None:
    target = pick_hook_target(CANDIDATES, session_id=None, pid=400, cwd=PROJ)

    assert target is OLDEST_IN_PROJ


def test_a_pid_from_another_cwd_does_not_count_as_a_pid_match() -> None:
    target = pick_hook_target(CANDIDATES, session_id=None, pid=300, cwd=PROJ)

    assert target is NEWEST_IN_PROJ


def test_without_a_session_or_pid_match_the_newest_session_in_that_cwd_is_picked() -> None:
    target = pick_hook_target(CANDIDATES, session_id=None, pid=None, cwd=PROJ)

    assert target is NEWEST_IN_PROJ


def test_a_hook_from_a_cwd_no_session_is_in_matches_nothing() -> None:
    target = pick_hook_target(CANDIDATES, session_id=None, pid=100, cwd="/tmp/elsewhere")

    assert target is None


def test_a_hook_with_no_live_sessions_matches_nothing() -> None:
    target = pick_hook_target([], session_id="sess-new", pid=100, cwd=PROJ)

    assert target is None


def test_hashing_a_token_is_deterministic() -> None:
    first = hash_token("tok-abc123")

    second = hash_token("tok-abc123")

    assert first == second


def test_a_hashed_token_does_not_reveal_the_token() -> None:
    token = "tok-abc123"

    hashed = hash_token(token)

    assert token not in hashed


def test_different_tokens_hash_differently() -> None:
    hashes = {hash_token("tok-a"), hash_token("tok-b"), hash_token("tok-A")}

    assert len(hashes) == 3
