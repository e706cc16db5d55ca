"""Postgres-only: the online count of a mesh that connect checks capacity against is a
counter kept by triggers (migrations/0002, ADR 0020). It must equal the number of
online rows (ended_at IS NULL AND connection_id IS NOT NULL) whoever writes them, under
concurrent writers on several instances, and from the moment the migration ran."""

from __future__ import annotations

import asyncio
import random
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from adapters.postgres.database import Database
from adapters.postgres.directory import PostgresDirectory
from adapters.postgres.migrate import migrate
from adapters.postgres.presences import PostgresPresenceStore
from domain.errors import CapacityExceeded
from domain.model import Source, Status, StatusRecord
from tests.integration.conftest import DatabaseFactory
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh, new_id

REPO_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"
GRACE = 90

# One statement, so one snapshot: the counter (the folded count plus the changes not
# folded yet) next to count(*) of the online rows, per mesh.
COMPARE = """
WITH counter AS (
    SELECT mesh_id, sum(n)::bigint AS n FROM (
        SELECT mesh_id, online AS n FROM mesh.online_counts
        UNION ALL
        SELECT mesh_id, change FROM mesh.online_count_changes
    ) AS parts GROUP BY mesh_id
), actual AS (
    SELECT mesh_id, count(*) AS n FROM mesh.presences
    WHERE ended_at IS NULL AND connection_id IS NOT NULL GROUP BY mesh_id
)
SELECT coalesce(counter.mesh_id, actual.mesh_id) AS mesh_id,
       coalesce(counter.n, 0) AS counter, coalesce(actual.n, 0) AS actual
FROM counter FULL JOIN actual ON actual.mesh_id = counter.mesh_id
"""


async def compare(db: Database) -> dict[str, tuple[int, int]]:
    """mesh id -> (counter, count(*)), meshes where either is not zero."""
    rows = await db.fetch(COMPARE)
    return {
        r["mesh_id"]: (r["counter"], r["actual"])
        for r in rows
        if (r["counter"], r["actual"]) != (0, 0)
    }


def assert_exact(counts: dict[str, tuple[int, int]]) -> None:
    wrong = {m: c for m, c in counts.items() if c[0] != c[1]}
    assert not wrong, f"counter != count(*): {wrong}"


@pytest.fixture
async def fresh(make_database: DatabaseFactory) -> AsyncIterator[tuple[str, list[Database]]]:
    """A database of its own, migrated (these tests end, delete and truncate
    presences wholesale), and three pools on it, as three instances would have."""
    url = await make_database()
    await migrate(url)
    pools = [await Database.create(url, min_size=1, max_size=4) for _ in range(3)]
    try:
        yield url, pools
    finally:
        for db in pools:
            await db.close()


async def connect(
    store: PostgresPresenceStore,
    mesh_id: str,
    member_id: str,
    session: str,
    now: float,
    *,
    capacity: int = 100,
) -> Any:
    return await store.connect(
        arrival(mesh_id, member_id, session, now=now),
        capacity=capacity,
        grace_cutoff=at(now - GRACE),
        initial=INITIAL,
    )


async def test_every_kind_of_write_keeps_the_count(fresh: tuple[str, list[Database]]) -> None:
    _, [db, *_] = fresh
    directory, store = PostgresDirectory(db), PostgresPresenceStore(db)
    m = await directory.create_mesh(mesh())
    other = await directory.create_mesh(mesh())
    ada, bob = [await directory.add_member(member(m.id, n)) for n in ("Ada", "Bob")]

    async def online() -> int:
        counts = await compare(db)
        assert_exact(counts)
        return counts.get(m.id, (0, 0))[0]

    a = await connect(store, m.id, ada.id, "a", 0)
    await connect(store, m.id, bob.id, "b", 0)
    c = await connect(store, m.id, ada.id, "c", 0)
    assert await online() == 3
    await connect(store, m.id, bob.id, "b", 1)  # replaced: still online
    assert await online() == 3
    await store.disconnect(a.presence.connection_id or "", at(2))
    assert await online() == 2
    await store.disconnect(a.presence.connection_id or "", at(2))  # again: no row changes
    assert await online() == 2
    await connect(store, m.id, ada.id, "a", 3)  # resumed within grace
    assert await online() == 3
    await store.set_status(c.presence.id, StatusRecord(Status.WORKING, Source.HOOK, at(3)))
    await store.touch([c.presence.connection_id or ""], at(3))
    assert await online() == 3
    await store.end([c.presence.id], at(4))
    assert await online() == 2
    await store.end([c.presence.id], at(5))  # already ended
    assert await online() == 2
    await store.end_member(bob.id, at(5))
    assert await online() == 1  # bob's (replaced, still online) presence ended with him

    # a lapsed presence: its grace runs out, the sweep ends it (no change: it was
    # offline), or a connect of its session ends it and starts anew (+1)
    resumed = await store.get(a.presence.id)
    assert resumed is not None
    await store.disconnect(resumed.connection_id or "", at(10))
    assert await online() == 0
    again = await connect(store, m.id, ada.id, "a", 10 + GRACE + 1)
    assert again.presence.id != a.presence.id and await online() == 1
    await store.disconnect(again.presence.connection_id or "", at(200))
    await store.end_lapsed(grace_cutoff=at(200 + GRACE + 1), stale_cutoff=at(0), now=at(300))
    assert await online() == 0
    # a silent instance's presence, ended by the stale sweep
    silent = await connect(store, m.id, ada.id, "silent", 400)
    assert await online() == 1
    await store.end_lapsed(grace_cutoff=at(0), stale_cutoff=at(401), now=at(402))
    assert await store.get(silent.presence.id) is None and await online() == 0

    # writers outside the adapter: a DELETE, a row moved to another mesh, a TRUNCATE
    x = await connect(store, m.id, ada.id, "x", 500)
    y = await connect(store, m.id, ada.id, "y", 500)
    await connect(store, m.id, ada.id, "z", 500)
    assert await online() == 3
    await db.execute("DELETE FROM mesh.presences WHERE id = $1", x.presence.id)
    assert await online() == 2
    await db.execute(
        "UPDATE mesh.presences SET mesh_id = $2 WHERE id = $1", y.presence.id, other.id
    )
    assert await online() == 1
    assert (await compare(db))[other.id] == (1, 1)
    await db.execute("TRUNCATE mesh.presences")
    assert await compare(db) == {}
    assert await db.fetchval("SELECT count(*) FROM mesh.online_counts") == 0
    await connect(store, m.id, ada.id, "after", 600)
    assert await online() == 1


