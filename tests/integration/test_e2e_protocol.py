"""protocol.md, row by row, against a real broker process over real sockets."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from adapters.postgres.database import Database
from tests.integration.support import (
    BrokerProcess,
    Identity,
    WsPeer,
    new_member,
    new_mesh,
    signed_hello,
)

ENV = {
    "HELLO_TIMEOUT_SECONDS": "1",
    "ACK_TIMEOUT_SECONDS": "1",
    "MAX_CONNECTIONS_PER_MESH": "3",
    "MAX_MESSAGE_BYTES": "4096",
    "SEND_RATE_BURST": "20",
    "SEND_RATE_LIMIT_PER_MIN": "60",
    "HOOK_AUTH": "open",
}


@pytest.fixture(scope="module")
def broker(database_url: str) -> Iterator[BrokerProcess]:
    process = BrokerProcess(database_url, **ENV).start()
    yield process
    process.kill()


@pytest.fixture
async def pair(database: Database) -> tuple[Identity, Identity]:
    mesh = await new_mesh(database)
    return await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")


@pytest.fixture
async def peers(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> AsyncIterator[tuple[WsPeer, WsPeer]]:
    ada, bob = pair
    a, b = await WsPeer.join(broker.url, ada), await WsPeer.join(broker.url, bob)
    yield a, b
    await a.close()
    await b.close()


def send(to: str, text: str = "c2VjcmV0", priority: str = "next", **extra: Any) -> dict[str, Any]:
    return {
        "type": "send",
        "id": str(uuid.uuid4()),
        "targetSpec": to,
        "priority": priority,
        "nonce": "bm9uY2U=",
        "ciphertext": text,
        **extra,
    }


def post_hook(
    broker: BrokerProcess, body: bytes | dict[str, Any], token: str | None = None
) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{broker.http}/hook/set-status", data=data, method="POST")
    request.add_header("content-type", "application/json")
    if token:
        request.add_header("authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---- hello


async def test_an_accepted_hello_gets_hello_ok_with_an_idle_status(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    ada, _ = pair

    peer = await WsPeer.join(broker.url, ada)

    ok = peer.hello_ok
    assert ok is not None
    assert (ok["meshId"], ok["memberId"], ok["status"]) == (ada.mesh.id, ada.member.id, "idle")
    assert ok["presenceId"] and ok["hookToken"]
    await peer.close()


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"signature": "00" * 64}, id="bad-signature"),
        pytest.param({"timestamp": 1}, id="stale-timestamp"),
        pytest.param({"memberId": "nobody"}, id="unknown-member"),
        pytest.param({"pubkey": "ab" * 32}, id="pubkey-mismatch"),
    ],
)
async def test_a_forged_hello_is_refused_and_closed_with_1008(
    broker: BrokerProcess, pair: tuple[Identity, Identity], tamper: dict[str, Any]
) -> None:
    peer = await WsPeer.open(broker.url)

    await peer.send({**signed_hello(pair[0], "s1"), **tamper})

    assert (await peer.expect("error"))["code"] == "unauthorized"
    assert await peer.closed() == (1008, "unauthorized")


async def test_a_replayed_hello_is_refused(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    hello = signed_hello(pair[0], "s-replay")
    first = await WsPeer.open(broker.url)
    await first.send(hello)
    await first.expect("hello_ok")

    second = await WsPeer.open(broker.url)
    await second.send(hello)

    assert (await second.expect("error"))["code"] == "unauthorized"
    await first.close()


async def test_the_mesh_capacity_refuses_one_more_session(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    ada, _ = pair
    open_ = [await WsPeer.join(broker.url, ada) for _ in range(3)]
    waiting = await WsPeer.open(broker.url)  # before hello: does not count

    extra = await WsPeer.open(broker.url)
    await extra.send(signed_hello(ada, "one-too-many"))

    assert (await extra.expect("error"))["code"] == "capacity"
    assert await extra.closed() == (1008, "capacity")
    for peer in [*open_, waiting]:
        await peer.close()


async def test_a_frame_before_hello_gets_no_hello_and_the_socket_stays_open(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    peer = await WsPeer.open(broker.url)

    await peer.send({"type": "list_peers", "id": "q"})
    refused = await peer.expect("error")
    await peer.send(signed_hello(pair[0], "late"))

    assert refused["code"] == "no_hello"
    assert (await peer.expect("hello_ok"))["memberId"] == pair[0].member.id
    await peer.close()


async def test_a_silent_socket_is_closed_after_the_hello_timeout(broker: BrokerProcess) -> None:
    peer = await WsPeer.open(broker.url)

    assert await peer.closed() == (1008, "hello timeout")


async def test_a_second_hello_is_invalid_and_the_socket_stays_open(
    peers: tuple[WsPeer, WsPeer], pair: tuple[Identity, Identity]
) -> None:
    ada_peer, _ = peers

    await ada_peer.send(signed_hello(pair[0], "again"))
    refused = await ada_peer.expect("error")
    listed = await ada_peer.request({"type": "list_peers", "id": "still-open"}, "peers")

    assert refused["code"] == "invalid"
    assert listed["id"] == "still-open"


async def test_the_same_session_on_a_new_socket_replaces_the_old_one(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    ada, _ = pair
    old = await WsPeer.join(broker.url, ada, "desk")
    await old.request({"type": "set_status", "status": "dnd"}, "status")

    new = await WsPeer.join(broker.url, ada, "desk")

    assert await old.closed() == (4000, "replaced")
    assert new.hello_ok is not None and old.hello_ok is not None
    assert new.hello_ok["presenceId"] == old.hello_ok["presenceId"]
    assert new.hello_ok["status"] == "dnd"
    await new.close()


# ---- send, push, ack


async def test_a_direct_message_is_acked_queued_and_pushed(
    peers: tuple[WsPeer, WsPeer], pair: tuple[Identity, Identity]
) -> None:
    a, b = peers
    ada, bob = pair

    ack = await a.request(send(bob.pubkey, "aGk=", "now"), "ack")
    push = await b.expect("push")

    assert ack["queued"] is True
    assert push["messageId"] == ack["messageId"]
    assert (push["senderPubkey"], push["ciphertext"], push["priority"]) == (
        ada.pubkey,
        "aGk=",
        "now",
    )
    assert push["meshId"] == ada.mesh.id and push["createdAt"].endswith("Z")


async def test_next_waits_while_working_and_goes_out_on_idle(
    peers: tuple[WsPeer, WsPeer], pair: tuple[Identity, Identity]
) -> None:
    a, b = peers
    bob = pair[1]
    await b.request({"type": "set_status", "status": "working"}, "status")

    held = await a.request(send(bob.pubkey, "held", "next"), "ack")
    urgent = await a.request(send(bob.pubkey, "urgent", "now"), "ack")
    first = await b.expect("push")
    await b.request({"type": "set_status", "status": "idle"}, "status")
    second = await b.expect("push")

    assert first["messageId"] == urgent["messageId"]
    assert second["messageId"] == held["messageId"]


async def test_an_unacked_push_comes_again_after_the_lease_and_not_after_an_ack(
    peers: tuple[WsPeer, WsPeer], pair: tuple[Identity, Identity]
) -> None:
    a, b = peers
    ack = await a.request(send(pair[1].pubkey, "lease"), "ack")
    first = await b.expect("push")

    again = await b.expect("push", messageId=ack["messageId"])
    await b.send({"type": "client_ack", "messageIds": [ack["messageId"]]})
    sentinel = await a.request(send(pair[1].pubkey, "after"), "ack")
    after = await b.expect("push")

    assert first["messageId"] == again["messageId"] == ack["messageId"]
    assert after["messageId"] == sentinel["messageId"]


async def test_sends_in_flight_together_are_acked_in_frame_order_and_pushed_in_send_order(
    peers: tuple[WsPeer, WsPeer], pair: tuple[Identity, Identity]
) -> None:
    a, b = peers
    frames = [send(pair[1].pubkey, f"bTB{i}", "now") for i in range(15)]
    frames.insert(7, send("ab" * 32, "nobody", "now"))  # refused in the middle

    for frame in frames:  # no waiting: all are in flight at once
        await a.send(frame)
    acks = [await a.expect("ack") for _ in frames]  # in the order they arrive
    pushes = [await b.expect("push") for _ in range(15)]

    assert [x["id"] for x in acks] == [f["id"] for f in frames]
    assert [x["queued"] for x in acks] == [True] * 7 + [False] + [True] * 8
    assert [p["messageId"] for p in pushes] == [x["messageId"] for x in acks if x["queued"]]
    assert [p["ciphertext"] for p in pushes] == [f"bTB{i}" for i in range(15)]


async def test_a_broadcast_reaches_every_other_member_under_one_id(
    broker: BrokerProcess, database: Database
) -> None:
    mesh = await new_mesh(database)
    ada, bob, cy = [await new_member(database, mesh, n) for n in ("ada", "bob", "cy")]
    a, b, c = [await WsPeer.join(broker.url, who) for who in (ada, bob, cy)]

    ack = await a.request(send("*", "all"), "ack")

    assert (await b.expect("push"))["messageId"] == ack["messageId"]
    assert (await c.expect("push"))["messageId"] == ack["messageId"]
    for peer in (a, b, c):
        await peer.close()


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        pytest.param(send("bob@example"), "unsupported_target", id="unsupported-target"),
        pytest.param(send("ab" * 32), "no_recipient", id="unknown-recipient"),
        pytest.param(send("*", "x" * 5000), "too_large", id="too-large"),
        pytest.param({"type": "send", "id": "bad", "targetSpec": 7}, "invalid", id="wrong-types"),
    ],
)
async def test_a_refused_send_gets_an_ack_with_its_error_and_the_socket_stays_open(
    peers: tuple[WsPeer, WsPeer], frame: dict[str, Any], error: str
) -> None:
    a, _ = peers

    ack = await a.request(frame, "ack")
    listed = await a.request({"type": "list_peers", "id": "alive"}, "peers")

    assert (ack["queued"], ack["error"], ack["id"]) == (False, error, frame["id"])
    assert listed["id"] == "alive"


async def test_sends_over_the_member_budget_are_rate_limited(
    peers: tuple[WsPeer, WsPeer], pair: tuple[Identity, Identity]
) -> None:
    a, _ = peers
    acks = [await a.request(send(pair[1].pubkey, priority="now"), "ack") for _ in range(21)]

    assert [x["queued"] for x in acks[:20]] == [True] * 20
    assert acks[20]["error"] == "rate_limited"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        pytest.param("not json", "invalid", id="not-json"),
        pytest.param("[1, 2]", "invalid", id="not-an-object"),
        pytest.param('{"id": "x"}', "invalid", id="no-type"),
        pytest.param('{"type": "dance"}', "unknown_type", id="unknown-type"),
        pytest.param('{"type": "set_status", "status": "asleep"}', "invalid", id="bad-status"),
        pytest.param(b"\x00\x01", "invalid", id="binary-frame"),
    ],
)
async def test_a_malformed_frame_gets_an_error_and_the_socket_stays_open(
    peers: tuple[WsPeer, WsPeer], raw: str | bytes, code: str
) -> None:
    a, _ = peers

    await a.send(raw)
    refused = await a.expect("error")
    listed = await a.request({"type": "list_peers", "id": "alive"}, "peers")

    assert refused["code"] == code
    assert listed["id"] == "alive"


async def test_a_frame_over_the_hard_cap_closes_the_socket_with_1009(
    peers: tuple[WsPeer, WsPeer],
) -> None:
    a, _ = peers

    await a.send("x" * (4 * 4096 + 1))

    code, _ = await a.closed()
    assert code == 1009


# ---- status, peers, hooks


async def test_set_status_replies_with_presence_status_and_source(
    peers: tuple[WsPeer, WsPeer],
) -> None:
    a, _ = peers

    reply = await a.request({"type": "set_status", "status": "dnd"}, "status")

    assert a.hello_ok is not None
    assert reply == {
        "type": "status",
        "presenceId": a.hello_ok["presenceId"],
        "status": "dnd",
        "source": "manual",
    }


async def test_list_peers_shows_the_mesh_without_cwd_or_pid(
    peers: tuple[WsPeer, WsPeer], pair: tuple[Identity, Identity]
) -> None:
    a, _ = peers

    listed = (await a.request({"type": "list_peers", "id": "q1"}, "peers"))["peers"]

    assert sorted(p["displayName"] for p in listed) == ["ada", "bob"]
    assert all(p["online"] for p in listed)
    assert set(listed[0]) == {
        "memberId",
        "pubkey",
        "displayName",
        "presenceId",
        "sessionId",
        "status",
        "online",
        "connectedAt",
    }


async def test_a_hook_flips_a_live_session_and_never_overrides_dnd(
    broker: BrokerProcess, peers: tuple[WsPeer, WsPeer]
) -> None:
    a, _ = peers
    assert a.hello_ok is not None
    cwd = f"/tmp/{uuid.uuid4()}"
    token = a.hello_ok["hookToken"]

    applied = post_hook(broker, {"cwd": cwd, "pid": 1, "status": "working"}, token)
    status_after_hook = (await a.request({"type": "list_peers", "id": "h1"}, "peers"))["peers"]
    await a.request({"type": "set_status", "status": "dnd"}, "status")
    ignored = post_hook(broker, {"cwd": cwd, "pid": 1, "status": "idle"}, token)
    status_after_dnd = (await a.request({"type": "list_peers", "id": "h2"}, "peers"))["peers"]

    mine = a.hello_ok["presenceId"]
    assert applied == (200, {"ok": True, "presence_id": mine})
    assert [p["status"] for p in status_after_hook if p["presenceId"] == mine] == ["working"]
    assert ignored == (200, {"ok": True, "presence_id": mine})
    assert [p["status"] for p in status_after_dnd if p["presenceId"] == mine] == ["dnd"]


async def test_a_hook_before_its_session_is_stashed_and_applied_on_connect(
    broker: BrokerProcess, pair: tuple[Identity, Identity]
) -> None:
    cwd = f"/tmp/{uuid.uuid4()}"

    stashed = post_hook(broker, {"cwd": cwd, "pid": 777, "status": "working"})
    peer = await WsPeer.join(broker.url, pair[0], cwd=cwd, pid=777)

    assert stashed == (200, {"ok": True, "pending": True})
    assert peer.hello_ok is not None and peer.hello_ok["status"] == "working"
    await peer.close()


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        pytest.param(b"{not json", 400, None, id="bad-json"),
        pytest.param({"pid": 1, "status": "working"}, 400, None, id="missing-cwd"),
        pytest.param({"cwd": "/x", "status": "asleep"}, 400, None, id="unknown-status"),
        pytest.param({"cwd": "/x", "pid": "one", "status": "idle"}, 400, None, id="wrong-type"),
        pytest.param(b"x" * 5000, 413, "payload too large", id="too-large"),
    ],
)
def test_a_bad_hook_body_gets_a_clear_error(
    broker: BrokerProcess, body: Any, status: int, error: str | None
) -> None:
    code, reply = post_hook(broker, body)

    assert code == status
    assert reply["ok"] is False and reply["error"]
    if error:
        assert reply["error"] == error


def test_an_invalid_hook_token_is_unauthorized(broker: BrokerProcess) -> None:
    assert post_hook(broker, {"cwd": "/x", "status": "idle"}, "forged") == (
        401,
        {"ok": False, "error": "unauthorized"},
    )


def test_hooks_over_the_per_pid_cwd_budget_get_429(broker: BrokerProcess) -> None:
    body = {"cwd": f"/tmp/{uuid.uuid4()}", "pid": 99, "status": "working"}

    codes = [post_hook(broker, body)[0] for _ in range(31)]

    assert codes[:30] == [200] * 30
    assert codes[30] == 429


# ---- health and metrics


def test_health_reports_the_database_and_build(broker: BrokerProcess) -> None:
    with urllib.request.urlopen(f"{broker.http}/health", timeout=10) as response:
        body = json.loads(response.read())

    assert response.status == 200
    assert (body["status"], body["db"], body["version"]) == ("ok", "up", "0.1.0")
    assert isinstance(body["uptime"], int) and body["gitSha"]


def test_metrics_expose_every_contract_series(broker: BrokerProcess) -> None:
    with urllib.request.urlopen(f"{broker.http}/metrics", timeout=10) as response:
        text = response.read().decode()

    for series in [
        "broker_connections_active",
        "broker_connections_total",
        'broker_connections_rejected_total{reason="capacity"}',
        'broker_connections_rejected_total{reason="hello_timeout"}',
        'broker_messages_routed_total{priority="now"}',
        'broker_messages_rejected_total{reason="too_large"}',
        "broker_queue_depth",
        'broker_ttl_sweeps_total{flipped="false"}',
        "broker_hook_requests_total",
        "broker_hook_requests_rate_limited_total",
        "broker_db_healthy 1.0",
    ]:
        assert series in text, series
