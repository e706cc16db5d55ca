"""Crash-fast liveness between broker processes (issue 14, ADR 0025): a SIGKILLed
instance's sessions are offline on the others within seconds, its leased mail is
pushed on reconnect without waiting for the lease, an instance that loses its lock
connection closes its sockets, and a manual status outlives a restart."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from adapters.postgres.database import Database
from tests.integration.support import BrokerProcess, WsPeer, new_member, new_mesh

# The heartbeat fallback and the lease are both far beyond the bounds asserted here:
# only the liveness lock can make them.
ENV = {
    "ACK_TIMEOUT_SECONDS": "60",
    "WS_PING_INTERVAL_SECONDS": "30",
    "WS_PONG_TIMEOUT_SECONDS": "45",
}
CRASH_BOUND = 5.0  # seconds: the target


@pytest.fixture(scope="module")
def survivor(database_url: str) -> Iterator[BrokerProcess]:
    broker = BrokerProcess(database_url, **ENV).start()
    yield broker
    broker.kill()


def _send(to: str, text: str = "eA==", priority: str = "now") -> dict[str, object]:
    return {
        "type": "send",
        "id": str(uuid.uuid4()),
        "targetSpec": to,
        "priority": priority,
        "nonce": "bg==",
        "ciphertext": text,
    }


async def _online(watcher: WsPeer, presence_id: str) -> bool | None:
    frame = await watcher.request({"type": "list_peers", "id": str(uuid.uuid4())}, "peers")
    return next((p["online"] for p in frame["peers"] if p["presenceId"] == presence_id), None)


async def test_a_sigkilled_instance_s_session_is_offline_and_its_mail_redelivered_in_seconds(
    database_url: str, survivor: BrokerProcess, database: Database
) -> None:
    doomed = BrokerProcess(database_url, **ENV).start()
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a = await WsPeer.join(survivor.url, ada)
    b = await WsPeer.join(doomed.url, bob, "bob-session")
    assert b.hello_ok is not None
    sent = await a.request(_send(bob.pubkey, "bGVhc2Vk"), "ack")
    await b.expect("push")  # leased to the doomed instance's socket, never acked

    doomed.kill()
    killed = time.monotonic()
    while await _online(a, b.hello_ok["presenceId"]):
        assert time.monotonic() - killed < CRASH_BOUND, "the dead instance's session stayed online"
        await asyncio.sleep(0.1)
    again = await WsPeer.join(survivor.url, bob, "bob-session")
    pushed = await again.expect("push", timeout=CRASH_BOUND)

    assert again.hello_ok is not None
    assert again.hello_ok["presenceId"] == b.hello_ok["presenceId"]  # resumed
    assert pushed["messageId"] == sent["messageId"]
    assert time.monotonic() - killed < 2 * CRASH_BOUND


async def test_an_instance_found_dead_while_it_lived_closes_its_sockets(
    survivor: BrokerProcess, database: Database
) -> None:
    # A partition as the others see it: the lock connection dies and a sweep reaps the
    # incarnation before the instance takes its lock back. It must serve no more.
    mesh = await new_mesh(database)
    ada = await new_member(database, mesh, "ada")
    peer = await WsPeer.join(survivor.url, ada, "fenced")
    held = survivor.wait_log(lambda e: e.get("msg") == "liveness lock held")
    incarnation = str(held["incarnation"])

    await database.execute(
        """
        WITH reaped AS (DELETE FROM mesh.instances WHERE id = $2 RETURNING id)
        SELECT pg_terminate_backend(pid), (SELECT count(*) FROM reaped)
        FROM pg_stat_activity WHERE application_name = $1
        """,
        f"meshbroker liveness {incarnation.rsplit('.', 1)[0]}",
        incarnation,
    )

    assert await peer.closed() == (1012, "broker lost its database; reconnect")
    survivor.wait_log(
        lambda e: e.get("msg") == "liveness lock held" and e.get("incarnation") != incarnation
    )
    back = await WsPeer.join(survivor.url, ada, "fenced")
    assert back.hello_ok is not None


@pytest.mark.parametrize("stop", ["restart", "crash"])
async def test_a_manual_dnd_survives_a_broker_restart_or_crash(
    database_url: str, survivor: BrokerProcess, database: Database, stop: str
) -> None:
    first = BrokerProcess(database_url, **ENV).start()
    mesh = await new_mesh(database)
    ada = await new_member(database, mesh, "ada")
    peer = await WsPeer.join(first.url, ada, "focused")
    await peer.request({"type": "set_status", "status": "dnd"}, "status")

    if stop == "restart":
        assert first.terminate() == 0  # graceful: presences end
        first = BrokerProcess(database_url, **ENV).start()
        back = await WsPeer.join(first.url, ada, "focused")
    else:
        first.kill()
        back = await WsPeer.join(survivor.url, ada, "focused")  # moved to another instance
    first.kill()

    assert back.hello_ok is not None and back.hello_ok["status"] == "dnd"
