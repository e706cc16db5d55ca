"""Who a send reaches and when it expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.delivery import (
    Target,
    broadcast_recipients,
    claimable_by,
    direct_recipient,
    expires_at,
    parse_target,
)
from domain.errors import Rejected
from domain.model import Member, Role

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
DEFAULT_TTL = timedelta(days=7)
LONGEST_TTL = timedelta(days=30)
PUBKEY = "0123456789abcdef" * 4


def member(member_id: str, *, revoked: bool = False) -> Member:
    return Member(
        id=member_id,
        mesh_id="mesh-1",
        pubkey=PUBKEY,
        display_name=member_id,
        role=Role.MEMBER,
        revoked_at=NOW - timedelta(hours=1) if revoked else None,
    )


# ---------------------------------------------------------------- targets


def test_a_star_target_is_a_broadcast() -> None:
    target = parse_target("*")

    assert (target, target.broadcast) == (Target(None), True)


def test_a_lowercase_hex_pubkey_target_is_a_direct_message_to_that_key() -> None:
    target = parse_target(PUBKEY)

    assert (target, target.broadcast) == (Target(PUBKEY), False)


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param(PUBKEY.upper(), id="uppercase-hex"),
        pytest.param(PUBKEY[:-1], id="63-chars"),
        pytest.param(PUBKEY + "0", id="65-chars"),
        pytest.param("", id="empty"),
        pytest.param("**", id="double-star"),
        pytest.param("g" * 64, id="non-hex"),
        pytest.param(f" {PUBKEY[1:]}", id="leading-space"),
        pytest.param("mem-ada", id="member-id"),
        pytest.param(f"{PUBKEY}/", id="empty-session"),
        pytest.param(f"{PUBKEY}/{'s' * 257}", id="session-over-256"),
        pytest.param("*/s1", id="broadcast-to-a-session"),
        pytest.param(f"{PUBKEY.upper()}/s1", id="uppercase-hex-with-session"),
    ],
)
def test_any_other_target_is_an_unsupported_target(spec: str) -> None:
    with pytest.raises(Rejected) as rejected:
        parse_target(spec)

    assert rejected.value.code == "unsupported_target"


@pytest.mark.parametrize(
    "session_id",
    [
        pytest.param("s1", id="short"),
        pytest.param("a/b", id="with-a-slash"),
        pytest.param("s" * 256, id="256-chars"),
    ],
)
def test_a_pubkey_slash_session_target_is_a_direct_message_to_that_session(
    session_id: str,
) -> None:
    target = parse_target(f"{PUBKEY}/{session_id}")

    assert (target, target.broadcast) == (Target(PUBKEY, session_id), False)


@pytest.mark.parametrize(
    ("target", "claimer", "lives", "claimable"),
    [
        pytest.param(None, "s2", True, True, id="no-target-any-session"),
        pytest.param(None, None, False, True, id="no-target-no-claimer-session"),
        pytest.param("s1", "s1", True, True, id="the-target-itself"),
        pytest.param("s1", "s2", True, False, id="another-session-while-it-lives"),
        pytest.param("s1", None, True, False, id="no-session-while-it-lives"),
        pytest.param("s1", "s2", False, True, id="another-session-once-it-ended"),
    ],
)
def test_a_message_for_one_session_is_claimable_by_it_or_by_any_once_it_ended(
    target: str | None, claimer: str | None, lives: bool, claimable: bool
) -> None:
    assert claimable_by(target, claimer, target_lives=lives) is claimable


# ---------------------------------------------------------------- recipients


def test_a_direct_message_reaches_the_named_member() -> None:
    recipients = direct_recipient(member("mem-bob"))

    assert recipients == ["mem-bob"]


@pytest.mark.parametrize(
    "target",
    [
        pytest.param(None, id="no-such-member"),
        pytest.param(member("mem-bob", revoked=True), id="revoked"),
    ],
)
def test_a_direct_message_to_no_live_member_has_no_recipient(target: Member | None) -> None:
    with pytest.raises(Rejected) as rejected:
        direct_recipient(target)

    assert rejected.value.code == "no_recipient"


def test_a_broadcast_reaches_every_other_unrevoked_member_once() -> None:
    members = [
        member("mem-ada"),
        member("mem-bob"),
        member("mem-eve", revoked=True),
        member("mem-cy"),
    ]

    recipients = broadcast_recipients(members, sender_member_id="mem-ada")

    assert recipients == ["mem-bob", "mem-cy"]


@pytest.mark.parametrize(
    "members",
    [
        pytest.param([], id="empty-mesh"),
        pytest.param([member("mem-ada")], id="only-the-sender"),
        pytest.param(
            [member("mem-ada"), member("mem-eve", revoked=True)], id="only-revoked-others"
        ),
    ],
)
def test_a_broadcast_with_no_one_else_to_reach_has_no_recipient(members: list[Member]) -> None:
    with pytest.raises(Rejected) as rejected:
        broadcast_recipients(members, sender_member_id="mem-ada")

    assert rejected.value.code == "no_recipient"


# ---------------------------------------------------------------- expiry


@pytest.mark.parametrize(
    ("ttl_seconds", "expected"),
    [
        pytest.param(None, NOW + DEFAULT_TTL, id="default"),
        pytest.param(3600, NOW + timedelta(hours=1), id="an-hour"),
        pytest.param(1, NOW + timedelta(seconds=1), id="shortest"),
        pytest.param(int(LONGEST_TTL.total_seconds()), NOW + LONGEST_TTL, id="longest"),
    ],
)
def test_a_message_expires_after_its_ttl_or_the_default(
    ttl_seconds: int | None, expected: datetime
) -> None:
    expiry = expires_at(NOW, ttl_seconds, default=DEFAULT_TTL, longest=LONGEST_TTL)

    assert expiry == expected


@pytest.mark.parametrize(
    "ttl_seconds",
    [
        pytest.param(0, id="zero"),
        pytest.param(-1, id="negative"),
        pytest.param(int(LONGEST_TTL.total_seconds()) + 1, id="over-the-longest"),
    ],
)
def test_a_ttl_outside_one_second_to_the_longest_is_invalid(ttl_seconds: int) -> None:
    with pytest.raises(Rejected) as rejected:
        expires_at(NOW, ttl_seconds, default=DEFAULT_TTL, longest=LONGEST_TTL)

    assert rejected.value.code == "invalid"
