"""Hostile and stuck clients (issue 15), the rules: a socket that never drains, a
member that does not take its pushes, a sender revoked while NOTIFY is not heard,
hooks that try to spend someone else's budget or hold their mail with `dnd`, and the
bounds on connections that have not proved anything yet.

Fake sockets and the fake clock only; the server's side (real sockets that never read,
half-sent requests, ping floods) is in tests/integration/test_hostile.py."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

from adapters.http import frames
from adapters.http.app import cwd_digest
from adapters.http.guard import EXTENSION, TransportControl
from adapters.http.ws import WsConnection, serve_socket
from domain.errors import InvalidInput, RateLimited, Revoked, Unauthorized
from domain.model import Message, Status
from domain.pending import PendingLimits, Refusal
from domain.policy import HookAuth, Policy
from domain.ports import ConnectionGone
from domain.usecases import admin, connect
from domain.usecases.status import HookReport, hook_set_status
from tests.unit.harness import Client, FakeConnection, Harness
from tests.unit.test_ws_serve import WAIT, gateway_of, hello_frame

# ---------------------------------------------------------------- a socket that never drains


class NeverDrains:
    """A Litestar WebSocket whose peer takes nothing: every write and close waits for
    a buffer that never empties. `aborted` records the transport being aborted."""

    def __init__(self) -> None:
        self.aborted = 0
        self.authenticated = 0
        self.scope = {"extensions": {EXTENSION: TransportControl(self._abort, self._authenticated)}}
        self.forever = asyncio.Event()

    def _abort(self) -> None:
        self.aborted += 1

    def _authenticated(self) -> None:
        self.authenticated += 1

    async def send(self, event: dict[str, Any]) -> None:
        await self.forever.wait()

    async def close(self, code: int, reason: str) -> None:
        await self.forever.wait()


async def test_a_write_the_peer_never_takes_aborts_its_transport() -> None:
    socket = NeverDrains()
    connection = WsConnection(socket, "unit", write_timeout=0.01)  # type: ignore[arg-type]

    with pytest.raises(ConnectionGone):
        await asyncio.wait_for(connection.send_text("{}"), WAIT)

    assert socket.aborted == 1
    assert connection.closed
    with pytest.raises(ConnectionGone):  # nothing more is tried on it
        await connection.send_text("{}")


async def test_a_close_the_peer_never_takes_aborts_its_transport() -> None:
    socket = NeverDrains()
    connection = WsConnection(socket, "unit", write_timeout=0.01)  # type: ignore[arg-type]

    await asyncio.wait_for(connection.close(1001, "server shutting down"), WAIT)

    assert socket.aborted == 1


async def test_shutdown_closes_every_other_socket_while_one_never_takes_its_close(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    stuck = await broker.connect(ada)
    fine = await broker.connect(bob)
    gate = asyncio.Event()
    closes: list[str] = []

    async def never_closes(code: int, reason: str) -> None:
        closes.append("stuck")
        await gate.wait()

    stuck.connection.close = never_closes  # type: ignore[method-assign]
    shutting = asyncio.create_task(connect.shutdown(broker.ctx))
    async with asyncio.timeout(WAIT):
        while fine.connection.closed is None:
            await asyncio.sleep(0)
    assert fine.connection.closed == (1001, "server shutting down")
    assert closes == ["stuck"]
    gate.set()  # the write deadline would end it; here the test does
    assert await asyncio.wait_for(shutting, WAIT) == 2


# ---------------------------------------------------------------- independent drains


class BlockedConnection(FakeConnection):
    """A recipient whose socket takes no push until `gate` opens."""

    def __init__(self, gate: asyncio.Event) -> None:
        super().__init__()
        self.gate = gate
        self.started = asyncio.Event()

    async def push(self, messages: Sequence[Message]) -> None:
        self.started.set()
        await self.gate.wait()
        await super().push(messages)


class Watched(FakeConnection):
    def __init__(self) -> None:
        super().__init__()
        self.got = asyncio.Event()

    async def push(self, messages: Sequence[Message]) -> None:
        await super().push(messages)
        self.got.set()


async def test_one_blocked_recipient_delays_no_other_member(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    cy, dee = await broker.peer("cy"), await broker.peer("dee")
    sender = await broker.connect(ada)
    gate = asyncio.Event()
    blocked, watched = BlockedConnection(gate), Watched()
    # Whichever order the broadcast's members are drained in, one is blocked.
    for peer, connection in ((bob, blocked), (cy, watched), (dee, Watched())):
        broker.clock.advance(0.001)
        await connect.hello(broker.ctx, connection, broker.hello_for(peer))

    broadcast = asyncio.create_task(broker.send(sender, "*", "to all"))
    try:
        await asyncio.wait_for(blocked.started.wait(), WAIT)
        await asyncio.wait_for(watched.got.wait(), WAIT)
        assert watched.texts == ["to all"]
        assert blocked.pushed == []
    finally:
        gate.set()
        await asyncio.wait_for(broadcast, WAIT)
    assert blocked.texts == ["to all"]


# ---------------------------------------------------------------- a revoked sender


async def revoke_unheard(broker: Harness, client: Client) -> None:
    """Revoke in the store only: no instance hears of it (its LISTEN connection is down)."""
    await broker.ctx.admin.revoke_member(broker.mesh.id, client.peer.member.id, broker.clock.now())


async def test_a_revoked_sender_is_refused_within_the_member_cache_age(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    await broker.connect(bob)
    await broker.send(sender, bob, "before")  # the sender is now in the member cache

    await revoke_unheard(broker, sender)
    broker.clock.advance(5)  # the cache's age (MEMBER_CACHE_SECONDS)

    with pytest.raises(Revoked):
        await broker.send(sender, bob, "after")
    assert broker.metrics.counts["rejected:unauthorized"] == 1


async def test_a_revoked_sender_gets_its_refusal_then_1008_revoked(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    await broker.connect(bob)
    socket = ScriptedSocket()
    socket.say(frames.text(hello_frame(broker, ada, "s-ada")))
    handler = asyncio.create_task(serve_socket(socket, gateway_of(broker)))  # type: ignore[arg-type]
    await asyncio.wait_for(socket.got("hello_ok"), WAIT)
    await broker.ctx.admin.revoke_member(broker.mesh.id, ada.member.id, broker.clock.now())
    broker.clock.advance(5)

    send = {"type": "send", "id": "c-1", "targetSpec": bob.pubkey, "priority": "now"}
    socket.say(msgspec.json.encode({**send, "nonce": "bm9uY2U=", "ciphertext": "x"}).decode())
    await asyncio.wait_for(handler, WAIT)

    ack = next(f for f in socket.sent if f["type"] == "ack")
    assert (ack["queued"], ack["error"]) == (False, "unauthorized")
    assert socket.closed == (1008, "revoked")


# ---------------------------------------------------------------- frames before hello


class ScriptedSocket:
    """A WebSocket fed frames by the test; records what the handler writes."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self._changed = asyncio.Event()

    def say(self, payload: str | bytes) -> None:
        key = "text" if isinstance(payload, str) else "bytes"
        self.inbox.put_nowait({"type": "websocket.receive", key: payload})

    async def accept(self) -> None:
        pass

    async def receive(self) -> dict[str, Any]:
        return await self.inbox.get()

    async def send(self, event: dict[str, Any]) -> None:
        self.sent.append(msgspec.json.decode(event["text"]))
        self._changed.set()

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": code})

    async def got(self, kind: str) -> dict[str, Any]:
        while True:
            found = next((f for f in self.sent if f["type"] == kind), None)
            if found is not None:
                return found
            self._changed.clear()
            await self._changed.wait()


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe not utf-8", b'{"type":"hello","meshId":"\xff"}'],
    ids=["invalid-utf8", "invalid-utf8-in-a-hello"],
)
async def test_a_binary_frame_before_hello_is_no_hello_and_the_socket_stays(
    broker: Harness, payload: bytes
) -> None:
    ada = await broker.peer("ada")
    socket = ScriptedSocket()
    socket.say(payload)
    socket.say(frames.text(hello_frame(broker, ada, "s-ada")))
    handler = asyncio.create_task(serve_socket(socket, gateway_of(broker)))  # type: ignore[arg-type]

    await asyncio.wait_for(socket.got("hello_ok"), WAIT)

    assert socket.sent[0] == {
        "type": "error",
        "code": "no_hello",
        "message": "frames must be text (JSON): say hello in a text frame",
    }
    assert socket.closed is None
    socket.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(handler, WAIT)


