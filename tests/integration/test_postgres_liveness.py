"""The liveness lock's own connection breaking (ADR 0025): taken back when nobody
reaped the incarnation, fencing when somebody did."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest

from adapters.postgres.database import Database
from adapters.postgres.liveness import LivenessLock


@pytest.fixture
async def lock(database_url: str) -> AsyncIterator[LivenessLock]:
    held = LivenessLock(database_url, f"test-{uuid.uuid4().hex[:8]}", retry_every=0.05)
    fenced: list[str | None] = []

    async def fence() -> None:
        fenced.append(held.current)

    held.on_lost = fence
    held.fenced = fenced  # type: ignore[attr-defined]
    task = asyncio.get_running_loop().create_task(held.hold())
    await asyncio.wait_for(held.held.wait(), 10)
    yield held
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def _terminate(database: Database, lock: LivenessLock, *, reap: bool) -> None:
    """End the lock's backend; with `reap`, delete its row in the same transaction, as a
    sweep that found it dead would (the row lock makes the reclaim wait for it)."""
    await database.execute(
        """
        WITH gone AS (
            DELETE FROM mesh.instances WHERE id = $2 AND $3 RETURNING id
        )
        SELECT pg_terminate_backend(pid), (SELECT count(*) FROM gone)
        FROM pg_stat_activity WHERE application_name = $1
        """,
        f"meshbroker liveness {lock.instance}",
        lock.current,
        reap,
    )


async def _until_held_again(lock: LivenessLock) -> None:
    async with asyncio.timeout(10):
        while lock.held.is_set():  # it notices the broken connection ...
            await asyncio.sleep(0.01)
        await lock.held.wait()  # ... and holds a lock again


async def test_a_broken_lock_connection_is_reclaimed_when_nobody_reaped_it(
    database: Database, lock: LivenessLock
) -> None:
    before = lock.current

    await _terminate(database, lock, reap=False)
    await _until_held_again(lock)

    assert lock.current == before
    assert lock.fenced == []  # type: ignore[attr-defined]
    row = await database.fetchrow("SELECT free_since FROM mesh.instances WHERE id = $1", before)
    assert row is not None and row["free_since"] is None


async def test_an_incarnation_reaped_meanwhile_fences_and_registers_anew(
    database: Database, lock: LivenessLock
) -> None:
    before = lock.current

    await _terminate(database, lock, reap=True)
    await _until_held_again(lock)

    assert lock.fenced == [None]  # type: ignore[attr-defined]  # hellos refused while fencing
    assert lock.current is not None and lock.current != before
