"""The peer's session logic against a scripted in-memory broker (no sockets):
reply matching, ack after the handler, dedupe, reconnect under the same sessionId."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from nacl.signing import SigningKey

from client import crypto, peer_supervise
from client.errors import BrokerError, Disconnected, Fatal, NotConnected
from client.identity import Identity
from client.peer import Incoming, Peer, PeerConfig
from client.retry import Backoff

ALICE = Identity(SigningKey(bytes(range(32))))
BOB = Identity(SigningKey(bytes(range(32, 64))))
CLOSE = object()


class FakeSocket:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.out: asyncio.Queue[Any] = asyncio.Queue()
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.received: list[dict[str, Any]] = []

    async def send(self, text: str) -> None:
        if self.close_code is not None:
            raise Disconnected("fake socket closed")  # the peer only catches ConnectionClosed
        frame = json.loads(text)
        self.received.append(frame)
        self.broker.handle(self, frame)

    def deliver(self, frame: dict[str, Any]) -> None:
        self.out.put_nowait(json.dumps(frame))

    def drop(self, code: int, reason: str) -> None:
        self.out.put_nowait((code, reason))

    async def recv(self) -> str:
        item = await self.out.get()
        if isinstance(item, tuple):
            self.close_code, self.close_reason = item
            raise EOFError("closed during the handshake")
        return str(item)

    def __aiter__(self) -> FakeSocket:
        return self

    async def __anext__(self) -> str:
        item = await self.out.get()
        if isinstance(item, tuple):
            self.close_code, self.close_reason = item
            raise StopAsyncIteration
        return str(item)

    async def close(self) -> None:
        if self.close_code is None:
            self.drop(1000, "")


class FakeBroker:
    def __init__(self) -> None:
        self.sockets: list[FakeSocket] = []
        self.hellos: list[dict[str, Any]] = []
        self.sends: list[dict[str, Any]] = []
        self.acks: list[str] = []
        self.refuse_connections = 0
        self.hello_error: str | None = None
        self.answer_sends = True
        self.peers_error: str | None = None

    @contextlib.asynccontextmanager
    async def connect(self, url: str, **options: Any) -> AsyncIterator[FakeSocket]:
        if self.refuse_connections:
            self.refuse_connections -= 1
            raise ConnectionRefusedError("refused")
        socket = FakeSocket(self)
        self.sockets.append(socket)
        yield socket

    def handle(self, socket: FakeSocket, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "hello":
            self.hellos.append(frame)
            if self.hello_error:
                socket.deliver({"type": "error", "code": self.hello_error, "message": "no"})
                socket.drop(1008, self.hello_error)
                return
            socket.deliver(
                {
                    "type": "hello_ok",
                    "presenceId": "p-1",
                    "meshId": frame["meshId"],
                    "memberId": frame["memberId"],
                    "status": "idle",
                    "hookToken": "tok",
                }
            )
        elif kind == "send":
            self.sends.append(frame)
            if self.answer_sends:
                reply = {"type": "ack", "id": frame["id"], "messageId": f"m-{len(self.sends)}"}
                socket.deliver(reply | {"queued": True})
        elif kind == "client_ack":
            self.acks.extend(frame["messageIds"])
        elif kind == "set_status":
            socket.deliver(
                {
                    "type": "status",
                    "presenceId": "p-1",
                    "status": frame["status"],
                    "source": "manual",
                }
            )
        elif kind == "list_peers":
            if self.peers_error:
                socket.deliver(
                    {"type": "error", "code": self.peers_error, "message": "x", "id": frame["id"]}
                )
                return
            socket.deliver(
                {
                    "type": "peers",
                    "id": frame["id"],
                    "peers": [
                        {
                            "memberId": "u-b",
                            "pubkey": BOB.pubkey,
                            "displayName": "bob",
                            "presenceId": "p-1",
                            "sessionId": "s-bob",
                            "status": "idle",
                            "online": True,
                            "connectedAt": "2026-11-27T10:00:00.000Z",
                        }
                    ],
                }
            )

    @property
    def socket(self) -> FakeSocket:
        return self.sockets[-1]


def push_from_alice(message_id: str, text: str, to: Identity = BOB) -> dict[str, Any]:
    sealed = crypto.seal(ALICE.key, to.pubkey, text)
    return {
        "type": "push",
        "messageId": message_id,
        "meshId": "mesh-1",
        "senderPubkey": ALICE.pubkey,
        "priority": "next",
        "nonce": sealed.nonce,
        "ciphertext": sealed.ciphertext,
        "createdAt": "2026-11-27T10:00:00.000Z",
    }


async def eventually(condition: Callable[[], bool], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while not condition():
            await asyncio.sleep(0.005)


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    fake = FakeBroker()
    monkeypatch.setattr(peer_supervise, "connect", fake.connect)
    monkeypatch.setattr(peer_supervise, "REPLACED_DELAY", 0.0)
    return fake


def bob(connect_timeout: float = 2.0, *, fail_fast: bool = False) -> Peer:
    config = PeerConfig(
        url="ws://fake/ws",
        mesh_id="mesh-1",
        member_id="u-b",
        identity=BOB,
        session_id="s-bob",
        cwd="/proj",
        pid=os.getpid(),
        connect_timeout=connect_timeout,
        request_timeout=2.0,
        fail_fast=fail_fast,
    )
    return Peer(config, backoff=Backoff(base=0.001, cap=0.005))


async def test_send_encrypts_for_the_recipient_and_returns_the_matching_ack(
    broker: FakeBroker,
) -> None:
    async with bob() as client:
        ack = await client.send(ALICE.pubkey, "hi alice", "now")
    assert ack.queued and ack.message_id == "m-1" and ack.id == broker.sends[0]["id"]
    sent = broker.sends[0]
    assert sent["targetSpec"] == ALICE.pubkey and sent["priority"] == "now"
    assert "hi alice" not in json.dumps(sent)
    opened = crypto.open_payload(
        ALICE.key, BOB.pubkey, crypto.Sealed(sent["nonce"], sent["ciphertext"])
    )
    assert opened.text == "hi alice" and opened.encrypted


async def test_the_hello_is_signed_with_ack_capability(broker: FakeBroker) -> None:
    async with bob() as client:
        assert client.hello_ok is not None and client.hello_ok.hook_token == "tok"
    hello = broker.hellos[0]
    assert hello["sessionId"] == "s-bob" and hello["capabilities"] == ["ack", "receipts"]
    assert hello["pubkey"] == BOB.pubkey and len(hello["signature"]) == 128


async def test_a_message_is_acked_only_after_the_handler_returns(broker: FakeBroker) -> None:
    async with bob() as client:
        broker.socket.deliver(push_from_alice("m-1", "first"))
        broker.socket.deliver(push_from_alice("m-2", "second"))
        messages = client.messages()
        first = await anext(messages)
        assert first == Incoming(
            "m-1", ALICE.pubkey, "next", "first", True, "2026-11-27T10:00:00.000Z"
        )
        assert broker.acks == []
        second = await anext(messages)
        assert second.text == "second" and broker.acks == ["m-1"]
        await client.ack(second)
        assert broker.acks == ["m-1", "m-2"]
        await messages.aclose()


async def test_a_redelivered_message_is_not_yielded_twice_but_acked_again(
    broker: FakeBroker,
) -> None:
    async with bob() as client:
        messages = client.messages()
        broker.socket.deliver(push_from_alice("m-1", "once"))
        await client.ack(await anext(messages))
        broker.socket.deliver(push_from_alice("m-1", "once"))
        broker.socket.deliver(push_from_alice("m-2", "next one"))
        assert (await anext(messages)).message_id == "m-2"
        assert broker.acks.count("m-1") == 2
        await messages.aclose()


async def test_a_message_that_does_not_open_is_dropped_and_acked(broker: FakeBroker) -> None:
    async with bob() as client:
        messages = client.messages()
        broker.socket.deliver(push_from_alice("m-1", "for someone else", to=ALICE))
        broker.socket.deliver(push_from_alice("m-2", "for bob"))
        assert (await anext(messages)).message_id == "m-2"
        assert broker.acks == ["m-1"]
        await messages.aclose()


async def test_it_reconnects_under_the_same_session_with_a_fresh_signature(
    broker: FakeBroker,
) -> None:
    async with bob() as client:
        messages = client.messages()
        broker.socket.deliver(push_from_alice("m-1", "before the drop"))
        incoming = await anext(messages)
        broker.refuse_connections = 2
        broker.socket.drop(1001, "going away")
        await eventually(lambda: not client.connected)
        await client.ack(incoming)  # while disconnected: kept for the next connection
        await eventually(lambda: len(broker.hellos) == 2 and client.connected)
        await eventually(lambda: broker.acks == ["m-1"])
        assert broker.sockets[-1].received[1] == {"type": "client_ack", "messageIds": ["m-1"]}
        first, second = broker.hellos
        assert first["sessionId"] == second["sessionId"] == "s-bob"
        assert second["timestamp"] > first["timestamp"]
        assert second["signature"] != first["signature"]
        assert (await client.send(ALICE.pubkey, "after")).queued
        await messages.aclose()


async def test_an_unauthorized_hello_is_fatal_and_not_retried(broker: FakeBroker) -> None:
    broker.hello_error = "unauthorized"
    with pytest.raises(Fatal, match="unauthorized"):
        await bob().start()
    assert len(broker.hellos) == 1


async def test_revocation_ends_the_message_stream(broker: FakeBroker) -> None:
    async with bob() as client:
        messages = client.messages()
        broker.socket.drop(1008, "revoked")
        with pytest.raises(Fatal, match="revoked"):
            await anext(messages)
    assert len(broker.hellos) == 1


async def test_a_replaced_session_comes_back(broker: FakeBroker) -> None:
    async with bob() as client:
        broker.socket.drop(4000, "replaced")
        await eventually(lambda: len(broker.hellos) == 2 and client.connected)


async def test_peers_and_status_get_their_replies(broker: FakeBroker) -> None:
    async with bob() as client:
        peers = await client.list_peers()
        status = await client.set_status("dnd")
    assert [p.display_name for p in peers] == ["bob"] and peers[0].online
    assert (status.status, status.source) == ("dnd", "manual")


async def test_an_error_reply_fails_its_request(broker: FakeBroker) -> None:
    broker.peers_error = "unavailable"
    async with bob() as client:
        with pytest.raises(BrokerError) as caught:
            await client.list_peers()
    assert caught.value.code == "unavailable"


async def test_a_request_in_flight_when_the_connection_drops_fails(broker: FakeBroker) -> None:
    broker.answer_sends = False
    async with bob() as client:
        sending = asyncio.create_task(client.send(ALICE.pubkey, "lost?"))
        await eventually(lambda: len(broker.sends) == 1)
        broker.socket.drop(1011, "internal")
        with pytest.raises(Disconnected):
            await sending


async def test_start_gives_up_after_the_connect_timeout(broker: FakeBroker) -> None:
    broker.refuse_connections = 10**6
    with pytest.raises(NotConnected, match="ConnectionRefusedError"):
        await bob(connect_timeout=0.2).start()


async def test_with_fail_fast_a_refused_first_connection_is_reported_at_once(
    broker: FakeBroker,
) -> None:
    broker.refuse_connections = 10**6

    with pytest.raises(NotConnected, match=r"refused the connection: is `meshbroker serve`"):
        await bob(connect_timeout=60, fail_fast=True).start()

    assert len(broker.sockets) == 0


async def test_with_fail_fast_a_refusal_after_the_first_hello_is_retried(
    broker: FakeBroker,
) -> None:
    async with bob(fail_fast=True) as client:
        broker.refuse_connections = 2
        broker.socket.drop(1011, "internal")
        # Both refusals were taken and retried; the client is back. (Under a crowded
        # machine a handshake may outlast its timeout and be retried once more.)
        await eventually(
            lambda: broker.refuse_connections == 0 and len(broker.sockets) >= 2 and client.connected
        )


async def test_a_bad_target_is_refused_before_anything_is_sent(broker: FakeBroker) -> None:
    async with bob() as client:
        with pytest.raises(ValueError, match="pubkey"):
            await client.send("bob", "hi")
    assert broker.sends == []
