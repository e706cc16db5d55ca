"""Claude Code sessions as peers (claude-code.md section 4), against a real broker
process over real sockets: the `waiting` status, the roster, messages to one session
and transient (one-shot) sessions."""

from __future__ import annotations

import asyncio
import json
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from adapters.postgres.database import Database
from tests.integration.support import (
    WAIT,
    BrokerProcess,
    Identity,
    WsPeer,
    new_member,
    new_mesh,
    signed_hello,
)

# A short grace window: a session that closes has ended after the next presence sweep
# (every 5 s), so the fallback of a message to one session is seen within seconds.
ENV = {"HOOK_AUTH": "open", "ACK_TIMEOUT_SECONDS": "30", "RECONNECT_GRACE_SECONDS": "1"}


@pytest.fixture(scope="module")
def broker(database_url: str) -> Iterator[BrokerProcess]:
    process = BrokerProcess(database_url, **ENV).start()
    yield process
    process.kill()


@pytest.fixture(scope="module")
def other(database_url: str) -> Iterator[BrokerProcess]:
    """A second instance on the same database."""
    process = BrokerProcess(database_url, **ENV).start()
    yield process
    process.kill()


@pytest.fixture
async def pair(database: Database) -> tuple[Identity, Identity]:
    mesh = await new_mesh(database)
    return await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")


def send(to: str, text: str, priority: str = "next") -> dict[str, Any]:
    return {
        "type": "send",
        "id": str(uuid.uuid4()),
        "targetSpec": to,
        "priority": priority,
        "nonce": "bm9uY2U=",
        "ciphertext": text,
    }


