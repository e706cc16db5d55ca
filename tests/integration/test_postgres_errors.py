"""Postgres-only: no raw driver error leaves the adapter."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator

import pytest

from adapters.postgres.database import Database
from adapters.postgres.directory import PostgresDirectory
from adapters.postgres.guards import PostgresPendingSignals, PostgresReplayGuard
from adapters.postgres.mailbox import PostgresMailbox
from adapters.postgres.migrate import migrate
from adapters.postgres.presences import PostgresPresenceStore
from domain.errors import InvalidInput, StoreUnavailable
from domain.model import Priority
from tests.integration.contract.support import INITIAL, arrival, at, message, new_id


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/postgres"


@pytest.fixture
async def unreachable() -> AsyncIterator[Database]:
    """A Database whose server does not answer (a closed port); min_size=0 connects lazily."""
    db = await Database.create(closed_port_url(), min_size=0, max_size=2, connect_timeout=2)
    yield db
    await db.close()


async def test_opening_a_pool_on_an_unreachable_server_is_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await Database.create(closed_port_url(), connect_timeout=2)


async def test_every_port_reports_an_unreachable_server_as_store_unavailable(
    unreachable: Database,
) -> None:
    calls = [
        PostgresMailbox(unreachable).enqueue(message(), ["m"]),
        PostgresMailbox(unreachable).claim("m", "p", "c", frozenset(Priority), at(0), at(30), 10),
        PostgresMailbox(unreachable).depth(at(0)),
        PostgresPresenceStore(unreachable).connect(
            arrival("mesh", "member", "s"), capacity=1, grace_cutoff=at(-90), initial=INITIAL
        ),
        PostgresPresenceStore(unreachable).set_status("p", INITIAL),
        PostgresDirectory(unreachable).member("mesh", "member"),
        PostgresDirectory(unreachable).meshes(),
        PostgresPendingSignals(unreachable).take("s", 1, "/", at(0)),
        PostgresReplayGuard(unreachable).first_use("ab" * 64, at(60)),
    ]
    for call in calls:
        with pytest.raises(StoreUnavailable):
            await call


async def test_health_is_false_when_the_server_is_unreachable(unreachable: Database) -> None:
    assert await unreachable.health() is False


async def test_health_is_true_when_the_server_answers(database: Database) -> None:
    assert await database.health() is True


async def test_migrate_reports_an_unreachable_server_as_store_unavailable() -> None:
    with pytest.raises(StoreUnavailable):
        await migrate(closed_port_url())


async def test_a_closed_pool_is_store_unavailable(database_url: str) -> None:
    db = await Database.create(database_url, min_size=1, max_size=1)
    await db.close()

    with pytest.raises(StoreUnavailable):
        await PostgresMailbox(db).depth(at(0))
    assert await db.health() is False


async def test_a_statement_over_the_command_timeout_is_store_unavailable(
    database_url: str,
) -> None:
    db = await Database.create(database_url, min_size=1, max_size=1, command_timeout=0.2)
    try:
        with pytest.raises(StoreUnavailable):
            await db.fetchval("SELECT pg_sleep(2)")
        assert await db.fetchval("SELECT 1") == 1
    finally:
        await db.close()


async def test_a_killed_connection_is_store_unavailable_at_worst_and_then_recovers(
    database: Database, database_url: str
) -> None:
    db = await Database.create(database_url, min_size=1, max_size=1)
    try:
        pid = await db.fetchval("SELECT pg_backend_pid()")
        await database.fetchval("SELECT pg_terminate_backend($1)", pid)
        mailbox = PostgresMailbox(db)
        with contextlib.suppress(StoreUnavailable):
            await mailbox.depth(at(0))
        assert await mailbox.depth(at(0)) >= 0
    finally:
        await db.close()


async def test_a_value_postgres_cannot_hold_is_invalid_input_not_an_outage(
    database: Database,
) -> None:
    mailbox = PostgresMailbox(database)
    member = new_id("member-")
    before = await mailbox.depth(at(0))

    with pytest.raises(InvalidInput):
        await mailbox.enqueue(message(), [member + "\x00"])
    with pytest.raises(InvalidInput):
        await PostgresDirectory(database).member("mesh", "nul\x00byte")
    with pytest.raises(InvalidInput):
        await PostgresPresenceStore(database).connect(
            arrival("mesh", "member", "s", pid=2**70),
            capacity=1,
            grace_cutoff=at(-90),
            initial=INITIAL,
        )

    assert await mailbox.depth(at(0)) == before