async def test_the_count_stays_exact_and_capacity_holds_through_a_concurrent_storm(
    fresh: tuple[str, list[Database]],
) -> None:
    """Three instances, 24 writers: connects (new, replaced, resumed, lapsed, refused),
    disconnects, ends, revocations, sweeps, heartbeats and statuses, at once. A monitor
    checks, one snapshot at a time, that the counter equals count(*) and that no mesh
    ever holds more than `capacity` online."""
    url, pools = fresh
    capacity, workers_per_pool, steps = 12, 8, 40
    directory = PostgresDirectory(pools[0])
    meshes = [await directory.create_mesh(mesh()) for _ in range(2)]
    members = {
        m.id: [await directory.add_member(member(m.id, f"M{i}")) for i in range(5)] for m in meshes
    }
    connections: list[tuple[str, str]] = []  # (connection id, presence id) admitted
    clock = 0.0
    tally: dict[str, int] = {}
    done = asyncio.Event()
    snapshots: list[dict[str, tuple[int, int]]] = []

    async def worker(db: Database, seed: int) -> None:
        nonlocal clock
        rnd = random.Random(seed)
        store = PostgresPresenceStore(db)
        for _ in range(steps):
            clock += 0.75  # grace windows of 90 s run out during the storm
            now = clock
            roll = rnd.random()
            if roll < 0.5 or not connections:
                m = rnd.choice(meshes)
                who = rnd.choice(members[m.id])
                try:
                    admitted = await connect(
                        store, m.id, who.id, f"s{rnd.randrange(4)}", now, capacity=capacity
                    )
                except CapacityExceeded:
                    kind = "refused"
                else:
                    presence = admitted.presence
                    connections.append((presence.connection_id or "", presence.id))
                    kind = (
                        "replaced"
                        if admitted.replaced_connection_id
                        else "resumed"
                        if admitted.resumed
                        else "new"
                    )
            elif roll < 0.75:
                conn_id, _ = rnd.choice(connections)
                kind = "disconnect"
                await store.disconnect(conn_id, at(now))
            elif roll < 0.85:
                _, presence_id = rnd.choice(connections)
                kind = "end"
                await store.end([presence_id, rnd.choice(connections)[1]], at(now))
            elif roll < 0.88:
                kind = "end_member"
                await store.end_member(rnd.choice(members[rnd.choice(meshes).id]).id, at(now))
            elif roll < 0.93:
                kind = "end_lapsed"
                await store.end_lapsed(at(now - GRACE), at(now - 60), at(now))
            else:
                kind = "touch+status"
                conn_id, presence_id = rnd.choice(connections)
                await store.touch([conn_id], at(now))
                await store.set_status(
                    presence_id, StatusRecord(Status.WORKING, Source.HOOK, at(now))
                )
            tally[kind] = tally.get(kind, 0) + 1

    async def monitor() -> None:
        conn = await asyncpg.connect(url)
        try:
            while not done.is_set():
                rows = await conn.fetch(COMPARE)
                snapshots.append({r["mesh_id"]: (r["counter"], r["actual"]) for r in rows})
                await asyncio.sleep(0.005)
        finally:
            await conn.close()

    watching = asyncio.create_task(monitor())
    await asyncio.gather(
        *(worker(db, p * 100 + w) for p, db in enumerate(pools) for w in range(workers_per_pool))
    )
    done.set()
    await watching

    final = await compare(pools[0])
    assert_exact(final)
    for seen in snapshots:
        assert_exact(seen)
        assert all(actual <= capacity for _, actual in seen.values()), seen
    assert len(snapshots) > 5
    # the storm did what it was meant to
    for kind in ("new", "replaced", "resumed", "refused", "disconnect", "end", "end_lapsed"):
        assert tally.get(kind, 0) > 0, tally


