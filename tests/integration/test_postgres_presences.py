"""Postgres-only presence properties: connects racing on several instances."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from adapters.postgres.database import Database
from adapters.postgres.directory import PostgresDirectory
from adapters.postgres.presences import PostgresPresenceStore
from domain.errors import CapacityExceeded
from domain.ports import Admitted
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh


@pytest.fixture
async def instances(database: Database, database_url: str) -> AsyncIterator[list[Database]]:
    """Three pools: the session's and two more, as three broker instances would have."""
    others = [await Database.create(database_url, min_size=1, max_size=5) for _ in range(2)]
    try:
        yield [database, *others]
    finally:
        for db in others:
            await db.close()


async def test_concurrent_connects_never_admit_more_than_capacity(
    database: Database, instances: list[Database]
) -> None:
    capacity, attempts = 5, 40
    directory = PostgresDirectory(database)
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))

    async def attempt(i: int) -> Admitted | CapacityExceeded:
        store = PostgresPresenceStore(instances[i % len(instances)])
        try:
            return await store.connect(
                arrival(m.id, ada.id, f"session-{i}"),
                capacity=capacity,
                grace_cutoff=at(-90),
                initial=INITIAL,
            )
        except CapacityExceeded as refused:
            return refused

    outcomes = await asyncio.gather(*(attempt(i) for i in range(attempts)))

    admitted = [o for o in outcomes if isinstance(o, Admitted)]
    assert len(admitted) == capacity
    assert sum(isinstance(o, CapacityExceeded) for o in outcomes) == attempts - capacity
    [summary] = [s for s in await directory.meshes() if s.mesh.id == m.id]
    assert summary.online == capacity


async def test_the_same_session_connecting_everywhere_at_once_keeps_one_presence(
    database: Database, instances: list[Database]
) -> None:
    directory = PostgresDirectory(database)
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))
    arrivals = [arrival(m.id, ada.id, "one-session", now=1) for _ in range(12)]

    outcomes = await asyncio.gather(
        *(
            PostgresPresenceStore(instances[i % len(instances)]).connect(
                a, capacity=100, grace_cutoff=at(-90), initial=INITIAL
            )
            for i, a in enumerate(arrivals)
        )
    )

    assert len({o.presence.id for o in outcomes}) == 1
    # they took turns: exactly one started the presence, each other replaced one
    assert sum(o.replaced_connection_id is None for o in outcomes) == 1
    replaced = [o.replaced_connection_id for o in outcomes if o.replaced_connection_id]
    assert len(set(replaced)) == len(arrivals) - 1
    peers = await PostgresPresenceStore(database).peers(m.id)
    assert len(peers) == 1 and peers[0].online
