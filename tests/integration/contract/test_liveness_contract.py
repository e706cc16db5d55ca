"""Liveness contract (ADR 0025): presences of a broker instance that died go offline
at the next sweep, live ones stay, and a dead instance can connect nobody.

An "instance" is, on Postgres, a LivenessLock holding its advisory lock on a
connection of its own (killed by closing that connection, as SIGKILL does) and a
PostgresPresenceStore stamping its incarnation; in memory, a name the store stamps
and a set of dead names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from adapters.memory import InMemoryDirectory, InMemoryPresenceStore
from adapters.postgres.database import Database
from adapters.postgres.liveness import LivenessLock
from adapters.postgres.stores import PostgresDirectory, PostgresPresenceStore
from domain.errors import StoreUnavailable
from domain.model import Presence
from domain.ports import Admitted, Arrival, PresenceStore
from tests.integration.contract.conftest import Directory
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh, new_id


class Instances:
    directory: Directory

    async def start(self, name: str) -> None: ...
    async def kill(self, name: str) -> None: ...
    def store(self, name: str) -> PresenceStore: ...


@dataclass
class MemoryInstances(Instances):
    directory: Directory = field(default_factory=InMemoryDirectory)  # type: ignore[assignment]
    shared: InMemoryPresenceStore = field(init=False)

    def __post_init__(self) -> None:
        self.shared = InMemoryPresenceStore(self.directory)  # type: ignore[arg-type]

    async def start(self, name: str) -> None:
        pass

    async def kill(self, name: str) -> None:
        self.shared.dead.add(name)

    def store(self, name: str) -> PresenceStore:
        self.shared.instance = name  # the next connect is made on this instance
        return self.shared


class PostgresInstances(Instances):
    def __init__(self, db: Database, dsn: str) -> None:
        self.db, self.dsn = db, dsn
        self.directory = PostgresDirectory(db)  # type: ignore[assignment]
        self.locks: dict[str, tuple[LivenessLock, asyncio.Task[None]]] = {}
        self.stores: dict[str, PresenceStore] = {}

    async def start(self, name: str) -> None:
        lock = LivenessLock(self.dsn, f"{name}-{new_id()[:8]}")
        task = asyncio.get_running_loop().create_task(lock.hold())
        await asyncio.wait_for(lock.held.wait(), 10)
        self.locks[name] = (lock, task)
        self.stores[name] = PostgresPresenceStore(self.db, lock)

    async def kill(self, name: str) -> None:
        # Cancelling hold() terminates its connection, as a SIGKILL would, and keeps
        # the incarnation from re-registering: Postgres frees the lock at once.
        lock, task = self.locks[name]
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # The server frees the lock once it sees the connection gone: wait for that.
        async with asyncio.timeout(10):
            while await self.db.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1",
                f"meshbroker liveness {lock.instance}",
            ):
                await asyncio.sleep(0.01)

    def store(self, name: str) -> PresenceStore:
        return self.stores[name]

    async def stop(self) -> None:
        for _, task in self.locks.values():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


@pytest.fixture(params=["memory", "postgres"])
def made(request: pytest.FixtureRequest) -> Instances:
    # Sync, as the contract conftest's: the Postgres fixtures are set up only when a
    # postgres case runs.
    if request.param == "memory":
        return MemoryInstances()
    db = request.getfixturevalue("database")
    return PostgresInstances(db, request.getfixturevalue("database_url"))


@pytest.fixture
async def instances(made: Instances) -> AsyncIterator[Instances]:
    yield made
    if isinstance(made, PostgresInstances):
        await made.stop()


async def _connect(store: PresenceStore, a: Arrival) -> Admitted:
    return await store.connect(a, capacity=100, grace_cutoff=at(-90), initial=INITIAL)


async def _sweep(store: PresenceStore, mesh_id: str, now: float) -> list[Presence]:
    # The shared Postgres database may hold other tests' dead incarnations: look at
    # this test's mesh only.
    return [p for p in await store.reap_dead(at(now), at(now - 2)) if p.mesh_id == mesh_id]


async def _reaped(instances: Instances, store: PresenceStore, mesh_id: str) -> list[Presence]:
    """Two sweeps: the first finds the lock free and notes it, the one 3 s later reaps."""
    assert await _sweep(store, mesh_id, 7) == []
    return await _sweep(store, mesh_id, 10)


async def test_the_presences_of_a_dead_instance_go_offline_and_live_ones_stay(
    instances: Instances,
) -> None:
    m = await instances.directory.create_mesh(mesh())
    ada = await instances.directory.add_member(member(m.id))
    await instances.start("a")
    await instances.start("b")
    on_a = await _connect(instances.store("a"), arrival(m.id, ada.id, "s-a", now=0))
    on_b = await _connect(instances.store("b"), arrival(m.id, ada.id, "s-b", now=0))

    await instances.kill("a")
    reaped = await _reaped(instances, instances.store("b"), m.id)

    assert [p.id for p in reaped] == [on_a.presence.id]
    assert reaped[0].connection_id == on_a.presence.connection_id  # whose leases go
    after = instances.store("b")
    gone = await after.get(on_a.presence.id)
    assert gone is not None and not gone.online and gone.disconnected_at == at(10)
    kept = await after.get(on_b.presence.id)
    assert kept is not None and kept.online
    assert await _sweep(after, m.id, 20) == []  # reaped once only


async def test_a_lock_found_free_only_once_reaps_nothing_yet(instances: Instances) -> None:
    m = await instances.directory.create_mesh(mesh())
    ada = await instances.directory.add_member(member(m.id))
    await instances.start("a")
    await instances.start("b")
    on_a = await _connect(instances.store("a"), arrival(m.id, ada.id, "s", now=0))
    await instances.kill("a")

    first = await _sweep(instances.store("b"), m.id, 7)
    too_soon = await _sweep(instances.store("b"), m.id, 8)  # free for 1 s only

    assert (first, too_soon) == ([], [])
    still = await instances.store("b").get(on_a.presence.id)
    assert still is not None and still.online


async def test_a_sweep_never_reaps_its_own_instance(instances: Instances) -> None:
    m = await instances.directory.create_mesh(mesh())
    ada = await instances.directory.add_member(member(m.id))
    await instances.start("a")
    await _connect(instances.store("a"), arrival(m.id, ada.id, "s", now=0))
    await instances.kill("a")  # its link blinked: it will reclaim, not reap itself

    assert await _sweep(instances.store("a"), m.id, 7) == []
    assert await _sweep(instances.store("a"), m.id, 10) == []


async def test_a_reconnect_after_the_reap_resumes_the_session_on_a_live_instance(
    instances: Instances,
) -> None:
    m = await instances.directory.create_mesh(mesh())
    ada = await instances.directory.add_member(member(m.id))
    await instances.start("a")
    await instances.start("b")
    first = await _connect(instances.store("a"), arrival(m.id, ada.id, "s", now=0))
    await instances.kill("a")
    await _reaped(instances, instances.store("b"), m.id)

    again = await _connect(instances.store("b"), arrival(m.id, ada.id, "s", now=11))

    assert again.resumed and again.presence.id == first.presence.id
    assert again.replaced_connection_id is None


async def test_a_dead_instance_connects_nobody_once_reaped(instances: Instances) -> None:
    m = await instances.directory.create_mesh(mesh())
    ada = await instances.directory.add_member(member(m.id))
    await instances.start("a")
    await instances.start("b")
    await instances.kill("a")
    await _reaped(instances, instances.store("b"), m.id)

    with pytest.raises(StoreUnavailable):
        await _connect(instances.store("a"), arrival(m.id, ada.id, "late", now=12))
