"""Three broker processes on one Postgres: mail, capacity, replacement, crashes."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
import uuid
from collections.abc import Iterator

import pytest

from adapters.postgres.database import Database
from tests.integration.support import (
    WAIT,
    BrokerProcess,
    WsPeer,
    new_member,
    new_mesh,
    signed_hello,
)

ENV = {
    "MAX_CONNECTIONS_PER_MESH": "2",
    "ACK_TIMEOUT_SECONDS": "1",
    "WS_PING_INTERVAL_SECONDS": "1",
    "WS_PONG_TIMEOUT_SECONDS": "2",
    "HOOK_AUTH": "open",
}


@pytest.fixture(scope="module")
def trio(database_url: str) -> Iterator[list[BrokerProcess]]:
    brokers = [BrokerProcess(database_url, **ENV).start() for _ in range(3)]
    yield brokers
    for broker in brokers:
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


async def _peers(peer: WsPeer) -> list[dict]:  # type: ignore[type-arg]
    return (await peer.request({"type": "list_peers", "id": str(uuid.uuid4())}, "peers"))["peers"]  # type: ignore[no-any-return]


async def test_a_send_on_one_instance_reaches_a_recipient_on_another(
    trio: list[BrokerProcess], database: Database
) -> None:
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a = await WsPeer.join(trio[0].url, ada)
    b = await WsPeer.join(trio[1].url, bob)

    ack = await a.request(_send(bob.pubkey), "ack")
    push = await b.expect("push")

    assert push["messageId"] == ack["messageId"]
    assert sorted(p["displayName"] for p in await _peers(a)) == ["ada", "bob"]


async def test_a_hook_on_one_instance_releases_held_mail_on_another(
    trio: list[BrokerProcess], database: Database
) -> None:
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a = await WsPeer.join(trio[0].url, ada)
    b = await WsPeer.join(trio[1].url, bob)
    await b.request({"type": "set_status", "status": "working"}, "status")
    held = await a.request(_send(bob.pubkey, priority="next"), "ack")
    assert b.hello_ok is not None

    body = json.dumps({"cwd": "/x", "status": "idle"}).encode()
    request = urllib.request.Request(f"{trio[2].http}/hook/set-status", data=body, method="POST")
    request.add_header("authorization", f"Bearer {b.hello_ok['hookToken']}")
    request.add_header("content-type", "application/json")
    await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).close())

    assert (await b.expect("push"))["messageId"] == held["messageId"]


async def test_two_instances_cannot_both_admit_the_last_free_slot(
    trio: list[BrokerProcess], database: Database
) -> None:
    mesh = await new_mesh(database)
    members = [await new_member(database, mesh, f"m{i}") for i in range(6)]
    sockets = [await WsPeer.open(trio[i % 3].url) for i in range(6)]

    await asyncio.gather(
        *(s.send(signed_hello(m, "s")) for s, m in zip(sockets, members, strict=True))
    )
    replies = await asyncio.gather(*(_first_reply(s) for s in sockets))

    assert sorted(replies) == ["capacity"] * 4 + ["hello_ok"] * 2


async def _first_reply(socket: WsPeer) -> str:
    async with asyncio.timeout(WAIT):
        frame = json.loads(await socket.socket.recv())
    return str(frame["code"] if frame["type"] == "error" else frame["type"])


async def test_a_session_reconnecting_to_another_instance_replaces_its_old_socket(
    trio: list[BrokerProcess], database: Database
) -> None:
    mesh = await new_mesh(database)
    ada = await new_member(database, mesh, "ada")
    old = await WsPeer.join(trio[0].url, ada, "desk")

    new = await WsPeer.join(trio[1].url, ada, "desk")

    assert await old.closed() == (4000, "replaced")
    assert new.hello_ok is not None and old.hello_ok is not None
    assert new.hello_ok["presenceId"] == old.hello_ok["presenceId"]
    listed = await _peers(new)
    assert [(p["sessionId"], p["online"]) for p in listed] == [("desk", True)]


async def test_mail_survives_an_instance_killed_with_sigkill(
    database_url: str, trio: list[BrokerProcess], database: Database
) -> None:
    doomed = BrokerProcess(database_url, **ENV).start()
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a = await WsPeer.join(trio[0].url, ada)
    b = await WsPeer.join(doomed.url, bob, "bob-session")
    pushed_before = await a.request(_send(bob.pubkey, "YmVmb3Jl"), "ack")
    await b.expect("push")  # leased to the doomed instance, never acked

    doomed.kill()
    queued_after = [await a.request(_send(bob.pubkey, f"{n}"), "ack") for n in range(3)]
    ghost_gone = await _until_ghost_gone(a, b)
    again = await WsPeer.join(trio[2].url, bob, "bob-again")
    received = [(await again.expect("push"))["messageId"] for _ in range(4)]

    assert ghost_gone
    assert all(x["queued"] for x in queued_after)
    assert set(received) == {pushed_before["messageId"], *(x["messageId"] for x in queued_after)}


async def _until_ghost_gone(watcher: WsPeer, ghost: WsPeer) -> bool:
    """Until the crashed instance's presence is listed offline (its grace window,
    ADR 0025) or not at all."""
    assert ghost.hello_ok is not None
    presence = ghost.hello_ok["presenceId"]
    deadline = time.monotonic() + WAIT
    while any(p["presenceId"] == presence and p["online"] for p in await _peers(watcher)):
        assert time.monotonic() < deadline, "a crashed instance's presence stayed listed"
        await asyncio.sleep(0.2)
    return True
