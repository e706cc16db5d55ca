"""A listener keeps its messages across broker restarts: what was queued while it was
away survives a restart, and a listener whose broker went away reconnects by itself
and receives what was sent after the broker came back."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.support import WAIT, BrokerProcess
from tests.integration.test_meshpeer import Listener, eventually, make_mesh, wait_online


@pytest.fixture
def brokers(database_url: str) -> Iterator[list[BrokerProcess]]:
    started: list[BrokerProcess] = []
    yield started
    for process in started:
        process.kill()


def restart(brokers: list[BrokerProcess], database_url: str) -> BrokerProcess:
    """Stop the running broker (SIGTERM) and start a new one on the same port."""
    old = brokers[-1]
    assert old.terminate() == 0
    brokers.append(BrokerProcess(database_url, BROKER_PORT=str(old.port)).start())
    assert brokers[-1].url == old.url
    return brokers[-1]


def test_a_listener_keeps_its_messages_across_broker_restarts(
    database_url: str, brokers: list[BrokerProcess], tmp_path: Path
) -> None:
    brokers.append(BrokerProcess(database_url).start())
    mesh = make_mesh(brokers[-1], tmp_path)
    alice, bob = mesh.alice, mesh.bob

    # Bob is away: the message waits in the broker's queue, through a restart.
    queued = alice.send(brokers[-1], bob, "sent while you were away")
    broker = restart(brokers, database_url)

    listener: Listener = bob.listen(broker, "bob-r")
    try:
        first = listener.message()
        assert (first["messageId"], first["text"]) == (
            queued["messageId"],
            "sent while you were away",
        )

        # The broker goes away under the listener and comes back on the same address.
        broker = restart(brokers, database_url)
        eventually(lambda: "reconnecting" in listener.log, "the listener noticing")
        assert listener.proc.poll() is None, listener.log
        later = alice.send(broker, bob, "sent after the restart")

        second = listener.message()
        assert (second["messageId"], second["text"]) == (
            later["messageId"],
            "sent after the restart",
        )
        assert listener.log.count("connected: presence") >= 2
        assert listener.lines.empty(), "a message was delivered twice"
    finally:
        assert listener.stop() == 0, listener.log
    assert listener.proc.wait(WAIT) == 0


def test_meshpeer_status_dnd_survives_a_broker_restart(
    database_url: str, brokers: list[BrokerProcess], tmp_path: Path
) -> None:
    # Issue 14, as a new user tried it: `meshpeer status dnd`, the broker restarts,
    # and the session came back `idle`.
    brokers.append(BrokerProcess(database_url).start())
    mesh = make_mesh(brokers[-1], tmp_path)
    bob = mesh.bob
    listener: Listener = bob.listen(brokers[-1], "bob-dnd")
    try:
        wait_online(bob, brokers[-1], "bob-dnd")
        assert bob.run(brokers[-1], "status", "dnd").returncode == 0
        eventually(lambda: listener.log.count("connected: presence") >= 2, "the listener back")

        broker = restart(brokers, database_url)
        eventually(lambda: listener.log.count("connected: presence") >= 3, "reconnected")

        assert wait_online(bob, broker, "bob-dnd")["status"] == "dnd"
    finally:
        assert listener.stop() == 0, listener.log
