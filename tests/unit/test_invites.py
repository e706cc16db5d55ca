"""Invites as a spec: expiry parsing, what makes an invite usable, and the join use case
on the in-memory broker with a fake clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from nacl.signing import SigningKey

from adapters.memory import FakeClock, RecordingMetrics, memory_context
from domain.errors import Conflict, InvalidInput, InvalidInvite, RateLimited
from domain.invites import (
    Invite,
    JoinRequest,
    hash_token,
    join_canonical,
    new_token,
    parse_expiry,
)
from domain.model import Role
from domain.policy import Policy
from domain.usecases import admin, invites
from domain.usecases.context import Context


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("30m", timedelta(minutes=30)),
        ("24h", timedelta(hours=24)),
        ("7d", timedelta(days=7)),
        ("30d", timedelta(days=30)),
        ("720h", timedelta(days=30)),
    ],
)
def test_expiry_takes_minutes_hours_or_days(text: str, duration: timedelta) -> None:
    assert parse_expiry(text) == duration


@pytest.mark.parametrize("text", ["31d", "721h", "0h", "1w", "h", "-1d", "1.5h", "", "24"])
def test_expiry_beyond_30_days_or_malformed_names_the_flag(text: str) -> None:
    with pytest.raises(InvalidInput, match="--expires"):
        parse_expiry(text)


def test_tokens_carry_at_least_128_random_bits_and_are_stored_as_sha256() -> None:
    token = new_token()

    assert len(token) * 6 >= 128 and token != new_token()
    assert hash_token(token) != token and len(hash_token(token)) == 64


def _invite(clock: FakeClock, uses: int = 1, used: int = 0) -> Invite:
    now = clock.now()
    return Invite("i", "m", "h", Role.MEMBER, uses, used, now, now + timedelta(hours=1))


def test_an_invite_is_usable_until_it_expires_is_used_up_or_revoked() -> None:
    clock = FakeClock()
    invite = _invite(clock, uses=2, used=1)

    assert invite.usable(clock.now())
    assert not invite.usable(clock.now() + timedelta(hours=1))  # expiry is exclusive
    assert not _invite(clock, uses=2, used=2).usable(clock.now())
    assert not replace(invite, revoked_at=clock.now()).usable(clock.now())


# ---------------------------------------------------------------- the join use case


def _signed(token: str, name: str = "ada", key: SigningKey | None = None) -> JoinRequest:
    key = key or SigningKey.generate()
    pubkey = key.verify_key.encode().hex()
    signature = key.sign(join_canonical(token, pubkey, name)).signature.hex()
    return JoinRequest(token, pubkey, name, signature)


async def _mesh_and_token(ctx: Context, uses: int = 1, expires: str = "24h") -> str:
    await admin.create_mesh(ctx, "Team", "team")
    _, issued = await invites.create_invite(ctx, "team", uses, expires)
    return issued.token


def _counts(ctx: Context) -> dict[str, int]:
    metrics = ctx.metrics
    assert isinstance(metrics, RecordingMetrics)
    return {k: v for k, v in metrics.counts.items() if k.startswith("join:")}


async def test_a_signed_join_adds_the_member_and_counts_one_use() -> None:
    ctx = memory_context()
    token = await _mesh_and_token(ctx, uses=2)
    request = _signed(token)

    joined = await invites.join(ctx, request, "10.0.0.1")

    assert joined.mesh.slug == "team" and joined.member.pubkey == request.pubkey
    assert joined.member.display_name == "ada" and joined.member.role is Role.MEMBER
    [invite] = await invites.list_invites(ctx, "team")
    assert (invite.id, invite.used, invite.uses) == (joined.invite_id, 1, 2)
    assert [m.id for m in await admin.list_members(ctx, "team")] == [joined.member.id]
    assert _counts(ctx) == {"join:joined": 1}


async def test_the_invite_gives_its_role() -> None:
    ctx = memory_context()
    await admin.create_mesh(ctx, "Team", "team")
    _, issued = await invites.create_invite(ctx, "team", role=Role.ADMIN)

    joined = await invites.join(ctx, _signed(issued.token), "a")

    assert joined.member.role is Role.ADMIN


async def test_a_used_up_invite_is_refused_like_an_unknown_one() -> None:
    ctx = memory_context()
    token = await _mesh_and_token(ctx, uses=1)
    await invites.join(ctx, _signed(token, "ada"), "a")

    with pytest.raises(InvalidInvite):
        await invites.join(ctx, _signed(token, "bob"), "a")
    with pytest.raises(InvalidInvite):
        await invites.join(ctx, _signed(new_token(), "bob"), "a")

    assert len(await admin.list_members(ctx, "team")) == 1
    assert _counts(ctx) == {"join:joined": 1, "join:invalid": 2}


async def test_an_expired_invite_is_refused_from_its_expiry_on() -> None:
    clock = FakeClock()
    ctx = memory_context(clock=clock)
    token = await _mesh_and_token(ctx, expires="30m")
    clock.advance(30 * 60 - 1)
    await invites.join(ctx, _signed(token, "ada"), "a")  # still valid one second before
    token = (await invites.create_invite(ctx, "team", expires="30m"))[1].token

    clock.advance(30 * 60)

    with pytest.raises(InvalidInvite):
        await invites.join(ctx, _signed(token, "bob"), "a")


async def test_a_revoked_invite_is_refused() -> None:
    ctx = memory_context()
    token = await _mesh_and_token(ctx, uses=5)
    [invite] = await invites.list_invites(ctx, "team")

    revoked = await invites.revoke_invite(ctx, "team", invite.id)

    assert revoked.revoked_at == ctx.clock.now()
    with pytest.raises(InvalidInvite):
        await invites.join(ctx, _signed(token), "a")


async def test_an_existing_member_is_a_conflict_and_costs_no_use() -> None:
    ctx = memory_context()
    token = await _mesh_and_token(ctx, uses=3)
    key = SigningKey.generate()
    await invites.join(ctx, _signed(token, "ada", key), "a")

    with pytest.raises(Conflict):
        await invites.join(ctx, _signed(token, "ada again", key), "a")

    [invite] = await invites.list_invites(ctx, "team")
    assert invite.used == 1
    assert _counts(ctx) == {"join:joined": 1, "join:conflict": 1}


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda r: JoinRequest(r.token, r.pubkey, "eve", r.signature), id="name"),
        pytest.param(lambda r: JoinRequest(r.token + "x", r.pubkey, r.name, r.signature), id="tok"),
        pytest.param(lambda r: JoinRequest(r.token, r.pubkey, r.name, "00" * 64), id="signature"),
        pytest.param(lambda r: JoinRequest(r.token, "zz" * 32, r.name, r.signature), id="pubkey"),
        pytest.param(lambda r: JoinRequest(r.token, r.pubkey, " ", r.signature), id="blank name"),
    ],
)
async def test_a_request_whose_signature_does_not_prove_the_key_costs_no_use(
    tamper: Callable[[JoinRequest], JoinRequest],
) -> None:
    ctx = memory_context()
    token = await _mesh_and_token(ctx)

    with pytest.raises(InvalidInput):
        await invites.join(ctx, tamper(_signed(token)), "a")

    [invite] = await invites.list_invites(ctx, "team")
    assert invite.used == 0 and await admin.list_members(ctx, "team") == []


async def test_join_attempts_are_limited_per_address_and_refill_with_time() -> None:
    clock = FakeClock()
    ctx = memory_context(Policy(join_rate_per_min=3), clock)

    for _ in range(3):
        with pytest.raises(InvalidInvite):
            await invites.join(ctx, _signed("nope"), "10.0.0.1")
    with pytest.raises(RateLimited):
        await invites.join(ctx, _signed("nope"), "10.0.0.1")
    with pytest.raises(InvalidInvite):  # another address has its own budget
        await invites.join(ctx, _signed("nope"), "10.0.0.2")
    clock.advance(20)  # one attempt back per 60/3 s
    with pytest.raises(InvalidInvite):
        await invites.join(ctx, _signed("nope"), "10.0.0.1")

    assert _counts(ctx) == {"join:invalid": 5, "join:rate_limited": 1}


@pytest.mark.parametrize(("uses", "expires"), [(0, "24h"), (10_001, "24h"), (1, "31d")])
async def test_create_refuses_out_of_range_uses_and_expiry(uses: int, expires: str) -> None:
    ctx = memory_context()
    await admin.create_mesh(ctx, "Team", "team")

    with pytest.raises(InvalidInput):
        await invites.create_invite(ctx, "team", uses, expires)

    assert await invites.list_invites(ctx, "team") == []


async def test_invites_default_to_one_use_for_24_hours_and_keep_only_the_hash() -> None:
    ctx = memory_context()
    await admin.create_mesh(ctx, "Team", "team")

    _, issued = await invites.create_invite(ctx, "team")

    assert issued.invite.uses == 1
    assert issued.invite.expires_at - issued.invite.created_at == timedelta(hours=24)
    [stored] = await invites.list_invites(ctx, "team")
    assert stored.token_hash == hash_token(issued.token) and issued.token not in repr(stored)
