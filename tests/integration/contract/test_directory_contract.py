"""MemberDirectory and MeshAdmin contract: meshes, members, revocation, the summary."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from domain.errors import Conflict, NotFound
from domain.model import Mesh, Role
from domain.ports import PresenceStore
from tests.integration.contract.conftest import Directory
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh, new_id


async def test_create_mesh_and_find_it_by_id_or_slug(directory: Directory) -> None:
    m = mesh()

    assert await directory.create_mesh(m) == m

    assert await directory.find_mesh(m.id) == m
    assert await directory.find_mesh(m.slug) == m
    assert await directory.find_mesh(new_id("no-such-mesh-")) is None
    assert await directory.find_mesh("") is None


async def test_a_taken_slug_is_a_conflict(directory: Directory) -> None:
    m = await directory.create_mesh(mesh())

    with pytest.raises(Conflict):
        await directory.create_mesh(Mesh(new_id(), "Another name", m.slug))

    assert await directory.find_mesh(m.slug) == m


async def test_find_mesh_prefers_the_id(directory: Directory) -> None:
    first = await directory.create_mesh(mesh())
    # another mesh whose slug is the first one's id
    second = await directory.create_mesh(Mesh(new_id(), "Second", first.id))

    assert await directory.find_mesh(first.id) == first
    assert await directory.find_mesh(second.id) == second


async def test_members_are_found_by_id_and_pubkey_within_their_mesh(
    directory: Directory,
) -> None:
    m = await directory.create_mesh(mesh())
    other = await directory.create_mesh(mesh())
    ada = member(m.id, "Ada", Role.ADMIN)

    assert await directory.add_member(ada) == ada

    assert await directory.member(m.id, ada.id) == ada
    assert await directory.member(other.id, ada.id) is None
    assert await directory.member(m.id, new_id()) is None
    assert await directory.member(m.id, "not-a-uuid") is None
    assert await directory.member_by_pubkey(m.id, ada.pubkey) == ada
    assert await directory.member_by_pubkey(other.id, ada.pubkey) is None
    assert await directory.member_by_pubkey(m.id, ada.pubkey.upper()) is None


async def test_lookups_in_flight_together_each_get_their_own_answer(
    directory: Directory,
) -> None:
    """Postgres answers concurrent lookups by id with one statement (issue 18)."""
    m = await directory.create_mesh(mesh())
    other = await directory.create_mesh(mesh())
    ada, bob = member(m.id, "Ada"), member(m.id, "Bob")
    for x in (ada, bob):
        await directory.add_member(x)

    found = await asyncio.gather(
        directory.member(m.id, ada.id),
        directory.member(other.id, ada.id),
        directory.member(m.id, bob.id),
        directory.member(m.id, new_id()),
        directory.member(m.id, ada.id),
    )

    assert found == [ada, None, bob, None, ada]


async def test_members_lists_every_member_in_the_order_added(directory: Directory) -> None:
    m = await directory.create_mesh(mesh())
    other = await directory.create_mesh(mesh())
    added = [await directory.add_member(member(m.id, name)) for name in ("Cy", "Ada", "Bo")]
    await directory.add_member(member(other.id, "Eve"))
    revoked = await directory.revoke_member(m.id, added[1].id, at(1))

    assert await directory.members(m.id) == [added[0], revoked, added[2]]
    assert await directory.members(new_id()) == []


async def test_a_pubkey_is_unique_within_a_mesh_only(directory: Directory) -> None:
    m = await directory.create_mesh(mesh())
    other = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))

    with pytest.raises(Conflict):
        await directory.add_member(replace(member(m.id, "Impostor"), pubkey=ada.pubkey))
    twin = await directory.add_member(replace(member(other.id), pubkey=ada.pubkey))

    assert await directory.members(m.id) == [ada]
    assert await directory.member_by_pubkey(other.id, ada.pubkey) == twin


async def test_revoke_keeps_the_first_time(directory: Directory) -> None:
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))

    first = await directory.revoke_member(m.id, ada.id, at(10))
    again = await directory.revoke_member(m.id, ada.id, at(20))

    assert first == replace(ada, revoked_at=at(10))
    assert first.revoked
    assert again == first
    assert await directory.member(m.id, ada.id) == first


async def test_revoking_an_unknown_member_is_not_found(directory: Directory) -> None:
    m = await directory.create_mesh(mesh())
    other = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))

    with pytest.raises(NotFound):
        await directory.revoke_member(m.id, new_id(), at(1))
    with pytest.raises(NotFound):
        await directory.revoke_member(other.id, ada.id, at(1))
    assert await directory.member(m.id, ada.id) == ada


async def test_meshes_summarises_members_and_online_presences(
    directory: Directory, presences: PresenceStore
) -> None:
    token = new_id()
    busy = await directory.create_mesh(mesh(f"b-{token}"))
    quiet = await directory.create_mesh(mesh(f"a-{token}"))
    ada = await directory.add_member(member(busy.id, "Ada"))
    bob = await directory.add_member(member(busy.id, "Bob"))
    await directory.revoke_member(busy.id, bob.id, at(1))
    await directory.add_member(member(quiet.id, "Cy"))

    async def join(session: str) -> str:
        admitted = await presences.connect(
            arrival(busy.id, ada.id, session), capacity=10, grace_cutoff=at(-90), initial=INITIAL
        )
        return admitted.presence.connection_id or ""

    await join("online")
    await presences.disconnect(await join("in-grace"), at(2))
    ended = await presences.connect(
        arrival(busy.id, ada.id, "ended"), capacity=10, grace_cutoff=at(-90), initial=INITIAL
    )
    await presences.end([ended.presence.id], at(2))

    summary = [s for s in await directory.meshes() if s.mesh.slug.endswith(token)]

    assert [(s.mesh, s.members, s.online) for s in summary] == [(quiet, 1, 0), (busy, 2, 1)]