async def test_migrating_a_database_with_presences_counts_its_online_rows(
    make_database: DatabaseFactory, tmp_path: Path
) -> None:
    url = await make_database()
    first_only = tmp_path / "migrations"
    first_only.mkdir()
    shutil.copy(REPO_MIGRATIONS / "0001_init.sql", first_only)
    assert await migrate(url, first_only) == ["0001_init.sql"]
    conn = await asyncpg.connect(url)
    try:
        # mesh a: 3 online, 1 in grace, 2 ended (one of which had a connection); b: 1
        rows = [
            ("a", "c1", None),
            ("a", "c2", None),
            ("a", "c3", None),
            ("a", None, None),
            ("a", None, at(1)),
            ("a", "c6", at(1)),
            ("b", "c7", None),
        ]
        for i, (mesh_id, connection_id, ended_at) in enumerate(rows):
            await conn.execute(
                """
                INSERT INTO mesh.presences (id, mesh_id, member_id, session_id, cwd,
                    connection_id, status, status_source, status_since, connected_at,
                    disconnected_at, ended_at, last_ping_at, hook_token_hash)
                VALUES ($1, $2, 'm', $1, '/', $3, 'idle', 'manual', $4, $4,
                        CASE WHEN $3::text IS NULL THEN $4::timestamptz END, $5, $4, 'h')
                """,
                f"p{i}",
                mesh_id,
                connection_id,
                at(0),
                ended_at,
            )
    finally:
        await conn.close()

    applied = await migrate(url)

    assert applied == [f.name for f in sorted(REPO_MIGRATIONS.glob("*.sql"))][1:]
    db = await Database.create(url, min_size=1, max_size=2)
    try:
        counts = await compare(db)
        assert counts == {"a": (3, 3), "b": (1, 1)}
        store = PostgresPresenceStore(db)
        await connect(store, "a", "m", "one-more", 2, capacity=4)
        with pytest.raises(CapacityExceeded):
            await connect(store, "a", "m", "beyond", 2, capacity=4)
        assert (await compare(db))["a"] == (4, 4)
    finally:
        await db.close()


async def _wal_syncs(database: Database) -> int:
    async def read(conn: Any) -> int:
        await conn.execute("SELECT pg_stat_force_next_flush()")
        await conn.execute("SELECT 1")  # the backend reports its counters between statements
        syncs: int = await conn.fetchval("SELECT wal_sync FROM pg_stat_wal")
        return syncs

    return await database.run(read)


async def test_connect_commits_without_waiting_for_the_flush(database: Database) -> None:
    """ADR 0006: the connect statement's own transaction runs with synchronous_commit
    off (set_config(..., true) inside the function lasts until that transaction ends,
    the function's own SET clause notwithstanding); the session's setting is untouched."""
    settings = await database.fetchrow(
        "SELECT current_setting('fsync') AS fsync,"
        " current_setting('synchronous_commit') AS sync,"
        " current_setting('server_version_num')::int AS version"
    )
    directory = PostgresDirectory(database)
    store = PostgresPresenceStore(database)
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))

    async def in_one_transaction(conn: Any) -> tuple[str, str]:
        async with conn.transaction():
            await conn.fetchrow(
                "SELECT * FROM mesh.connect_presence"
                "($1, $2, 'tx', 1, '/', $5, 'h', $3, 10, $4, $6, 'idle', 'manual', $3)",
                m.id,
                ada.id,
                at(0),
                at(-GRACE),
                new_id("conn-"),
                new_id(),
            )
            inside = await conn.fetchval("SELECT current_setting('synchronous_commit')")
        after = await conn.fetchval("SELECT current_setting('synchronous_commit')")
        return inside, after

    inside, after = await database.run(in_one_transaction)
    assert inside == "off"
    assert after == settings["sync"]

    if settings["fsync"] != "on" or settings["sync"] == "off" or settings["version"] < 150000:
        pytest.skip("the WAL count needs fsync and synchronous_commit on, and Postgres 15+")
    writes = 60
    start = await _wal_syncs(database)
    for i in range(writes):
        await connect(store, m.id, ada.id, f"s{i}", 0)
    assert await _wal_syncs(database) - start < writes * 0.5
