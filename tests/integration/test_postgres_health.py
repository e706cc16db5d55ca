"""Postgres-only: the health probe asks the database, not the pool (ADR 0019)."""

from __future__ import annotations

import asyncio
import time

import pytest

from adapters.postgres.database import Database
from adapters.postgres.embedded import EmbeddedPostgres
from domain.errors import StoreUnavailable

PROBES = """
    SELECT pid FROM pg_stat_activity
    WHERE application_name = 'meshbroker health' AND datname = current_database()
"""


async def _probe_pids(database: Database) -> set[int]:
    return {row["pid"] for row in await database.fetch(PROBES)}


async def _probes_settle(database: Database, others: set[int], count: int) -> set[int]:
    """The probe connections beyond `others` once there are `count` of them (a killed or
    closed backend leaves pg_stat_activity a moment after its client saw it go)."""
    deadline = time.monotonic() + 10
    while len(pids := await _probe_pids(database) - others) != count:
        assert time.monotonic() < deadline, f"probe connections: {pids}"
        await asyncio.sleep(0.05)
    return pids


async def test_health_is_true_while_every_pool_connection_is_held(database_url: str) -> None:
    db = await Database.create(database_url, min_size=1, max_size=1, acquire_timeout=0.5)
    try:
        async with db.pool.acquire() as held:
            assert await held.fetchval("SELECT 1") == 1
            with pytest.raises(StoreUnavailable):  # the pool has nothing to lend...
                await db.fetchval("SELECT 1")

            assert await db.health() is True  # ...and the database answers all the same
            assert await db.health() is True
    finally:
        await db.close()


async def test_health_reopens_its_connection_after_it_was_killed(
    database: Database, database_url: str
) -> None:
    others = await _probe_pids(database)
    db = await Database.create(database_url, min_size=1, max_size=1)
    try:
        assert await db.health() is True
        (pid,) = await _probes_settle(database, others, 1)
        await database.fetchval("SELECT pg_terminate_backend($1)", pid)
        await _probes_settle(database, others, 0)

        assert await db.health() is True
        (again,) = await _probes_settle(database, others, 1)
        assert again != pid
    finally:
        await db.close()


async def test_close_closes_the_probe_connection_and_health_stays_false(
    database: Database, database_url: str
) -> None:
    others = await _probe_pids(database)
    db = await Database.create(database_url, min_size=1, max_size=1)
    assert await db.health() is True
    await _probes_settle(database, others, 1)

    await db.close()

    assert await db.health() is False
    await _probes_settle(database, others, 0)


async def test_health_follows_a_stopped_and_restarted_server(
    private_postgres: EmbeddedPostgres,
) -> None:
    db = await Database.create(private_postgres.dsn, min_size=1, max_size=1)
    try:
        assert await db.health() is True

        await asyncio.to_thread(private_postgres.stop)
        down = [await db.health() for _ in range(2)]
        await asyncio.to_thread(private_postgres.start)
        up = await db.health()  # the connection it held died with the server

        assert (down, up) == ([False, False], True)
    finally:
        await db.close()
