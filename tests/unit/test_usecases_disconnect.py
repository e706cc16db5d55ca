"""Disconnect: a socket that closed leaves this instance at once, and its presence goes
offline in the store as soon as the store takes the write, however late (ADR 0019)."""

from __future__ import annotations

import logging

import pytest

from app import tasks
from domain.errors import StoreUnavailable
from domain.model import PeerView, Priority
from domain.usecases import connect, sweeps
from tests.unit.harness import Client, Harness


class Outage:
    """The store refuses the writes a disconnect makes until `end()`."""

    def __init__(self, broker: Harness, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch = monkeypatch
        self.refused = 0

        async def refuse(*_: object) -> None:
            self.refused += 1
            raise StoreUnavailable("database unavailable: TimeoutError")

        monkeypatch.setattr(broker.ctx.mailbox, "release", refuse)
        monkeypatch.setattr(broker.ctx.presences, "disconnect", refuse)

    def end(self) -> None:
        self.monkeypatch.undo()


async def _peer_view(broker: Harness, client: Client) -> PeerView | None:
    peers = await broker.ctx.presences.peers(broker.mesh.id)
    return next((p for p in peers if p.presence_id == client.presence_id), None)


async def test_a_disconnect_during_an_outage_is_recorded_once_the_store_is_back(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await broker.connect(await broker.peer("ada"), "s1")
    outage = Outage(broker, monkeypatch)

    ada.connection.vanish()
    recorded = await connect.disconnect(broker.ctx, ada.session)  # does not raise

    assert recorded is False
    assert broker.ctx.sessions.get(ada.connection.id) is None
    assert ada.connection.id in broker.ctx.departures
    view = await _peer_view(broker, ada)
    assert view is not None and view.online  # not written yet

    broker.clock.advance(5)
    still_down = await sweeps.retry_disconnects(broker.ctx)
    assert (still_down.deferred.count, still_down.recorded, still_down.waiting) == (1, 0, 1)
    assert still_down.error is not None

    outage.end()
    broker.clock.advance(5)
    back = await sweeps.retry_disconnects(broker.ctx)

    assert (back.deferred.count, back.recorded, back.waiting, back.error) == (0, 1, 0, None)
    view = await _peer_view(broker, ada)
    assert view is not None and not view.online
    # The grace window counts from the close, not from the late write.
    broker.clock.advance(90 - 10 - 1)
    await sweeps.sweep_presences(broker.ctx)
    assert await _peer_view(broker, ada) is not None
    broker.clock.advance(2)
    await sweeps.sweep_presences(broker.ctx)
    assert await _peer_view(broker, ada) is None


async def test_a_closed_session_gets_no_pushes_while_its_disconnect_waits(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada_peer, bob_peer = await broker.peer("ada"), await broker.peer("bob")
    ada, bob = await broker.connect(ada_peer), await broker.connect(bob_peer)
    Outage(broker, monkeypatch)
    await connect.disconnect(broker.ctx, ada.session)  # the socket object itself stays open

    await broker.send(bob, ada_peer, "while away", Priority.NOW)

    assert ada.connection.pushed == []
    monkeypatch.undo()
    again = await broker.connect(ada_peer)
    assert again.connection.texts == ["while away"]


async def test_a_pending_retry_does_not_clobber_a_newer_socket_of_the_same_session(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada_peer = await broker.peer("ada")
    first = await broker.connect(ada_peer, "s1")
    outage = Outage(broker, monkeypatch)
    await broker.drop(first)
    outage.end()

    second = await broker.connect(ada_peer, "s1")  # takes over the presence, still online
    retried = await sweeps.retry_disconnects(broker.ctx)

    assert second.presence_id == first.presence_id
    assert (retried.recorded, retried.waiting) == (1, 0)  # written: nothing left to change
    view = await _peer_view(broker, second)
    assert view is not None and view.online
    presence = await broker.ctx.presences.get(second.presence_id)
    assert presence is not None and presence.connection_id == second.connection.id


async def test_a_pending_retry_does_not_end_a_presence_resumed_after_a_later_close(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada_peer = await broker.peer("ada")
    first = await broker.connect(ada_peer, "s1")
    outage = Outage(broker, monkeypatch)
    await broker.drop(first)
    outage.end()
    second = await broker.connect(ada_peer, "s1")
    await broker.drop(second)  # recorded: the presence is in its grace window
    broker.clock.advance(30)
    third = await broker.connect(ada_peer, "s1")  # resumes it

    await sweeps.retry_disconnects(broker.ctx)
    broker.clock.advance(61)  # past both closes' grace; a wrong write would end it now
    await sweeps.sweep_presences(broker.ctx)

    assert third.presence_id == first.presence_id
    view = await _peer_view(broker, third)
    assert view is not None and view.online


async def test_a_departure_older_than_the_stale_window_is_left_to_the_stale_sweep(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await broker.connect(await broker.peer("ada"))
    outage = Outage(broker, monkeypatch)
    await broker.drop(ada)
    broker.clock.advance(60)
    await sweeps.retry_disconnects(broker.ctx)
    refused = outage.refused
    outage.end()
    broker.clock.advance(16)  # 76 s since the close: no heartbeat for as long

    retried = await sweeps.retry_disconnects(broker.ctx)
    await sweeps.sweep_presences(broker.ctx)

    assert (retried.expired, retried.recorded, retried.waiting) == (1, 0, 0)
    assert refused == 2  # the close, one retry; none after it expired
    assert await _peer_view(broker, ada) is None  # ended by the stale-presence sweep


async def test_a_retry_pass_stops_at_the_first_refusal_and_keeps_the_order(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = [await broker.connect(await broker.peer(name)) for name in ("ada", "bob", "cy")]
    outage = Outage(broker, monkeypatch)
    for client in clients:
        await broker.drop(client)

    retried = await sweeps.retry_disconnects(broker.ctx)

    assert outage.refused == 3 + 1
    assert (retried.deferred.count, retried.waiting) == (3, 3)
    assert [d.connection_id for d in broker.ctx.departures.pending()] == [
        c.connection.id for c in clients
    ]


async def test_the_retry_job_reports_deferred_disconnects_at_warning_level(
    broker: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ada = await broker.connect(await broker.peer("ada"))
    outage = Outage(broker, monkeypatch)
    await broker.drop(ada)

    with caplog.at_level(logging.INFO, logger="meshbroker.tasks"):
        with pytest.raises(StoreUnavailable):  # the job runner logs one `job failed`
            await tasks.retry_disconnects(broker.ctx)
        outage.end()
        await tasks.retry_disconnects(broker.ctx)
        await tasks.retry_disconnects(broker.ctx)

    records = [r for r in caplog.records if r.name == "meshbroker.tasks"]
    assert [(r.levelname, r.getMessage()) for r in records] == [
        ("WARNING", "disconnect not recorded"),
        ("INFO", "disconnect recorded on retry"),
    ]
    assert records[0].ctx == {  # type: ignore[attr-defined]
        "count": 1,
        "error": "database unavailable: TimeoutError",
        "retrying": True,
    }


async def test_a_shutdown_writes_the_disconnects_still_deferred(
    broker: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    ada = await broker.connect(await broker.peer("ada"), "s1")
    bob = await broker.connect(await broker.peer("bob"), "s2")
    outage = Outage(broker, monkeypatch)
    ada.connection.vanish()
    assert await connect.disconnect(broker.ctx, ada.session) is False
    outage.end()

    closed = await connect.shutdown(broker.ctx)

    assert closed == 1  # bob's socket; ada's had already closed
    assert ada.connection.id not in broker.ctx.departures
    ada_view, bob_view = await _peer_view(broker, ada), await _peer_view(broker, bob)
    assert ada_view is not None and not ada_view.online  # offline, in its grace window
    assert bob_view is None  # ended by the shutdown
