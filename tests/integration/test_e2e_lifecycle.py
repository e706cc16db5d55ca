"""The broker's life: shutdown, revocation, grace, sweeps and the log events it writes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator

import pytest

from adapters.postgres.database import Database
from tests.integration.support import WAIT, BrokerProcess, WsPeer, new_member, new_mesh


@pytest.fixture
def start_broker(database_url: str) -> Iterator[type[BrokerProcess]]:
    started: list[BrokerProcess] = []

    def start(**env: str) -> BrokerProcess:
        started.append(BrokerProcess(database_url, **env).start())
        return started[-1]

    yield start  # type: ignore[misc]
    for process in started:
        process.kill()


async def _until(condition, timeout: float = WAIT):  # type: ignore[no-untyped-def]
    """Poll `condition` (async, returns a truthy value when met) until it is met."""
    deadline = time.monotonic() + timeout
    while True:
        value = await condition()
        if value:
            return value
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.2)


async def _peers(peer: WsPeer) -> list[dict]:  # type: ignore[type-arg]
    reply = await peer.request({"type": "list_peers", "id": str(uuid.uuid4())}, "peers")
    return reply["peers"]  # type: ignore[no-any-return]


async def test_sigterm_closes_sockets_with_1001_ends_presences_and_exits_0(
    start_broker,
    database: Database,  # type: ignore[no-untyped-def]
) -> None:
    broker = start_broker()
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a, b = await WsPeer.join(broker.url, ada), await WsPeer.join(broker.url, bob)

    broker.proc.send_signal(signal.SIGTERM)
    closes = [await a.closed(), await b.closed()]
    code = broker.proc.wait(WAIT)

    assert [c[0] for c in closes] == [1001, 1001]
    assert code == 0
    broker.wait_log(lambda e: e.get("msg") == "shutdown signal" and e.get("signal") == "SIGTERM")
    broker.wait_log(lambda e: e.get("msg") == "shutdown complete")
    live = await database.fetchval(
        "SELECT count(*) FROM mesh.presences WHERE mesh_id = $1 AND ended_at IS NULL", mesh.id
    )
    assert live == 0


async def test_revoking_a_member_closes_its_live_socket_with_1008(
    start_broker,
    database: Database,
    database_url: str,  # type: ignore[no-untyped-def]
) -> None:
    broker = start_broker()
    mesh = await new_mesh(database)
    ada = await new_member(database, mesh, "ada")
    peer = await WsPeer.join(broker.url, ada)

    revoke = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "member",
            "revoke",
            "--mesh",
            mesh.slug,
            "--member",
            ada.member.id,
        ],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )

    assert ada.member.id in revoke.stdout and "revokedAt" in revoke.stdout
    assert await peer.closed() == (1008, "revoked")


async def test_a_dropped_session_stays_listed_offline_then_ends_after_grace(
    start_broker,
    database: Database,  # type: ignore[no-untyped-def]
) -> None:
    broker = start_broker(RECONNECT_GRACE_SECONDS="1")
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    watcher = await WsPeer.join(broker.url, ada)
    leaver = await WsPeer.join(broker.url, bob)
    assert leaver.hello_ok is not None
    gone = leaver.hello_ok["presenceId"]

    await leaver.close()
    offline = await _until(
        lambda: _first(watcher, lambda p: p["presenceId"] == gone and not p["online"])
    )
    ended = await _until(
        lambda: _all(watcher, lambda peers: all(p["presenceId"] != gone for p in peers))
    )

    assert offline["displayName"] == "bob"
    assert ended


async def _first(peer: WsPeer, match):  # type: ignore[no-untyped-def]
    return next((p for p in await _peers(peer) if match(p)), None)


async def _all(peer: WsPeer, check):  # type: ignore[no-untyped-def]
    return check(await _peers(peer))


async def test_a_session_that_reconnects_within_grace_resumes_its_presence(
    start_broker,
    database: Database,  # type: ignore[no-untyped-def]
) -> None:
    broker = start_broker()
    mesh = await new_mesh(database)
    ada = await new_member(database, mesh, "ada")
    first = await WsPeer.join(broker.url, ada, "laptop")
    await first.request({"type": "set_status", "status": "working"}, "status")
    await first.close()

    again = await WsPeer.join(broker.url, ada, "laptop")

    assert again.hello_ok is not None and first.hello_ok is not None
    assert again.hello_ok["presenceId"] == first.hello_ok["presenceId"]
    assert again.hello_ok["status"] == "working"


async def test_the_ttl_sweep_flips_stuck_working_and_releases_held_mail(
    start_broker,
    database: Database,  # type: ignore[no-untyped-def]
) -> None:
    broker = start_broker(STATUS_TTL_SECONDS="1")
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a, b = await WsPeer.join(broker.url, ada), await WsPeer.join(broker.url, bob)
    await b.request({"type": "set_status", "status": "working"}, "status")

    ack = await a.request(
        {
            "type": "send",
            "id": "h",
            "targetSpec": bob.pubkey,
            "priority": "next",
            "nonce": "bg==",
            "ciphertext": "aGVsZA==",
        },
        "ack",
    )
    push = await b.expect("push")

    assert push["messageId"] == ack["messageId"]
    assert [p["status"] for p in await _peers(b) if p["displayName"] == "bob"] == ["idle"]
    broker.wait_log(lambda e: e.get("msg") == "ws set_status" and e.get("status") == "working")


async def test_the_contract_log_events_are_written_as_json_lines(
    start_broker,
    database: Database,  # type: ignore[no-untyped-def]
) -> None:
    import urllib.request

    broker = start_broker()
    mesh = await new_mesh(database)
    ada = await new_member(database, mesh, "ada")
    peer = await WsPeer.join(broker.url, ada)
    await peer.request({"type": "set_status", "status": "dnd"}, "status")
    request = urllib.request.Request(
        f"{broker.http}/hook/set-status",
        method="POST",
        data=b'{"cwd": "/home/ada/proj", "pid": 4242, "status": "working"}',
        headers={"content-type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    await peer.close()

    hello = broker.wait_log(lambda e: e.get("msg") == "ws hello")
    hook = broker.wait_log(lambda e: e.get("msg") == "hook")
    close = broker.wait_log(lambda e: e.get("msg") == "ws close")
    listening = broker.wait_log(lambda e: e.get("msg") == "broker listening")

    assert {"ts", "level", "component", "msg"} <= set(hello)
    assert hello["presence_id"] == close["presence_id"]
    assert {"cwd", "pid", "status", "presence_id", "pending"} <= set(hook)
    assert listening["port"] == broker.port
    broker.wait_log(lambda e: e.get("msg") == "ws set_status" and e.get("status") == "dnd")
    broker.wait_log(lambda e: e.get("msg") == "db healthy" or e.get("msg") == "database")
