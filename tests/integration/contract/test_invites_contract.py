"""InviteStore contract: create, list, revoke, and redeem (atomic, one use per join,
exactly one winner for the last use), on the fake and on Postgres."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from adapters.memory import InMemoryInvites
from adapters.postgres.stores import PostgresInvites
from domain.errors import Conflict, InvalidInvite, NotFound
from domain.invites import Invite, hash_token, new_token
from domain.model import Role
from domain.ports import InviteStore, Joiner
from tests.integration.contract.conftest import Directory, Stores
from tests.integration.contract.support import T0, at, mesh, new_id, new_pubkey


@pytest.fixture
def store(stores: Stores) -> InviteStore:
    if stores.kind == "memory":
        return InMemoryInvites(stores.directory)  # type: ignore[arg-type]
    return PostgresInvites(stores.directory.db)  # type: ignore[attr-defined]


def invite(mesh_id: str, uses: int = 1, ttl: float = 3600, role: Role = Role.MEMBER) -> Invite:
    return Invite(new_id(), mesh_id, hash_token(new_token()), role, uses, 0, T0, at(ttl))


def joiner(name: str = "ada", pubkey: str | None = None) -> Joiner:
    return Joiner(new_id(), pubkey or new_pubkey(), name)


async def test_create_and_list_oldest_first(directory: Directory, store: InviteStore) -> None:
    m = await directory.create_mesh(mesh())
    first, second = invite(m.id), invite(m.id, uses=3, role=Role.ADMIN)

    assert await store.create_invite(first) == first
    await store.create_invite(second)

    assert await store.invites(m.id) == [first, second]
    assert await store.invites(new_id()) == []


async def test_an_invite_for_an_unknown_mesh_is_not_found(store: InviteStore) -> None:
    with pytest.raises(NotFound):
        await store.create_invite(invite(new_id()))


async def test_revoke_keeps_the_first_time(directory: Directory, store: InviteStore) -> None:
    m = await directory.create_mesh(mesh())
    i = await store.create_invite(invite(m.id))

    assert (await store.revoke_invite(m.id, i.id, at(5))).revoked_at == at(5)
    assert (await store.revoke_invite(m.id, i.id, at(9))).revoked_at == at(5)
    with pytest.raises(NotFound):
        await store.revoke_invite(m.id, new_id(), at(5))
    with pytest.raises(NotFound):
        await store.revoke_invite(new_id(), i.id, at(5))


async def test_redeem_adds_the_member_with_the_invites_role_and_counts_a_use(
    directory: Directory, store: InviteStore
) -> None:
    m = await directory.create_mesh(mesh())
    i = await store.create_invite(invite(m.id, uses=2, role=Role.ADMIN))
    j = joiner()

    counted, member = await store.redeem(i.token_hash, j, at(1))

    assert counted == replace(i, used=1)
    assert (member.id, member.mesh_id, member.pubkey) == (j.member_id, m.id, j.pubkey)
    assert member.display_name == "ada" and member.role is Role.ADMIN and not member.revoked
    assert await directory.member(m.id, j.member_id) == member


@pytest.mark.parametrize("why", ["unknown", "expired", "used up", "revoked"])
async def test_redeem_refuses_every_unusable_invite_alike_and_adds_nobody(
    directory: Directory, store: InviteStore, why: str
) -> None:
    m = await directory.create_mesh(mesh())
    i = await store.create_invite(invite(m.id, uses=1, ttl=60))
    token_hash, now = i.token_hash, at(1)
    if why == "unknown":
        token_hash = hash_token(new_token())
    elif why == "expired":
        now = at(60)
    elif why == "used up":
        await store.redeem(i.token_hash, joiner("first"), at(1))
    else:
        await store.revoke_invite(m.id, i.id, at(0))
    j = joiner("late")

    with pytest.raises(InvalidInvite):
        await store.redeem(token_hash, j, now)

    assert await directory.member(m.id, j.member_id) is None


async def test_an_existing_pubkey_is_a_conflict_and_counts_no_use(
    directory: Directory, store: InviteStore
) -> None:
    m = await directory.create_mesh(mesh())
    i = await store.create_invite(invite(m.id, uses=2))
    pubkey = new_pubkey()
    await store.redeem(i.token_hash, joiner("ada", pubkey), at(1))

    with pytest.raises(Conflict):
        await store.redeem(i.token_hash, joiner("ada again", pubkey), at(2))

    assert [x.used for x in await store.invites(m.id)] == [1]
    assert len(await directory.members(m.id)) == 1


async def test_joins_racing_for_the_last_use_have_exactly_one_winner(
    directory: Directory, store: InviteStore
) -> None:
    m = await directory.create_mesh(mesh())
    i = await store.create_invite(invite(m.id, uses=3))
    await store.redeem(i.token_hash, joiner("early"), at(1))
    await store.redeem(i.token_hash, joiner("early too"), at(1))
    racers = [joiner(f"racer-{n}") for n in range(8)]
    barrier = asyncio.Barrier(len(racers))

    async def race(j: Joiner) -> str:
        await barrier.wait()  # every racer is past here before any redeems
        try:
            await store.redeem(i.token_hash, j, at(2))
        except InvalidInvite:
            return "refused"
        return "joined"

    results = await asyncio.gather(*(race(j) for j in racers))

    assert sorted(results) == ["joined"] + ["refused"] * 7
    assert [x.used for x in await store.invites(m.id)] == [3]
    assert len(await directory.members(m.id)) == 3
