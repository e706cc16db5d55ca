"""A WebSocket's writes (docs/adr/0030-per-frame-cost.md): the frames written within one
loop turn go to the socket in one write, in order; a close writes what is pending
first, an abort drops it; a large burst goes out at once, so that flow control sees
it; and a text frame of an open, writable socket is written without the ASGI layers,
while any other state goes through `send()` as before.

A recording transport stands for the socket; the protocol is uvicorn's, guarded, fed
a real handshake."""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.config import Config
from uvicorn.server import ServerState
from websockets.frames import Opcode

from adapters.http.guard import EXTENSION, Guard, protocols
from adapters.http.guard.deadlines import COALESCE_LIMIT, CoalescingTransport, wrap_coalescing
from domain.pending import PendingLimits


class Socket(asyncio.Transport):
    """The inner transport: what reached the socket, write by write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[bytes] = []
        self.closing = False
        self.aborted = False
        self.protocol: Any = None

    def write(self, data: Any) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def abort(self) -> None:
        self.closing = True
        self.aborted = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 40000)}.get(
            name, default
        )

    def set_protocol(self, protocol: Any) -> None:
        self.protocol = protocol

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


async def next_turn() -> None:
    await asyncio.sleep(0)


async def test_writes_within_one_loop_turn_reach_the_socket_as_one_write_in_order() -> None:
    socket = Socket()
    transport = CoalescingTransport(socket, 5.0)

    transport.write(b"one")
    transport.write(b"two")
    transport.write(b"three")
    assert socket.writes == []  # not yet: the turn is not over
    await next_turn()
    assert socket.writes == [b"onetwothree"]

    transport.write(b"four")
    await next_turn()
    assert socket.writes == [b"onetwothree", b"four"]


async def test_a_close_writes_what_is_pending_first_and_an_abort_drops_it() -> None:
    closed, aborted = Socket(), Socket()
    polite = CoalescingTransport(closed, 5.0)
    rude = CoalescingTransport(aborted, 5.0)

    polite.write(b"last frame")
    polite.write(b"close frame")
    polite.close()
    rude.write(b"never sent")
    rude.abort()
    await next_turn()

    assert closed.writes == [b"last frameclose frame"] and closed.closing
    assert aborted.writes == [] and aborted.aborted


async def test_a_burst_past_the_high_water_mark_goes_out_at_once() -> None:
    socket = Socket()
    transport = CoalescingTransport(socket, 5.0)
    chunk = b"x" * (COALESCE_LIMIT // 2)

    transport.write(chunk)
    assert transport.get_write_buffer_size() == len(chunk)  # counted while pending
    transport.write(chunk)

    assert socket.writes == [chunk + chunk]  # in this turn: the inner buffer sees it


async def test_writes_after_close_go_to_the_socket_as_they_did() -> None:
    socket = Socket()
    transport = CoalescingTransport(socket, 5.0)
    transport.close()

    transport.write(b"late")

    assert socket.writes == [b"late"]


def test_an_upgraded_connection_gets_one_coalescing_transport() -> None:
    socket = Socket()
    once = wrap_coalescing(socket, 5.0)
    assert isinstance(once, CoalescingTransport)
    assert wrap_coalescing(once, 5.0) is once


# ---------------------------------------------------------------- the protocol


HANDSHAKE = (
    b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def open_socket() -> tuple[Any, Socket, Any]:
    """A guarded WebSocket protocol over a recording transport, its handshake accepted
    by an app that then waits; returns the protocol, the socket and the app's control."""
    accepted = asyncio.Event()
    scopes: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await receive()
        await send({"type": "websocket.accept"})
        accepted.set()
        await asyncio.Event().wait()

    config = Config(app=app, ws="websockets-sansio", log_config=None)
    config.load()
    guard = Guard(PendingLimits(10, 10), request_timeout=5.0, write_timeout=5.0)
    _, ws_class = protocols(guard)
    protocol = ws_class(config, ServerState(), {})
    socket = Socket()
    protocol.connection_made(socket)
    protocol.data_received(HANDSHAKE)
    await asyncio.wait_for(accepted.wait(), 5.0)
    await next_turn()
    socket.writes.clear()  # the handshake's answer
    return protocol, socket, scopes[0]["extensions"][EXTENSION]


def text_frames(writes: list[bytes]) -> list[str]:
    data = b"".join(writes)
    texts = []
    while data:
        length = data[1] & 0x7F
        head = 2
        if length == 126:
            length, head = int.from_bytes(data[2:4], "big"), 4
        assert data[0] == 0x80 | Opcode.TEXT.value  # a final text frame, not masked
        texts.append(data[head : head + length].decode())
        data = data[head + length :]
    return texts


async def test_a_text_frame_of_an_open_writable_socket_is_written_at_once() -> None:
    protocol, socket, control = await open_socket()

    assert control.send_now('{"type":"ack"}')
    assert control.send_now("é" * 200)
    await next_turn()

    assert text_frames(socket.writes) == ['{"type":"ack"}', "é" * 200]
    assert len(socket.writes) == 1
    protocol.transport.abort()


async def test_a_socket_that_is_not_writable_or_is_closing_is_left_to_send() -> None:
    protocol, socket, control = await open_socket()

    protocol.pause_writing()  # the peer's buffer is full: send() waits, with its deadline
    assert not control.send_now("{}")
    protocol.resume_writing()
    assert control.send_now("{}")

    await protocol.send({"type": "websocket.close", "code": 1000})
    assert not control.send_now("{}")  # after a close, send() refuses as it did
    await next_turn()
    written = b"".join(socket.writes)
    close_1000 = b"\x88\x02\x03\xe8"
    assert written.endswith(close_1000)  # the close frame, after the text frame
    assert text_frames([written[: -len(close_1000)]]) == ["{}"]
    protocol.transport.abort()
