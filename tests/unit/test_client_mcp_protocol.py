"""The MCP handshake as Claude Code 2.1.332 needs it, on an in-memory transport."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from client.mcp.protocol import Server
from client.mcp.stdio import Message


class FakeStdio:
    def __init__(self) -> None:
        self.lines: asyncio.Queue[bytes | None] = asyncio.Queue()
        self.written: list[Message] = []
        self.wrote = asyncio.Event()

    async def next_line(self) -> bytes | None:
        return await self.lines.get()

    def write(self, message: Message) -> None:
        self.written.append(message)
        self.wrote.set()

    def send(self, message: Message | str) -> None:
        raw = message if isinstance(message, str) else json.dumps(message)
        self.lines.put_nowait(raw.encode())


async def answered(io: FakeStdio, request_id: Any) -> Message:
    while True:
        found = [m for m in io.written if m.get("id") == request_id and "method" not in m]
        if found:
            return found[0]
        io.wrote.clear()
        await asyncio.wait_for(io.wrote.wait(), 5)


def request(request_id: int, method: str, **params: Any) -> Message:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}


async def running(io: FakeStdio) -> tuple[Server, asyncio.Task[None]]:
    server = Server(io, "instructions")  # type: ignore[arg-type]
    return server, asyncio.create_task(server.serve())


async def test_server_discover_and_unknown_methods_are_method_not_found() -> None:
    io = FakeStdio()
    _server, task = await running(io)

    io.send(request(1, "server/discover"))
    io.send(request(2, "prompts/list"))

    assert (await answered(io, 1))["error"]["code"] == -32601
    assert (await answered(io, 2))["error"]["code"] == -32601
    io.lines.put_nowait(None)
    await task


async def test_initialize_answers_the_asked_revision_or_the_newest() -> None:
    io = FakeStdio()
    _server, task = await running(io)

    io.send(request(1, "initialize", protocolVersion="2025-06-18"))
    io.send(request(2, "initialize", protocolVersion="2026-07-28"))

    first, second = (await answered(io, 1))["result"], (await answered(io, 2))["result"]
    assert first["protocolVersion"] == "2025-06-18"
    assert second["protocolVersion"] == "2025-11-25"
    assert first["capabilities"] == {"tools": {}, "experimental": {"claude/channel": {}}}
    assert first["serverInfo"]["name"] == "meshpeer"
    io.lines.put_nowait(None)
    await task


async def test_no_notification_before_initialized() -> None:
    io = FakeStdio()
    server, task = await running(io)
    io.send(request(1, "initialize", protocolVersion="2025-11-25"))
    await answered(io, 1)

    early = server.notify("notifications/claude/channel", {"content": "x"})
    io.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    io.send(request(2, "ping"))
    assert (await answered(io, 2))["result"] == {}
    late = server.notify("notifications/claude/channel", {"content": "y"})

    sent = [m["params"]["content"] for m in io.written if m.get("method")]
    assert (early, late, sent) == (False, True, ["y"])
    io.lines.put_nowait(None)
    await task


async def test_bad_lines_get_errors_and_the_server_carries_on() -> None:
    io = FakeStdio()
    _server, task = await running(io)

    io.send("this is not json")
    io.send(json.dumps([1, 2]))
    io.send(request(3, "ping"))

    await answered(io, 3)
    codes = [m["error"]["code"] for m in io.written if "error" in m]
    assert codes == [-32700, -32600]
    io.lines.put_nowait(None)
    await task


async def test_a_cancelled_request_gets_no_answer() -> None:
    io = FakeStdio()
    server, task = await running(io)
    started = asyncio.Event()

    async def slow(params: dict[str, Any]) -> dict[str, Any]:
        started.set()
        await asyncio.sleep(3600)
        return {}

    server.handle("tools/call", slow)
    io.send(request(1, "tools/call"))
    await started.wait()
    io.send({"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}})
    io.send(request(2, "ping"))
    await answered(io, 2)

    assert [m for m in io.written if m.get("id") == 1] == []
    io.lines.put_nowait(None)
    await task
