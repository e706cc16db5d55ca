"""The hello admission matrix: signature, timestamp skew, membership, legacy mode."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from nacl.signing import SigningKey

from domain.admission import Admission, Hello, HelloAuth, canonical, verify
from domain.errors import Unauthorized
from domain.model import Member, Role

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
SKEW = timedelta(seconds=60)
SKEW_MS = 60_000

ADA_KEY = SigningKey(bytes(range(32)))
ADA_PUBKEY = ADA_KEY.verify_key.encode().hex()
MALLORY_KEY = SigningKey(b"\x07" * 32)
MALLORY_PUBKEY = MALLORY_KEY.verify_key.encode().hex()

ADA = Member(
    id="mem-ada", mesh_id="mesh-1", pubkey=ADA_PUBKEY, display_name="ada", role=Role.MEMBER
)
STRICT = Admission(mode=HelloAuth.STRICT, max_skew=SKEW)
LEGACY = Admission(mode=HelloAuth.LEGACY, max_skew=SKEW)


def signed_hello(
    key: SigningKey = ADA_KEY, *, pubkey: str = ADA_PUBKEY, timestamp_ms: int = NOW_MS
) -> Hello:
    unsigned = Hello(
        mesh_id="mesh-1",
        member_id="mem-ada",
        pubkey=pubkey,
        session_id="sess-1",
        pid=4242,
        cwd="/home/ada/proj",
        timestamp_ms=timestamp_ms,
        signature="",
    )
    signature = key.sign(canonical(unsigned)).signature.hex()
    return replace(unsigned, signature=signature)


def flip_first_byte(signature: str) -> str:
    first = int(signature[:2], 16) ^ 0x01
    return f"{first:02x}{signature[2:]}"


# ---------------------------------------------------------------- canonical bytes


def test_the_canonical_hello_is_the_pipe_joined_fields_after_the_version_tag() -> None:
    hello = signed_hello()

    message = canonical(hello)

    expected = f"claudemesh/hello/v1|mesh-1|mem-ada|{ADA_PUBKEY}|sess-1|{NOW_MS}"
    assert message == expected.encode("utf-8")


def test_verify_accepts_the_members_signature_over_the_canonical_bytes() -> None:
    hello = signed_hello()

    ok = verify(ADA_PUBKEY, canonical(hello), hello.signature)

    assert ok is True


def test_verify_refuses_a_signature_over_other_bytes() -> None:
    hello = signed_hello()

    ok = verify(ADA_PUBKEY, canonical(hello) + b"x", hello.signature)

    assert ok is False


def test_verify_refuses_rather_than_crashes_on_a_pubkey_that_is_not_a_curve_point() -> None:
    hello = signed_hello()

    ok = verify("00" * 32, canonical(hello), hello.signature)

    assert ok is False


# ---------------------------------------------------------------- strict mode


@pytest.mark.parametrize(
    "timestamp_ms",
    [
        pytest.param(NOW_MS, id="on-time"),
        pytest.param(NOW_MS - SKEW_MS, id="exactly-max-skew-old"),
        pytest.param(NOW_MS + SKEW_MS, id="exactly-max-skew-ahead"),
        pytest.param(NOW_MS - SKEW_MS + 1, id="just-inside-old"),
        pytest.param(NOW_MS + SKEW_MS - 1, id="just-inside-ahead"),
    ],
)
def test_a_correctly_signed_timely_hello_is_admitted(timestamp_ms: int) -> None:
    hello = signed_hello(timestamp_ms=timestamp_ms)

    outcome = STRICT.check(hello, ADA, NOW)

    assert outcome is None


@pytest.mark.parametrize(
    ("hello", "member"),
    [
        pytest.param(
            replace(signed_hello(), signature=flip_first_byte(signed_hello().signature)),
            ADA,
            id="bad-signature",
        ),
        pytest.param(signed_hello(MALLORY_KEY), ADA, id="signed-by-another-key"),
        pytest.param(
            replace(signed_hello(), session_id="sess-2"), ADA, id="field-changed-after-signing"
        ),
        pytest.param(
            signed_hello(MALLORY_KEY, pubkey=MALLORY_PUBKEY), ADA, id="pubkey-not-the-members"
        ),
        pytest.param(signed_hello(), None, id="unknown-member"),
        pytest.param(
            signed_hello(), replace(ADA, revoked_at=NOW - timedelta(days=1)), id="revoked"
        ),
        pytest.param(signed_hello(), replace(ADA, mesh_id="mesh-2"), id="member-of-another-mesh"),
        pytest.param(signed_hello(timestamp_ms=NOW_MS - SKEW_MS - 1), ADA, id="just-too-old"),
        pytest.param(signed_hello(timestamp_ms=NOW_MS + SKEW_MS + 1), ADA, id="just-too-far-ahead"),
        pytest.param(signed_hello(timestamp_ms=0), ADA, id="epoch-timestamp"),
        pytest.param(signed_hello(timestamp_ms=10**15), ADA, id="timestamp-past-year-9999"),
        pytest.param(signed_hello(timestamp_ms=10**20), ADA, id="timestamp-beyond-the-os-clock"),
        pytest.param(signed_hello(timestamp_ms=10**400), ADA, id="timestamp-beyond-float"),
        pytest.param(replace(signed_hello(), signature="zz" * 64), ADA, id="non-hex-signature"),
        pytest.param(
            replace(signed_hello(), signature=signed_hello().signature[:-2]),
            ADA,
            id="short-signature",
        ),
        pytest.param(
            replace(signed_hello(), signature=signed_hello().signature + "00"),
            ADA,
            id="long-signature",
        ),
        pytest.param(replace(signed_hello(), signature="stub"), ADA, id="stub-signature"),
    ],
)
def test_a_hello_that_fails_any_check_is_unauthorized(hello: Hello, member: Member | None) -> None:
    with pytest.raises(Unauthorized):
        STRICT.check(hello, member, NOW)


# ---------------------------------------------------------------- legacy mode


@pytest.mark.parametrize(
    ("signature", "timestamp_ms"),
    [
        pytest.param("stub", 0, id="stub-at-epoch"),
        pytest.param("stub", NOW_MS - 86_400_000, id="stub-a-day-old"),
        pytest.param("stub", NOW_MS + 86_400_000, id="stub-a-day-ahead"),
        pytest.param("ab" * 64, NOW_MS, id="wrong-signature-on-time"),
    ],
)
def test_legacy_mode_skips_the_signature_and_timestamp_checks(
    signature: str, timestamp_ms: int
) -> None:
    hello = replace(signed_hello(), signature=signature, timestamp_ms=timestamp_ms)

    outcome = LEGACY.check(hello, ADA, NOW)

    assert outcome is None


@pytest.mark.parametrize(
    ("pubkey", "member"),
    [
        pytest.param(ADA_PUBKEY, None, id="unknown-member"),
        pytest.param(ADA_PUBKEY, replace(ADA, revoked_at=NOW), id="revoked"),
        pytest.param(ADA_PUBKEY, replace(ADA, mesh_id="mesh-2"), id="member-of-another-mesh"),
        pytest.param(MALLORY_PUBKEY, ADA, id="pubkey-not-the-members"),
    ],
)
def test_legacy_mode_still_refuses_anyone_but_an_unrevoked_member_with_that_pubkey(
    pubkey: str, member: Member | None
) -> None:
    hello = replace(signed_hello(), pubkey=pubkey, signature="stub")

    with pytest.raises(Unauthorized):
        LEGACY.check(hello, member, NOW)


# ---------------------------------------------------------------- replay guard


def test_a_used_signature_is_remembered_for_twice_the_skew() -> None:
    window = STRICT.replay_window(NOW)

    assert window == NOW + 2 * SKEW


def test_the_replay_window_lasts_until_a_hello_admitted_now_can_no_longer_pass() -> None:
    latest_admissible = signed_hello(timestamp_ms=NOW_MS + SKEW_MS)
    window_end = STRICT.replay_window(NOW)

    at_window_end = STRICT.check(latest_admissible, ADA, window_end)

    assert at_window_end is None
    with pytest.raises(Unauthorized):
        STRICT.check(latest_admissible, ADA, window_end + timedelta(milliseconds=1))