def post_hook(broker: BrokerProcess, body: dict[str, Any], token: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"{broker.http}/hook/set-status", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("content-type", "application/json")
    request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


def pushed(peer: WsPeer) -> list[str]:
    return [f["ciphertext"] for f in peer.inbox if f.get("type") == "push"]


async def sync(peer: WsPeer) -> None:
    """A round trip: every frame the broker wrote before its reply is in the inbox."""
    await peer.request({"type": "list_peers", "id": str(uuid.uuid4())}, "peers")


async def test_a_session_waiting_on_a_person_gets_now_at_once_and_next_when_idle(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    ada, bob = pair
    sender, recipient = await WsPeer.join(broker.url, ada), await WsPeer.join(broker.url, bob)
    assert recipient.hello_ok is not None
    token, mine = recipient.hello_ok["hookToken"], recipient.hello_ok["presenceId"]
    cwd = f"/tmp/{uuid.uuid4()}"

    hooked = post_hook(broker, {"cwd": cwd, "pid": 1, "status": "waiting"}, token)
    listed = (await sender.request({"type": "list_peers", "id": "w1"}, "peers"))["peers"]
    await sender.request(send(bob.pubkey, "bGF0ZXI=", "next"), "ack")
    await sender.request(send(bob.pubkey, "dXJnZW50", "now"), "ack")
    urgent = await recipient.expect("push", ciphertext="dXJnZW50")
    await sync(recipient)
    held = pushed(recipient)
    post_hook(broker, {"cwd": cwd, "pid": 1, "status": "idle"}, token)
    later = await recipient.expect("push", ciphertext="bGF0ZXI=")

    assert hooked == (200, {"ok": True, "presence_id": mine})
    assert [p["status"] for p in listed if p["presenceId"] == mine] == ["waiting"]
    assert urgent["priority"] == "now"
    assert held == []
    assert later["priority"] == "next"
    await sender.close()
    await recipient.close()


async def test_set_status_waiting_is_a_manual_status(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    peer = await WsPeer.join(broker.url, pair[0])

    reply = await peer.request({"type": "set_status", "status": "waiting"}, "status")

    assert (reply["status"], reply["source"]) == ("waiting", "manual")
    await peer.close()


async def test_list_members_names_the_mesh_offline_members_included(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    ada, bob = pair
    peer = await WsPeer.join(broker.url, ada)

    reply = await peer.request({"type": "list_members", "id": "q2"}, "members")

    assert reply == {
        "type": "members",
        "id": "q2",
        "members": [
            {
                "memberId": who.member.id,
                "pubkey": who.pubkey,
                "displayName": name,
                "role": "member",
            }
            for who, name in ((ada, "ada"), (bob, "bob"))
        ],
    }
    await peer.close()


async def test_a_message_to_one_session_reaches_it_and_falls_back_when_it_ends(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    ada, bob = pair
    sender = await WsPeer.join(broker.url, ada)
    first = await WsPeer.join(broker.url, bob, "bob-1")
    second = await WsPeer.join(broker.url, bob, "bob-2")

    await sender.request(send(f"{bob.pubkey}/bob-1", "Zm9yIGJvYi0x"), "ack")
    direct = await first.expect("push", ciphertext="Zm9yIGJvYi0x")
    await first.request({"type": "set_status", "status": "working"}, "status")
    acked = await sender.request(send(f"{bob.pubkey}/bob-1", "aGVsZA=="), "ack")
    await sync(second)
    not_for_second = pushed(second)
    await first.close()
    fallback = await second.expect("push", timeout=20, ciphertext="aGVsZA==")

    assert direct["senderPubkey"] == ada.pubkey
    assert not_for_second == []
    assert fallback["messageId"] == acked["messageId"]
    await sender.close()
    await second.close()


async def test_a_message_to_a_session_of_an_unknown_member_is_no_recipient(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    sender = await WsPeer.join(broker.url, pair[0])

    reply = await sender.request(send("ab" * 32 + "/s1", "eA=="), "ack")

    assert (reply["queued"], reply["error"]) == (False, "no_recipient")
    await sender.close()


async def test_a_transient_session_is_hidden_from_others_and_ends_when_it_closes(
    broker: BrokerProcess, pair: tuple[Identity, Identity], database: Database
) -> None:
    ada, bob = pair
    claude = await WsPeer.join(broker.url, ada, "ada-claude")
    one_shot = await WsPeer.open(broker.url)
    await one_shot.send(signed_hello(bob, "bob-send", capabilities=["ack", "transient"]))
    ok = await one_shot.expect("hello_ok")

    seen_by_claude = (await claude.request({"type": "list_peers", "id": "p1"}, "peers"))["peers"]
    seen_by_itself = (await one_shot.request({"type": "list_peers", "id": "p2"}, "peers"))["peers"]
    await one_shot.close()
    disconnected, ended = await _ended(database, ok["presenceId"])

    assert [p["sessionId"] for p in seen_by_claude] == ["ada-claude"]
    assert sorted(p["sessionId"] for p in seen_by_itself) == ["ada-claude", "bob-send"]
    assert ended == disconnected  # at once, with no grace window
    await claude.close()


async def _ended(database: Database, presence_id: str) -> tuple[object, object]:
    """When the presence's socket closed and when it ended, waiting (with a generous
    bound) for the broker to record the close."""
    async with asyncio.timeout(WAIT):
        while True:
            row = await database.fetchrow(
                "SELECT disconnected_at, ended_at FROM mesh.presences WHERE id = $1",
                presence_id,
            )
            if row is not None and row["ended_at"] is not None:
                return row["disconnected_at"], row["ended_at"]
            await asyncio.sleep(0.05)


async def test_across_instances_waiting_gates_and_a_closed_one_shot_falls_back(
    broker: BrokerProcess, other: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    ada, bob = pair
    sender = await WsPeer.join(broker.url, ada)
    claude = await WsPeer.join(other.url, bob, "bob-claude")
    assert claude.hello_ok is not None
    one_shot = await WsPeer.open(broker.url)
    await one_shot.send(signed_hello(bob, "bob-send", capabilities=["ack", "transient"]))
    await one_shot.expect("hello_ok")
    await one_shot.request({"type": "set_status", "status": "working"}, "status")
    cwd = f"/tmp/{uuid.uuid4()}"
    token = claude.hello_ok["hookToken"]

    post_hook(broker, {"cwd": cwd, "status": "waiting"}, token)  # on the other instance
    await sender.request(send(bob.pubkey, "d2FpdA==", "next"), "ack")
    await sender.request(send(f"{bob.pubkey}/bob-send", "Zm9yIHRoZSBvbmUtc2hvdA=="), "ack")
    await sender.request(send(bob.pubkey, "bm93", "now"), "ack")
    urgent = await claude.expect("push", ciphertext="bm93")
    await sync(claude)
    held = pushed(claude)
    post_hook(broker, {"cwd": cwd, "status": "idle"}, token)
    after_idle = await claude.expect("push", ciphertext="d2FpdA==")
    await sync(claude)
    not_yet = pushed(claude)
    await one_shot.close()
    fallback = await claude.expect("push", ciphertext="Zm9yIHRoZSBvbmUtc2hvdA==")

    assert urgent["priority"] == "now"
    assert held == []
    assert after_idle["priority"] == "next"
    assert not_yet == []
    assert fallback["senderPubkey"] == ada.pubkey
    await sender.close()
    await claude.close()


async def test_a_message_to_a_session_on_another_instance_reaches_it(
    broker: BrokerProcess, other: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    ada, bob = pair
    sender = await WsPeer.join(broker.url, ada)
    here = await WsPeer.join(broker.url, bob, "bob-here")
    there = await WsPeer.join(other.url, bob, "bob-there")

    await sender.request(send(f"{bob.pubkey}/bob-there", "dGhlcmU="), "ack")
    reached = await there.expect("push", ciphertext="dGhlcmU=")
    await sync(here)

    assert reached["senderPubkey"] == ada.pubkey
    assert pushed(here) == []
    for peer in (sender, here, there):
        await peer.close()
