"""The MCP handshake and dispatch, as Claude Code 2.1.332 needs it (claude-code.md 1).

- `server/discover` (the 2026-07-28 stateless probe, on which channel events cannot
  travel) and every other unknown method: JSON-RPC error -32601, so Claude Code falls
  back to `initialize`.
- `initialize`: the requested revision when supported, else the newest; tools and
  the `claude/channel` capability; short instructions.
- No notification leaves before the client's `notifications/initialized`.
- Requests run concurrently (`mesh_inbox` may wait for minutes); a
  `notifications/cancelled` cancels one, and it then gets no answer."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from client.mcp.stdio import Message, Stdio

log = logging.getLogger("meshpeer")

SUPPORTED = ("2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05")
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS, INTERNAL = (
    -32700,
    -32600,
    -32601,
    -32602,
    -32603,
)
VERSION = "0.1.0"


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


Handler = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class Server:
    """One client's MCP session over `io`."""

    def __init__(self, io: Stdio, instructions: str) -> None:
        self._io = io
        self._instructions = instructions
        self._handlers: dict[str, Handler] = {"ping": self._ping}
        self._running: dict[Any, asyncio.Task[None]] = {}
        self._initialized = asyncio.Event()
        self.on_initialized: list[Callable[[], None]] = []

    @property
    def initialized(self) -> bool:
        return self._initialized.is_set()

    def handle(self, method: str, handler: Handler) -> None:
        self._handlers[method] = handler

    def notify(self, method: str, params: dict[str, Any]) -> bool:
        """Send a notification; False (nothing sent) before `notifications/initialized`."""
        if not self.initialized:
            return False
        self._io.write({"jsonrpc": "2.0", "method": method, "params": params})
        return True

    async def serve(self) -> None:
        """Answer messages until stdin ends."""
        try:
            while (line := await self._io.next_line()) is not None:
                self._receive(line)
        finally:
            for task in list(self._running.values()):
                task.cancel()

    def _receive(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            self._error(None, PARSE_ERROR, "parse error: each line must be one JSON object")
            return
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            self._error(None, INVALID_REQUEST, "invalid request: one JSON-RPC 2.0 object a line")
            return
        method = message.get("method")
        if not isinstance(method, str):
            return  # a response to a request of ours: we send none
        if "id" not in message:
            self._notification(method, message.get("params"))
            return
        request_id = message["id"]
        params = message.get("params")
        task = asyncio.create_task(self._answer(request_id, method, params))
        self._running[request_id] = task
        task.add_done_callback(lambda _: self._running.pop(request_id, None))

    def _notification(self, method: str, params: object) -> None:
        if method == "notifications/initialized":
            if not self._initialized.is_set():
                self._initialized.set()
                for callback in self.on_initialized:
                    callback()
        elif method == "notifications/cancelled" and isinstance(params, dict):
            task = self._running.get(params.get("requestId"))
            if task is not None:
                task.cancel()

    async def _answer(self, request_id: Any, method: str, params: object) -> None:
        handler = self._handlers.get(method)
        if method == "initialize":
            handler = self._initialize
        try:
            if handler is None:
                raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")
            if params is not None and not isinstance(params, dict):
                raise RpcError(INVALID_PARAMS, "params must be an object")
            result = await handler(params or {})
        except asyncio.CancelledError:
            return
        except RpcError as exc:
            self._error(request_id, exc.code, exc.message)
            return
        except Exception as exc:
            log.exception("%s failed", method)
            self._error(request_id, INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
            return
        self._io.write({"jsonrpc": "2.0", "id": request_id, "result": result})

    def _error(self, request_id: Any, code: int, message: str) -> None:
        error = {"code": code, "message": message}
        self._io.write({"jsonrpc": "2.0", "id": request_id, "error": error})

    async def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "protocolVersion": negotiated(params.get("protocolVersion")),
            "capabilities": {"tools": {}, "experimental": {"claude/channel": {}}},
            "serverInfo": {"name": "meshpeer", "version": VERSION},
            "instructions": self._instructions,
        }

    async def _ping(self, params: dict[str, Any]) -> dict[str, Any]:
        return {}


def negotiated(requested: object) -> str:
    return requested if isinstance(requested, str) and requested in SUPPORTED else SUPPORTED[0]


__all__ = ["Message", "RpcError", "Server"]