async def test_a_hello_in_a_binary_frame_is_refused(broker: Harness) -> None:
    ada = await broker.peer("ada")
    socket = ScriptedSocket()
    socket.say(frames.text(hello_frame(broker, ada, "s-ada")).encode())
    handler = asyncio.create_task(serve_socket(socket, gateway_of(broker)))  # type: ignore[arg-type]

    await asyncio.wait_for(socket.got("error"), WAIT)
    socket.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(handler, WAIT)

    assert [f["code"] for f in socket.sent] == ["no_hello"]
    assert broker.ctx.sessions.of_member(ada.member.id) == []


async def test_an_accepted_hello_frees_the_pending_slot(broker: Harness) -> None:
    ada = await broker.peer("ada")
    socket = ScriptedSocket()
    control = NeverDrains()
    socket.scope = control.scope  # type: ignore[attr-defined]
    socket.say(frames.text(hello_frame(broker, ada, "s-ada")))
    handler = asyncio.create_task(serve_socket(socket, gateway_of(broker)))  # type: ignore[arg-type]

    await asyncio.wait_for(socket.got("hello_ok"), WAIT)

    assert control.authenticated == 1
    socket.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
    await asyncio.wait_for(handler, WAIT)


# ---------------------------------------------------------------- hooks


CWD = "/home/ada/proj"


