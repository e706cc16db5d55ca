"""The `/ws` handler against a peer that leaves mid-write: whatever write fails, the
admitted session is disconnected, so its presence goes offline and then ends.

`serve_socket` is driven with a fake socket (the ASGI events Litestar hands it) over the
in-memory broker of the unit harness; the background jobs that would keep a leaked
session alive (heartbeat, presence sweep) are run by hand on the fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import pytest

from adapters.http import frames
from adapters.http.gateway import Gateway
from adapters.http.ws import serve_socket
from domain.model import PeerView
from domain.usecases import sweeps
from protocol import wire
from tests.unit.harness import Harness, Peer

WAIT = 5.0  # seconds; only a broken handler ever waits this long


class SocketClosed(OSError):
    """What the ASGI server raises on a write to a socket whose peer is gone
    (uvicorn: ClientDisconnected, an OSError)."""


class FakeSocket:
    """A Litestar WebSocket as `serve_socket` uses it. The peer leaves as the frame that
    `breaks_on` picks is written: that write raises, and the next receive reports the
    disconnect. With a `gate`, the failing write hangs until the gate opens, so that the
    disconnect is read while the write is still under way."""

    def __init__(
        self,
        breaks_on: Callable[[dict[str, Any]], bool],
        gate: asyncio.Event | None = None,
    ) -> None:
        self.breaks_on = breaks_on
        self.gate = gate
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.delivered: list[dict[str, Any]] = []  # frames the peer got
        self.lost: list[dict[str, Any]] = []  # frames whose write failed
        self.accepted = False
        self.gone = False
        self.parked = asyncio.Event()  # the handler waits for a frame and has none
        self.writing = asyncio.Event()  # the failing write has started

    def say(self, frame: wire.Frame) -> None:
        self.parked.clear()
        self.inbox.put_nowait({"type": "websocket.receive", "text": frames.text(frame)})

    def leave(self) -> None:
        self.gone = True
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1006})

    async def accept(self) -> None:
        self.accepted = True

    async def receive(self) -> dict[str, Any]:
        if self.inbox.empty():
            self.parked.set()
        event = await self.inbox.get()
        self.parked.clear()
        return event

    async def send(self, event: dict[str, Any]) -> None:
        if self.gone:
            raise SocketClosed("peer gone")
        frame = msgspec.json.decode(event["text"])
        if self.breaks_on(frame):
            self.lost.append(frame)
            self.leave()
            self.writing.set()
            if self.gate is not None:
                await self.gate.wait()
            raise SocketClosed("peer gone")
        self.delivered.append(frame)

    async def close(self, code: int, reason: str) -> None:
        if self.gone:
            raise SocketClosed("peer gone")
        self.leave()


def of_type(kind: str) -> Callable[[dict[str, Any]], bool]:
    return lambda frame: frame["type"] == kind


def gateway_of(broker: Harness) -> Gateway:
    return Gateway(
        ctx=broker.ctx,
        instance="unit",
        hello_timeout=WAIT,
        healthy=lambda: True,
        health_info=dict,
        render_metrics=lambda: (b"", "text/plain"),
    )


def hello_frame(broker: Harness, peer: Peer, session_id: str) -> wire.Hello:
    broker.clock.advance(0.001)  # each hello is signed at a new millisecond
    hello = broker.hello_for(peer, session_id)
    return wire.Hello(
        mesh_id=hello.mesh_id,
        member_id=hello.member_id,
        pubkey=hello.pubkey,
        session_id=hello.session_id,
        signature=hello.signature,
        timestamp=hello.timestamp_ms,
        pid=hello.pid,
        cwd=hello.cwd,
        capabilities=sorted(hello.capabilities),
    )


async def listed(broker: Harness, session_id: str) -> PeerView | None:
    """The session as `list_peers` shows it to the rest of the mesh."""
    views = await broker.ctx.presences.peers(broker.mesh.id)
    return next((v for v in views if v.session_id == session_id), None)


async def let_time_pass(broker: Harness, seconds: float) -> None:
    """The broker's background jobs, run every 5 s of the fake clock."""
    for _ in range(int(seconds // 5) + 1):
        broker.clock.advance(5)
        await sweeps.heartbeat(broker.ctx)
        await sweeps.sweep_presences(broker.ctx)


async def assert_left(broker: Harness, peer: Peer, session_id: str, *, others: int) -> None:
    """What an operator sees once the socket handler has returned; `others`: the sockets
    of other peers, still open."""
    ctx = broker.ctx
    assert ctx.sessions.of_member(peer.member.id) == [], "session still registered"
    view = await listed(broker, session_id)
    assert view is not None, "presence ended at once: no grace window to reconnect in"
    assert not view.online, "presence still online"
    counts = broker.metrics.counts
    gauge = counts["connections_opened"] - counts["connections_closed"]
    assert gauge == others, "connections gauge counts a socket that left"
    assert len(ctx.drains) == 0, "a drain is still running"


async def assert_offline_already(broker: Harness, peer: Peer, session_id: str) -> None:
    """While a failed push still hangs in the sender's task, the session has already left
    and its presence is offline."""
    assert broker.ctx.sessions.of_member(peer.member.id) == [], "session still registered"
    view = await listed(broker, session_id)
    assert view is not None and not view.online, "presence still online"


async def assert_ended_after_grace(broker: Harness, session_id: str) -> None:
    await let_time_pass(broker, broker.policy.reconnect_grace.total_seconds() + 10)
    assert await listed(broker, session_id) is None, "presence outlived its grace window"


async def test_a_peer_that_leaves_before_hello_ok_is_disconnected(broker: Harness) -> None:
    ada = await broker.peer("ada")
    socket = FakeSocket(breaks_on=of_type("hello_ok"))
    socket.say(hello_frame(broker, ada, "s-ada"))
    tasks_before = asyncio.all_tasks()

    await asyncio.wait_for(serve_socket(socket, gateway_of(broker)), WAIT)  # type: ignore[arg-type]

    assert socket.accepted
    assert [f["type"] for f in socket.lost] == ["hello_ok"]  # admitted, then the write failed
    assert socket.delivered == []
    assert broker.metrics.counts["connections_opened"] == 1
    await assert_left(broker, ada, "s-ada", others=0)
    assert asyncio.all_tasks() <= tasks_before, "the handler left a task behind"
    await assert_ended_after_grace(broker, "s-ada")


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param("another-member", id="push-from-another-member-fails-at-once"),
        pytest.param("another-member-slow", id="peer-leaves-while-the-push-is-in-flight"),
        pytest.param("itself", id="held-push-released-by-its-own-set_status-fails"),
    ],
)
async def test_a_peer_that_leaves_while_a_push_is_written_is_disconnected(
    broker: Harness, writer: str
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(bob)
    gate = asyncio.Event() if writer == "another-member-slow" else None
    socket = FakeSocket(breaks_on=of_type("push"), gate=gate)
    socket.say(hello_frame(broker, ada, "s-ada"))
    tasks_before = asyncio.all_tasks()
    handler = asyncio.create_task(serve_socket(socket, gateway_of(broker)))  # type: ignore[arg-type]
    await asyncio.wait_for(socket.parked.wait(), WAIT)
    assert [f["type"] for f in socket.delivered] == ["hello_ok"]
    view = await listed(broker, "s-ada")
    assert view is not None and view.online

    if writer == "itself":  # the push is written by the handler's own task
        socket.say(wire.SetStatus(status="working"))
        await asyncio.wait_for(socket.parked.wait(), WAIT)
        await broker.send(sender, ada, "hi")  # held: `next` waits while ada works
        assert socket.lost == []
        socket.say(wire.SetStatus(status="idle"))  # held mail follows the change to idle
        await asyncio.wait_for(handler, WAIT)
    else:
        sending = asyncio.create_task(broker.send(sender, ada, "hi"))
        await asyncio.wait_for(socket.writing.wait(), WAIT)
        await asyncio.wait_for(handler, WAIT)  # does not wait for the sender's write
        if gate is not None:  # the write hangs still: the peer has left all the same
            await assert_offline_already(broker, ada, "s-ada")
            gate.set()
        await asyncio.wait_for(sending, WAIT)

    assert [f["type"] for f in socket.lost] == ["push"]
    await assert_left(broker, ada, "s-ada", others=1)  # bob's
    assert asyncio.all_tasks() <= tasks_before, "the handler left a task behind"
    await assert_ended_after_grace(broker, "s-ada")
    again = await broker.connect(ada)  # the mail whose push failed is not lost
    assert again.connection.texts == ["hi"]
