"""The races found in review (issue 14), each made deterministic with a barrier in a
store: the first party is stopped at a named point, the second runs to the end, then
the first goes on."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import pytest

from adapters.memory import InMemoryPresenceStore
from domain.errors import StoreUnavailable, Unauthorized
from domain.model import HookSignal, Member, Status
from domain.usecases import admin, connect, peers, status, sweeps
from domain.usecases.status import HookReport, hook_set_status
from tests.unit.harness import FakeConnection, Harness

CWD = "/home/ada/proj"


class Barrier:
    """Stops the first call of `method` on `target` before it runs, until released."""

    def __init__(self, target: object, method: str) -> None:
        self.reached, self.go = asyncio.Event(), asyncio.Event()
        original: Callable[..., Awaitable[Any]] = getattr(target, method)
        calls = 0

        async def stopped(*args: Any, **kwargs: Any) -> Any:
            nonlocal calls
            calls += 1
            if calls == 1:
                self.reached.set()
                await self.go.wait()
            return await original(*args, **kwargs)

        setattr(target, method, stopped)


async def test_a_hook_that_read_idle_cannot_overwrite_a_manual_dnd_set_meanwhile(
    broker: Harness,
) -> None:
    client = await broker.connect(await broker.peer("ada"))
    write = Barrier(broker.ctx.presences, "set_status")  # the hook read idle, decided

    hook = asyncio.ensure_future(
        hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WORKING), None)
    )
    await write.reached.wait()
    await status.set_status(broker.ctx, client.session, Status.DND)
    write.go.set()
    await hook

    assert await broker.status_of(client) is Status.DND
    assert client.session.status is Status.DND


async def _signal_waiting_for(broker: Harness, session_id: str) -> None:
    """A hook report that arrived before the session: its hello applies it after the
    presence is written (the step these tests make fail)."""
    now = broker.ctx.clock.now()
    await broker.ctx.signals.stash(HookSignal("/elsewhere", None, session_id, Status.WORKING, now))


async def test_a_hello_failing_after_its_presence_was_written_leaves_it_offline(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await broker.peer("ada")
    watcher = await broker.connect(await broker.peer("bob"))
    await _signal_waiting_for(broker, "doomed")  # so the hello has a step after its write

    async def refused(*args: object, **kwargs: object) -> bool:
        raise StoreUnavailable("database unavailable: the next statement failed")

    monkeypatch.setattr(broker.ctx.presences, "set_status", refused)
    with pytest.raises(StoreUnavailable):
        await broker.connect(ada, "doomed")
    monkeypatch.undo()

    listed = {(p.session_id, p.online) for p in await peers.list_peers(broker.ctx, watcher.session)}
    assert ("doomed", True) not in listed
    assert len(broker.ctx.sessions) == 1  # only bob's


async def test_a_hello_failing_while_the_store_is_away_defers_its_undo(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await broker.peer("ada")
    await _signal_waiting_for(broker, "doomed")

    async def refused(*args: object, **kwargs: object) -> Any:
        raise StoreUnavailable("database unavailable: down")

    monkeypatch.setattr(broker.ctx.presences, "set_status", refused)
    monkeypatch.setattr(broker.ctx.mailbox, "release", refused)
    with pytest.raises(StoreUnavailable):
        await broker.connect(ada, "doomed")
    monkeypatch.undo()
    retried = await sweeps.retry_disconnects(broker.ctx)

    assert retried.recorded == 1
    store = broker.ctx.presences
    assert isinstance(store, InMemoryPresenceStore)
    assert not any(p.online for p in store.presences.values() if p.session_id == "doomed")


async def test_a_hello_admitted_from_a_cached_member_after_its_revoke_is_refused(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await broker.peer("ada")
    cached: Member = replace(ada.member)  # what an instance cached before the revoke

    async def stale(mesh_id: str, member_id: str) -> Member | None:
        return cached if member_id == cached.id else None

    monkeypatch.setattr(broker.ctx.directory, "member", stale)
    await admin.revoke_member(broker.ctx, broker.mesh.id, ada.member.id)

    with pytest.raises(Unauthorized):
        await broker.connect(ada, "late")

    assert len(broker.ctx.sessions) == 0
    store = broker.ctx.presences
    assert isinstance(store, InMemoryPresenceStore)
    assert not any(p.ended_at is None for p in store.presences.values())


async def test_a_dead_instance_s_sessions_go_offline_and_their_leased_mail_moves_on(
    broker: Harness,
) -> None:
    store = broker.ctx.presences
    assert isinstance(store, InMemoryPresenceStore)
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    store.instance = "alive"
    sender = await broker.connect(ada)
    elsewhere = await broker.connect(bob, "elsewhere")
    store.instance = "doomed"
    leased = await broker.connect(bob, "on-the-doomed-instance")  # newest: offered first
    store.instance = "alive"  # the instance that sweeps
    await broker.send(sender, bob, "before the crash")
    assert (leased.connection.texts, elsewhere.connection.texts) == (["before the crash"], [])
    broker.ctx.sessions.remove(leased.session)  # SIGKILL: no disconnect, lease held
    store.dead.add("doomed")

    noted = await sweeps.sweep_dead_instances(broker.ctx)  # its lock is found free
    broker.clock.advance(3)  # ... and stays free: no blip, a death
    reaped = await sweeps.sweep_dead_instances(broker.ctx)

    assert (noted, reaped) == (0, 1)
    listed = {p.session_id: p.online for p in await peers.list_peers(broker.ctx, sender.session)}
    assert listed["on-the-doomed-instance"] is False
    assert elsewhere.connection.texts == ["before the crash"]  # now, not after the lease


async def test_fencing_closes_every_socket_of_the_instance(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))

    closed = await connect.fence(broker.ctx)

    assert closed == 1
    assert isinstance(client.connection, FakeConnection)
    assert client.connection.closed == (1012, "broker lost its database; reconnect")
    assert len(broker.ctx.sessions) == 0
