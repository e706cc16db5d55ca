"""Hello: who gets in, which presence they get, and what happens to older sockets."""

from __future__ import annotations

from dataclasses import replace

import pytest

from domain.errors import CapacityExceeded, Unauthorized
from domain.model import Priority, Status
from domain.policy import Policy
from domain.usecases import connect, sweeps
from domain.usecases.status import HookReport, hook_set_status, set_status
from tests.unit.harness import FakeConnection, Harness


async def test_an_accepted_hello_opens_an_idle_presence(broker: Harness) -> None:
    ada = await broker.peer("ada")

    client = await broker.connect(ada)

    assert await broker.status_of(client) is Status.IDLE
    assert broker.ctx.sessions.get(client.connection.id) is client.session
    assert broker.metrics.counts["connections_opened"] == 1


async def test_a_replayed_hello_is_refused(broker: Harness) -> None:
    ada = await broker.peer("ada")
    hello = broker.hello_for(ada)
    await connect.hello(broker.ctx, FakeConnection(), hello)

    with pytest.raises(Unauthorized):
        await connect.hello(broker.ctx, FakeConnection(), hello)

    assert broker.metrics.counts["connection_rejected:unauthorized"] == 1


async def test_a_refused_hello_does_not_burn_its_signature(broker: Harness) -> None:
    ada = await broker.peer("ada")
    hello = broker.hello_for(ada)
    with pytest.raises(Unauthorized):
        await connect.hello(broker.ctx, FakeConnection(), replace(hello, pubkey="ab" * 32))

    welcome = await connect.hello(broker.ctx, FakeConnection(), hello)

    assert welcome.presence.member_id == ada.member.id


async def test_a_hello_from_another_mesh_is_refused(broker: Harness) -> None:
    other_mesh = await broker.ctx.admin.create_mesh(replace(broker.mesh, id="m2", slug="other"))
    eve = await broker.peer("eve", other_mesh)
    hello = replace(broker.hello_for(eve), mesh_id=broker.mesh.id)

    with pytest.raises(Unauthorized):
        await connect.hello(broker.ctx, FakeConnection(), hello)


async def test_a_full_mesh_refuses_a_new_session() -> None:
    broker = await Harness(Policy(max_connections_per_mesh=2)).start()
    ada = await broker.peer("ada")
    await broker.connect(ada)
    await broker.connect(ada)

    with pytest.raises(CapacityExceeded):
        await broker.connect(ada)

    assert broker.metrics.counts["connection_rejected:capacity"] == 1


async def test_a_closed_session_frees_its_slot_for_others() -> None:
    broker = await Harness(Policy(max_connections_per_mesh=1)).start()
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    await broker.drop(await broker.connect(ada))

    client = await broker.connect(bob)

    assert client.session.member_id == bob.member.id


async def test_a_second_socket_for_the_same_session_replaces_the_first() -> None:
    broker = await Harness(Policy(max_connections_per_mesh=1)).start()
    ada = await broker.peer("ada")
    first = await broker.connect(ada, "s1")
    await hook_set_status(broker.ctx, HookReport("/home/ada/proj", 4242, Status.WORKING), None)

    second = await broker.connect(ada, "s1")

    assert first.connection.closed == (4000, "replaced")
    assert second.presence_id == first.presence_id
    assert await broker.status_of(second) is Status.WORKING
    assert broker.ctx.sessions.get(first.connection.id) is None


async def test_a_session_that_returns_within_grace_resumes_its_presence(broker: Harness) -> None:
    ada = await broker.peer("ada")
    first = await broker.connect(ada, "s1")
    await set_status(broker.ctx, first.session, Status.DND)
    await broker.drop(first)
    broker.clock.advance(89)

    again = await broker.connect(ada, "s1")

    assert again.presence_id == first.presence_id
    assert await broker.status_of(again) is Status.DND


async def test_a_session_that_returns_after_grace_starts_a_new_presence(broker: Harness) -> None:
    ada = await broker.peer("ada")
    first = await broker.connect(ada, "s1")
    await broker.drop(first)
    broker.clock.advance(91)
    await sweeps.sweep_presences(broker.ctx)

    again = await broker.connect(ada, "s1")

    assert again.presence_id != first.presence_id


async def test_a_hook_signal_that_arrived_first_is_applied_on_connect(broker: Harness) -> None:
    ada = await broker.peer("ada")
    report = HookReport("/home/ada/proj", 4242, Status.WORKING)
    outcome = await hook_set_status(broker.ctx, report, None)
    broker.clock.advance(9)

    client = await broker.connect(ada)

    assert outcome.pending
    assert await broker.status_of(client) is Status.WORKING


async def test_a_hook_signal_older_than_ten_seconds_is_not_applied(broker: Harness) -> None:
    ada = await broker.peer("ada")
    await hook_set_status(broker.ctx, HookReport("/home/ada/proj", 4242, Status.WORKING), None)
    broker.clock.advance(11)

    client = await broker.connect(ada)

    assert await broker.status_of(client) is Status.IDLE


async def test_mail_queued_while_away_is_pushed_on_connect(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    await broker.send(sender, bob, "one", Priority.LOW)
    await broker.send(sender, bob, "two", Priority.NOW)

    client = await broker.connect(bob)

    assert client.connection.texts == ["one", "two"]


async def test_legacy_mode_admits_a_stub_signature_of_a_known_member() -> None:
    from domain.admission import HelloAuth

    broker = await Harness(Policy(hello_auth=HelloAuth.LEGACY)).start()
    ada = await broker.peer("ada")
    hello = replace(broker.hello_for(ada), signature="stub", timestamp_ms=0)

    welcome = await connect.hello(broker.ctx, FakeConnection(), hello)

    assert welcome.presence.member_id == ada.member.id


async def test_shutdown_closes_every_socket_with_1001_and_ends_presences(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    clients = [await broker.connect(ada), await broker.connect(bob)]

    closed = await connect.shutdown(broker.ctx)

    assert closed == 2
    assert [c.connection.closed for c in clients] == [(1001, "server shutting down")] * 2
    assert await broker.ctx.presences.peers(broker.mesh.id) == []
