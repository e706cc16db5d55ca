"""Postgres-only: soft state commits without waiting for the WAL flush (ADR 0006);
messages wait for it."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.postgres.database import SOFT, Database
from adapters.postgres.directory import PostgresDirectory
from adapters.postgres.mailbox import PostgresMailbox
from adapters.postgres.presences import PostgresPresenceStore
from domain.model import Source, Status, StatusRecord
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh, message, new_id

WRITES = 100


async def test_the_soft_clause_turns_synchronous_commit_off_for_its_transaction_only(
    database: Database,
) -> None:
    async def work(conn: Any) -> tuple[str, str, str]:
        inside = await conn.fetchval(
            f"WITH {SOFT} SELECT current_setting('synchronous_commit') FROM soft"
        )
        after = await conn.fetchval("SELECT current_setting('synchronous_commit')")
        async with conn.transaction():
            await conn.fetchval(f"WITH {SOFT} SELECT 1 FROM soft")
            in_transaction = await conn.fetchval("SELECT current_setting('synchronous_commit')")
        return inside, after, in_transaction

    inside, after, in_transaction = await database.run(work)

    assert inside == "off"
    assert after != "off"
    assert in_transaction == "off"  # SET LOCAL semantics: until the transaction ends


async def _wal_syncs(database: Database) -> int:
    async def read(conn: Any) -> int:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        await conn.execute("SELECT 1")  # the backend reports its counters between statements
        syncs: int = await conn.fetchval("SELECT wal_sync FROM pg_stat_wal")
        return syncs

    return await database.run(read)


async def test_status_writes_skip_the_flush_and_messages_do_not(database: Database) -> None:
    settings = await database.fetchrow(
        "SELECT current_setting('fsync') AS fsync,"
        " current_setting('synchronous_commit') AS sync,"
        " current_setting('server_version_num')::int AS version"
    )
    if settings["fsync"] != "on" or settings["sync"] == "off" or settings["version"] < 150000:
        pytest.skip("needs fsync and synchronous_commit on, and Postgres 15+")
    directory = PostgresDirectory(database)
    presences = PostgresPresenceStore(database)
    mailbox = PostgresMailbox(database)
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))
    admitted = await presences.connect(
        arrival(m.id, ada.id, "s"), capacity=10, grace_cutoff=at(-90), initial=INITIAL
    )

    start = await _wal_syncs(database)
    for i in range(WRITES):
        status = Status.WORKING if i % 2 else Status.IDLE
        await presences.set_status(admitted.presence.id, StatusRecord(status, Source.HOOK, at(i)))
    soft = await _wal_syncs(database) - start

    start = await _wal_syncs(database)
    for _ in range(WRITES):
        await mailbox.enqueue(message(), [new_id("member-")])
    durable = await _wal_syncs(database) - start

    assert durable >= WRITES * 0.9, (soft, durable)
    assert soft < WRITES * 0.5, (soft, durable)
