"""The cache of member lookups (adapters/cache.py, ADR 0018): what it keeps, for how long,
how much, and what makes it forget, on its own and behind the use cases."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from adapters.cache import DEFAULT_MAX_AGE, CachingDirectory
from adapters.memory import FakeClock, InMemoryDirectory, memory_context
from adapters.postgres.notifier import CHANNEL, PostgresNotifier
from adapters.wake import LocalNotifier, TaskNotifier
from domain.errors import Rejected, Unauthorized
from domain.model import Member, Mesh, Role
from domain.ports import MemberDirectory
from domain.sessions import SessionRegistry
from domain.usecases import admin
from tests.unit.harness import Harness

MESH = Mesh("mesh-1", "Team", "team")
OTHER = Mesh("mesh-2", "Other", "other")


class CountingDirectory(MemberDirectory):
    """The directory behind the cache, counting what reaches it."""

    def __init__(self, inner: MemberDirectory) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    async def member(self, mesh_id: str, member_id: str) -> Member | None:
        self.calls["member"] += 1
        return await self.inner.member(mesh_id, member_id)

    async def member_by_pubkey(self, mesh_id: str, pubkey: str) -> Member | None:
        self.calls["member_by_pubkey"] += 1
        return await self.inner.member_by_pubkey(mesh_id, pubkey)

    async def members(self, mesh_id: str) -> list[Member]:
        self.calls["members"] += 1
        return await self.inner.members(mesh_id)

    @property
    def total(self) -> int:
        return sum(self.calls.values())


def _member(n: int, mesh: Mesh = MESH) -> Member:
    return Member(f"m{n}-{mesh.id}", mesh.id, f"{n:064x}", f"peer {n}", Role.MEMBER)


async def _directory(*members: Member) -> InMemoryDirectory:
    store = InMemoryDirectory()
    for mesh in (MESH, OTHER):
        await store.create_mesh(mesh)
    for member in members:
        await store.add_member(member)
    return store


async def _cache(
    *members: Member, max_weight: int = 100
) -> tuple[CachingDirectory, CountingDirectory, InMemoryDirectory, FakeClock]:
    store = await _directory(*members)
    counting, clock = CountingDirectory(store), FakeClock()
    return CachingDirectory(counting, clock, max_weight=max_weight), counting, store, clock


# ---- on its own


async def test_a_hit_costs_no_directory_call() -> None:
    ada, bob = _member(1), _member(2)
    cache, inner, _, _ = await _cache(ada, bob)

    for _ in range(5):
        assert await cache.member_by_pubkey(MESH.id, bob.pubkey) == bob
        assert await cache.member(MESH.id, ada.id) == ada
        assert await cache.members(MESH.id) == [ada, bob]

    assert inner.calls == {"member_by_pubkey": 1, "member": 1, "members": 1}
    assert (cache.hits, cache.misses) == (12, 3)


async def test_an_entry_is_read_again_once_it_is_max_age_old() -> None:
    bob = _member(2)
    cache, inner, _, clock = await _cache(bob)
    await cache.member_by_pubkey(MESH.id, bob.pubkey)

    clock.advance(DEFAULT_MAX_AGE.total_seconds() - 0.001)
    await cache.member_by_pubkey(MESH.id, bob.pubkey)
    assert inner.total == 1

    clock.advance(0.001)
    await cache.member_by_pubkey(MESH.id, bob.pubkey)
    assert inner.total == 2


async def test_an_entry_kept_before_the_clock_stepped_back_is_read_again() -> None:
    bob = _member(2)
    cache, inner, _, clock = await _cache(bob)
    await cache.member_by_pubkey(MESH.id, bob.pubkey)

    clock.advance(-3600)  # an NTP step back: the entry's age would be negative
    await cache.member_by_pubkey(MESH.id, bob.pubkey)

    assert inner.total == 2


async def test_a_miss_is_not_kept_so_a_member_added_is_found_at_once() -> None:
    ada, bob = _member(1), _member(2)
    cache, inner, store, _ = await _cache()
    assert await cache.member_by_pubkey(MESH.id, bob.pubkey) is None
    assert await cache.member(MESH.id, bob.id) is None
    assert await cache.members(MESH.id) == []

    await store.add_member(bob)
    await store.add_member(ada)

    assert await cache.member_by_pubkey(MESH.id, bob.pubkey) == bob
    assert await cache.member(MESH.id, bob.id) == bob
    assert await cache.members(MESH.id) == [bob, ada]
    assert inner.total == 6
    assert len(cache) == 3


async def test_a_member_found_in_another_mesh_is_still_a_miss_here() -> None:
    bob = _member(2, OTHER)
    cache, _, _, _ = await _cache(bob)

    assert await cache.member_by_pubkey(OTHER.id, bob.pubkey) == bob
    assert await cache.member_by_pubkey(MESH.id, bob.pubkey) is None
    assert await cache.member(MESH.id, bob.id) is None


async def test_memory_is_bounded_and_the_least_recently_used_go_first() -> None:
    members = [_member(n) for n in range(50)]
    cache, inner, _, _ = await _cache(*members, max_weight=10)
    keeper = members[0]

    for member in members:  # churn through many more members than fit
        await cache.member_by_pubkey(MESH.id, keeper.pubkey)  # keeps it recently used
        await cache.member_by_pubkey(MESH.id, member.pubkey)
        assert cache.weight <= 10

    assert len(cache) == 10
    calls = inner.total
    await cache.member_by_pubkey(MESH.id, keeper.pubkey)
    await cache.member_by_pubkey(MESH.id, members[-1].pubkey)
    assert inner.total == calls  # both still kept
    await cache.member_by_pubkey(MESH.id, members[1].pubkey)
    assert inner.total == calls + 1  # evicted long ago


async def test_a_member_list_weighs_its_length_and_one_too_long_is_not_kept() -> None:
    members = [_member(n) for n in range(12)]
    cache, inner, _, _ = await _cache(*members, max_weight=10)

    assert len(await cache.members(MESH.id)) == 12
    assert len(await cache.members(MESH.id)) == 12
    assert inner.calls["members"] == 2
    assert len(cache) == 0

    small = [_member(n, OTHER) for n in range(3)]
    cache, inner, _store, _ = await _cache(*small, max_weight=10)
    await cache.members(OTHER.id)
    assert cache.weight == 4


async def test_the_list_handed_out_is_a_copy() -> None:
    ada, bob = _member(1), _member(2)
    cache, _, _, _ = await _cache(ada, bob)

    (await cache.members(MESH.id)).clear()

    assert await cache.members(MESH.id) == [ada, bob]


async def test_forget_drops_that_member_and_its_mesh_list_only() -> None:
    ada, bob, eve = _member(1), _member(2), _member(3, OTHER)
    cache, _inner, _, _ = await _cache(ada, bob, eve)
    for mesh, member in ((MESH, ada), (MESH, bob), (OTHER, eve)):
        await cache.member_by_pubkey(mesh.id, member.pubkey)
        await cache.member(mesh.id, member.id)
        await cache.members(mesh.id)
    assert len(cache) == 8

    cache.forget(MESH.id, bob.id)

    remaining = {(k[0], k[2]) for k in cache._entries}
    assert remaining == {
        ("pk", ada.pubkey),
        ("id", ada.id),
        ("pk", eve.pubkey),
        ("id", eve.id),
        ("all", ""),
    }
    cache.forget(MESH.id)
    assert {k[1] for k in cache._entries} == {OTHER.id}


async def test_a_lookup_in_flight_across_an_invalidation_keeps_nothing() -> None:
    bob = _member(2)
    store = await _directory(bob)
    gate = asyncio.Event()

    class Slow(CountingDirectory):
        async def member_by_pubkey(self, mesh_id: str, pubkey: str) -> Member | None:
            found = await super().member_by_pubkey(mesh_id, pubkey)
            await gate.wait()  # the row was read; the revocation lands meanwhile
            return found

    inner = Slow(store)
    cache = CachingDirectory(inner, FakeClock())
    lookup = asyncio.create_task(cache.member_by_pubkey(MESH.id, bob.pubkey))
    await asyncio.sleep(0)
    await store.revoke_member(MESH.id, bob.id, FakeClock().now())
    cache.forget(MESH.id, bob.id)
    gate.set()

    assert await lookup == bob  # what it read: the caller sees no newer than that
    assert len(cache) == 0
    assert (await cache.member_by_pubkey(MESH.id, bob.pubkey) or bob).revoked


async def test_while_suspended_nothing_is_kept_and_resume_starts_empty() -> None:
    bob = _member(2)
    cache, inner, _, _ = await _cache(bob)
    await cache.member_by_pubkey(MESH.id, bob.pubkey)

    cache.suspend()
    await cache.member_by_pubkey(MESH.id, bob.pubkey)
    await cache.member_by_pubkey(MESH.id, bob.pubkey)
    assert (len(cache), inner.total) == (0, 3)

    cache.resume()
    await cache.member_by_pubkey(MESH.id, bob.pubkey)
    await cache.member_by_pubkey(MESH.id, bob.pubkey)
    assert (len(cache), inner.total) == (1, 4)


async def test_a_max_age_of_zero_keeps_nothing() -> None:
    bob = _member(2)
    store = await _directory(bob)
    inner = CountingDirectory(store)
    cache = CachingDirectory(inner, FakeClock(), max_age=timedelta(0))

    for _ in range(3):
        await cache.member_by_pubkey(MESH.id, bob.pubkey)

    assert (len(cache), inner.total) == (0, 3)


# ---- behind the use cases (the harness's broker reads members through the cache)


def _counting(broker: Harness) -> tuple[CachingDirectory, CountingDirectory]:
    cache = broker.ctx.directory
    assert isinstance(cache, CachingDirectory)
    counting = CountingDirectory(cache.inner)
    cache.inner = counting
    return cache, counting


async def test_a_steady_stream_of_sends_costs_no_directory_query(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    recipient = await broker.connect(bob)
    _, inner = _counting(broker)

    for n in range(20):
        await broker.send(sender, bob, f"direct {n}")
        await broker.send(sender, "*", f"broadcast {n}")
        broker.clock.advance(0.1)

    assert inner.calls == {"member_by_pubkey": 1, "members": 1}
    assert len(recipient.connection.pushed) == 40


async def test_a_send_to_a_member_revoked_after_it_was_cached_is_refused(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    await broker.send(sender, bob, "cached")
    await broker.send(sender, "*", "cached too")

    await admin.revoke_member(broker.ctx, broker.mesh.slug, bob.member.id)

    with pytest.raises(Rejected) as direct:
        await broker.send(sender, bob)
    with pytest.raises(Rejected) as broadcast:
        await broker.send(sender, "*")
    assert direct.value.code == broadcast.value.code == "no_recipient"
    assert broker.metrics.counts["rejected:no_recipient"] == 2


async def test_a_revoked_member_whose_hello_was_cached_cannot_say_hello_again(
    broker: Harness,
) -> None:
    bob = await broker.peer("bob")
    first = await broker.connect(bob, "laptop")

    await admin.revoke_member(broker.ctx, broker.mesh.slug, bob.member.id)

    assert first.connection.closed == (1008, "revoked")
    with pytest.raises(Unauthorized):
        await broker.connect(bob, "laptop")


async def test_a_member_added_receives_the_next_broadcast(broker: Harness) -> None:
    ada, _bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    await broker.send(sender, "*", "before")  # the mesh's list is cached: ada, bob

    carol = await broker.peer("carol")
    await broker.send(sender, "*", "after")
    receiver = await broker.connect(carol)

    assert receiver.connection.texts == ["after"]


async def test_without_the_cache_the_same_sends_are_refused_the_same_way() -> None:
    broker = Harness()
    broker.ctx = memory_context(broker.policy, broker.clock, cached=False)
    await broker.start()
    assert not isinstance(broker.ctx.directory, CachingDirectory)
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    await broker.send(sender, bob)
    await admin.revoke_member(broker.ctx, broker.mesh.slug, bob.member.id)

    with pytest.raises(Rejected) as refused:
        await broker.send(sender, bob)

    assert refused.value.code == "no_recipient"


# ---- the notifiers carry the invalidation


async def test_the_local_notifier_forgets_through_the_cache() -> None:
    bob = _member(2)
    cache, _inner, _, _ = await _cache(bob)
    notifier = LocalNotifier(SessionRegistry(), cache)
    await cache.member_by_pubkey(MESH.id, bob.pubkey)

    await notifier.member_changed(MESH.id, bob.id)

    assert len(cache) == 0


class _RecordingDatabase:
    def __init__(self) -> None:
        self.sent: list[dict[str, Any]] = []

    async def execute(self, query: str, *args: Any) -> str:
        assert args[0] == CHANNEL
        self.sent.append(json.loads(args[1]))
        return "SELECT 1"


def _postgres_notifier(cache: CachingDirectory) -> tuple[PostgresNotifier, _RecordingDatabase]:
    local = TaskNotifier(SessionRegistry(), cache)
    database = _RecordingDatabase()
    notifier = PostgresNotifier(local, database, "postgresql://unused", "here")  # type: ignore[arg-type]
    return notifier, database


async def test_the_postgres_notifier_forgets_here_and_tells_the_others() -> None:
    bob = _member(2)
    cache, _, _, _ = await _cache(bob)
    notifier, database = _postgres_notifier(cache)
    await cache.member(MESH.id, bob.id)

    await notifier.member_changed(MESH.id, bob.id)

    assert len(cache) == 0
    assert database.sent == [{"i": "here", "m": [MESH.id, bob.id]}]


async def test_a_member_changed_on_another_instance_is_forgotten_here() -> None:
    ada, bob = _member(1), _member(2)
    cache, _, _, _ = await _cache(ada, bob)
    notifier, _ = _postgres_notifier(cache)
    for member in (ada, bob):
        await cache.member_by_pubkey(MESH.id, member.pubkey)

    payload = json.dumps({"i": "elsewhere", "m": [MESH.id, bob.id]})
    notifier._received(None, 1, CHANNEL, payload)

    assert [k[2] for k in cache._entries] == [ada.pubkey]


class _FakeListenConnection:
    def __init__(self) -> None:
        self.on_lost: list[Any] = []
        self.terminated = False

    def add_termination_listener(self, callback: Any) -> None:
        self.on_lost.append(callback)

    async def add_listener(self, channel: str, callback: Any) -> None:
        pass

    async def fetchval(self, query: str, timeout: float) -> int:
        return 1

    def terminate(self) -> None:
        self.terminated = True

    def lose(self) -> None:
        for callback in self.on_lost:
            callback(self)


async def test_the_cache_is_used_only_while_the_listen_connection_is_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bob = _member(2)
    cache, _inner, store, _ = await _cache(bob)
    notifier, _ = _postgres_notifier(cache)
    connections: list[_FakeListenConnection] = []
    connected = asyncio.Event()

    async def connect(dsn: str, timeout: float) -> _FakeListenConnection:
        connections.append(_FakeListenConnection())
        connected.set()
        return connections[-1]

    monkeypatch.setattr("adapters.postgres.notify_listen.asyncpg.connect", connect)
    listening = asyncio.create_task(notifier.listen())
    try:
        await asyncio.wait_for(connected.wait(), 5)
        await asyncio.sleep(0)
        await cache.member_by_pubkey(MESH.id, bob.pubkey)
        assert len(cache) == 1  # listening: kept

        connected.clear()
        connections[-1].lose()  # a revocation published now would never be heard
        await asyncio.sleep(0.05)
        assert len(cache) == 0
        await store.revoke_member(MESH.id, bob.id, FakeClock().now())
        assert (await cache.member_by_pubkey(MESH.id, bob.pubkey) or bob).revoked
        assert len(cache) == 0  # not kept while deaf

        await asyncio.wait_for(connected.wait(), 5)  # reconnects after a second
        await asyncio.sleep(0)
        await cache.member_by_pubkey(MESH.id, bob.pubkey)
        assert len(cache) == 1
        assert connections[0].terminated
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)
    assert len(cache) == 0  # stopped listening: suspended again


async def test_an_admin_process_that_never_listens_never_caches() -> None:
    """The container's cache is off until a PostgresNotifier's listen() turns it on."""
    from dependency_injector import providers

    from app.config import Settings
    from app.container import Container

    bob = _member(2)
    _, inner, _, clock = await _cache(bob)
    container = Container(settings=Settings(), dsn="postgresql://unused")
    container.database.override(providers.Object(None))
    container.stored_directory.override(providers.Object(inner))
    container.clock.override(providers.Object(clock))
    cache = container.directory()

    await cache.member(MESH.id, bob.id)
    await cache.member(MESH.id, bob.id)

    assert container.notifier().local.cache is cache
    assert (len(cache), inner.total) == (0, 2)