async def test_a_hook_may_not_set_dnd(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))

    with pytest.raises(InvalidInput, match="set_status"):
        await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.DND), None)

    assert await broker.status_of(client) is Status.IDLE


async def test_unauthenticated_hooks_spend_nothing_of_the_victims_budget() -> None:
    broker = await Harness(policy=Policy(hook_auth=HookAuth.TOKEN, hook_rate_per_min=2)).start()
    victim = await broker.connect(await broker.peer("ada"))
    report = HookReport(CWD, 4242, Status.WORKING)

    for _ in range(10):
        with pytest.raises(Unauthorized):
            await hook_set_status(broker.ctx, report, None)
        with pytest.raises(Unauthorized):
            await hook_set_status(broker.ctx, report, "forged")

    outcome = await hook_set_status(broker.ctx, report, victim.hook_token)
    assert outcome.presence_id == victim.presence_id
    assert broker.metrics.counts["hook_rate_limited"] == 0
    await hook_set_status(broker.ctx, report, victim.hook_token)
    with pytest.raises(RateLimited):  # the budget itself still holds
        await hook_set_status(broker.ctx, report, victim.hook_token)


def test_the_log_keeps_the_cwds_last_segment_and_a_digest_only() -> None:
    long = "/home/ada/" + "x" * 5000 + "/proj"
    kept = cwd_digest(long)

    assert kept.startswith("proj#")
    assert len(kept) < 80
    assert cwd_digest("/a/proj") != cwd_digest("/b/proj")
    assert cwd_digest("C:\\Users\\ada\\proj\\").startswith("proj#")


# ---------------------------------------------------------------- pending connections


def test_pending_connections_are_bounded_per_address_and_in_all() -> None:
    limits = PendingLimits(total=3, per_address=2)

    assert limits.admit("10.0.0.1") is None
    assert limits.admit("10.0.0.1") is None
    assert limits.admit("10.0.0.1") is Refusal.PER_ADDRESS
    assert limits.admit("10.0.0.2") is None
    assert limits.admit("10.0.0.3") is Refusal.TOTAL

    limits.release("10.0.0.1")
    assert limits.admit("10.0.0.3") is None
    assert len(limits) == 3


def test_a_slot_released_twice_frees_only_one() -> None:
    limits = PendingLimits(total=3, per_address=2)
    limits.admit("a")
    limits.release("a")
    limits.release("a")

    assert len(limits) == 0
    assert limits.held_by("a") == 0
    assert limits.admit("a") is None and limits.admit("a") is None
    assert limits.admit("a") is Refusal.PER_ADDRESS


async def test_an_admin_revoke_is_still_heard_at_once(broker: Harness) -> None:
    """Control: with the notifier up, the revoke closes the socket itself (1008)."""
    ada = await broker.peer("ada")
    client = await broker.connect(ada)

    await admin.revoke_member(broker.ctx, broker.mesh.id, ada.member.id)

    assert client.connection.closed == (1008, "revoked")
