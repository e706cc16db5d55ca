"""Races between two transactions (issue 14), made deterministic with a barrier: the
first transaction holds its write uncommitted, the second is started and seen waiting
on its lock in pg_stat_activity, then the first commits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from typing import Any

import pytest

from adapters.postgres.database import Database
from adapters.postgres.directory import PostgresDirectory
from adapters.postgres.presences import PostgresPresenceStore
from domain.errors import Unauthorized
from domain.model import Source, Status, StatusRecord
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh

Conn = Any


@pytest.fixture
async def other(database: Database) -> AsyncIterator[Conn]:
    """A connection of its own for the transaction that goes first."""
    async with database.pool.acquire() as conn:
        yield conn


async def waiting_on_a_lock(database: Database, marker: str) -> None:
    """Until a backend runs a statement containing `marker` and waits for a lock."""
    async with asyncio.timeout(10):
        while not await database.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE '%' || $1 || '%'",
            marker,
        ):
            await asyncio.sleep(0.01)


async def blocked(database: Database, work: Awaitable[object], marker: str) -> asyncio.Task[Any]:
    task = asyncio.ensure_future(work)
    await waiting_on_a_lock(database, marker)
    assert not task.done()
    return task


async def test_a_hook_that_read_idle_cannot_overwrite_a_dnd_committed_meanwhile(
    database: Database, other: Conn
) -> None:
    directory = PostgresDirectory(database)
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))
    store = PostgresPresenceStore(database)
    p = (
        await store.connect(
            arrival(m.id, ada.id, "s"), capacity=10, grace_cutoff=at(-90), initial=INITIAL
        )
    ).presence
    working = StatusRecord(Status.WORKING, Source.HOOK, at(2))

    manual = other.transaction()
    await manual.start()
    await other.execute(
        "UPDATE mesh.presences SET status = 'dnd', status_since = $2 WHERE id = $1", p.id, at(1)
    )
    hook = await blocked(
        database, store.set_status(p.id, working, expected=INITIAL), "p.status_since = $8"
    )
    await manual.commit()

    assert await hook is False
    after = await store.get(p.id)
    assert after is not None and after.status.status is Status.DND


async def test_a_hello_racing_a_revoke_is_refused_once_the_revoke_commits(
    database: Database, other: Conn
) -> None:
    directory = PostgresDirectory(database)
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))
    store = PostgresPresenceStore(database)

    revoke = other.transaction()
    await revoke.start()
    await other.execute("UPDATE mesh.members SET revoked_at = $2 WHERE id = $1", ada.id, at(0))
    hello = await blocked(
        database,
        store.connect(
            arrival(m.id, ada.id, "s", now=1), capacity=10, grace_cutoff=at(-90), initial=INITIAL
        ),
        "admit_presence",
    )
    await revoke.commit()

    with pytest.raises(Unauthorized):
        await hello
    assert await store.peers(m.id) == []


async def test_a_revoke_waits_for_a_hello_in_flight_and_then_ends_its_presence(
    database: Database, other: Conn
) -> None:
    # The other order: the hello's statement holds the member row (FOR SHARE) first,
    # so the revoke commits after it, and end_member (after the revoke) sees it.
    directory = PostgresDirectory(database)
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))
    store = PostgresPresenceStore(database)

    hello = other.transaction()
    await hello.start()
    await other.fetchrow(
        "SELECT * FROM mesh.admit_presence($1, $2, 's', NULL, '/', 'c', 'h', $3, 10, $4,"
        " gen_random_uuid()::text, 'idle', 'manual', $3, NULL, $3, false)",
        m.id,
        ada.id,
        at(1),
        at(-90),
    )
    revoke = await blocked(database, directory.revoke_member(m.id, ada.id, at(2)), "revoked_at")
    await hello.commit()
    await revoke
    ended = await store.end_member(ada.id, at(3))

    assert [p.member_id for p in ended] == [ada.id]
    assert await store.peers(m.id) == []
