"""The sender's view over real sockets, across two broker processes on one Postgres:
receipts, message_status, escalation and a watch (spec/receipts.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from adapters.postgres.database import Database
from tests.integration.support import BrokerProcess, WsPeer, new_member, new_mesh

CAPS = ["ack", "receipts"]


@pytest.fixture(scope="module")
def pair(database_url: str) -> Iterator[list[BrokerProcess]]:
    brokers = [BrokerProcess(database_url, HOOK_AUTH="open").start() for _ in range(2)]
    yield brokers
    for broker in brokers:
        broker.kill()


def _send(to: str, priority: str = "next", **extra: object) -> dict[str, object]:
    return {
        "type": "send",
        "id": str(uuid.uuid4()),
        "targetSpec": to,
        "priority": priority,
        "nonce": "bg==",
        "ciphertext": "eA==",
        **extra,
    }


async def _status(peer: WsPeer, message_id: str) -> dict:  # type: ignore[type-arg]
    frame = {"type": "message_status", "id": str(uuid.uuid4()), "messageId": message_id}
    await peer.send(frame)
    reply = await peer.expect("message_status", id=frame["id"])
    return reply


async def test_receipts_and_status_cross_instances(
    pair: list[BrokerProcess], database: Database
) -> None:
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a = await WsPeer.join(pair[0].url, ada, capabilities=CAPS)
    b = await WsPeer.join(pair[1].url, bob)

    ack = await a.request(_send(bob.pubkey), "ack")
    message_id = ack["messageId"]
    push = await b.expect("push", messageId=message_id)
    pushed = await a.expect("receipt", messageId=message_id, state="pushed")
    assert pushed["recipient"] == {"memberId": bob.member.id, "pubkey": bob.pubkey}
    assert "escalated" not in push and "escalated" not in pushed

    await b.send({"type": "client_ack", "messageIds": [message_id]})
    acked = await a.expect("receipt", messageId=message_id, state="acked")
    assert acked["at"].endswith("Z")

    status = await _status(a, message_id)
    assert [(r["displayName"], r["state"]) for r in status["recipients"]] == [("bob", "acked")]


async def test_others_and_unknown_ids_get_not_found(
    pair: list[BrokerProcess], database: Database
) -> None:
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a = await WsPeer.join(pair[0].url, ada)
    b = await WsPeer.join(pair[1].url, bob)
    message_id = (await a.request(_send(bob.pubkey), "ack"))["messageId"]

    for who, asked in ((b, message_id), (a, str(uuid.uuid4()))):
        frame = {"type": "message_status", "id": "q", "messageId": asked}
        error = await who.request(frame, "error")
        assert (error["code"], error["id"]) == ("not_found", "q")


async def test_held_mail_says_why_then_escalates_on_the_other_instance(
    pair: list[BrokerProcess], database: Database
) -> None:
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a = await WsPeer.join(pair[0].url, ada, capabilities=CAPS)
    b = await WsPeer.join(pair[1].url, bob)
    await b.request({"type": "set_status", "status": "working"}, "status")

    ack = await a.request(_send(bob.pubkey, escalateAfterSeconds=4), "ack")
    assert ack["escalateAfterSeconds"] == 4
    status = await _status(a, ack["messageId"])
    assert [(r["state"], r.get("reason")) for r in status["recipients"]] == [("held", "working")]

    push = await b.expect("push", messageId=ack["messageId"])
    assert (push["priority"], push["escalated"]) == ("now", True)
    receipt = await a.expect("receipt", messageId=ack["messageId"], state="pushed")
    assert receipt["escalated"] is True


async def test_a_watch_is_answered_from_the_other_instance(
    pair: list[BrokerProcess], database: Database
) -> None:
    mesh = await new_mesh(database)
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    a = await WsPeer.join(pair[0].url, ada)
    b = await WsPeer.join(pair[1].url, bob, "bob-desk")
    await b.request({"type": "set_status", "status": "working"}, "status")

    error = await a.request({"type": "watch", "id": "x", "pubkey": "cd" * 32}, "error")
    assert error["code"] == "no_recipient"
    await a.send({"type": "watch", "id": "w1", "pubkey": bob.pubkey, "until": "idle"})
    await a.send({"type": "watch", "id": "w2", "pubkey": bob.pubkey})
    await a.send({"type": "unwatch", "id": "w2"})
    await a.request({"type": "list_peers", "id": "before"}, "peers")  # all three are in
    await b.request({"type": "set_status", "status": "idle"}, "status")

    answer = await a.expect("peer_idle", id="w1")
    assert answer["memberId"] == bob.member.id
    assert answer["sessionId"] == "bob-desk"
    await a.request({"type": "list_peers", "id": "after"}, "peers")
    assert [f for f in a.inbox if f.get("type") == "peer_idle"] == []
