"""A JSON-RPC-lines client for `meshpeer mcp`, as Claude Code drives it over stdio."""

from __future__ import annotations

import itertools
import json
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.integration.support import WAIT
from tests.integration.test_meshpeer import command

Message = dict[str, Any]


class McpProcess:
    """One `meshpeer mcp`; every stdout line must be a JSON-RPC message."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            command(["meshpeer", "mcp"]),
            env=env,
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.received: queue.Queue[Message] = queue.Queue()
        self.notifications: list[Message] = []
        self.responses: dict[Any, Message] = {}
        self.stderr: list[str] = []
        self.transcript: list[tuple[str, Message]] = []
        self._ids = itertools.count(1)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def _read_stdout(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)  # a non-JSON line fails here, and the test with it
            assert message.get("jsonrpc") == "2.0", line
            self.received.put(message)

    def _read_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    @property
    def log(self) -> str:
        return "".join(self.stderr[-30:])

    def write(self, message: Message) -> None:
        assert self.proc.stdin is not None
        self.transcript.append(("->", message))
        self.proc.stdin.write(json.dumps(message) + "\n")
        self.proc.stdin.flush()

    def _pump(self, until: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        deadline = time.monotonic() + timeout
        while (found := until()) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {what} within {timeout} s; stderr:\n{self.log}")
            try:
                message = self.received.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            self.transcript.append(("<-", message))
            if "id" in message and "method" not in message:
                self.responses[message["id"]] = message
            else:
                self.notifications.append(message)
        return found

    def request(self, method: str, params: Message | None = None, timeout: float = WAIT) -> Message:
        return self.answer(self.begin(method, params), timeout)

    def begin(self, method: str, params: Message | None = None) -> int:
        """Send a request without waiting for its answer (see `answer`)."""
        request_id = next(self._ids)
        message: Message = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        self.write(message)
        return request_id

    def answer(self, request_id: int, timeout: float = WAIT) -> Message:
        return self._pump(
            lambda: self.responses.pop(request_id, None), f"answer to request {request_id}", timeout
        )  # type: ignore[no-any-return]

    def notify(self, method: str, params: Message | None = None) -> None:
        message: Message = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.write(message)

    def handshake(self, version: str = "2025-11-25") -> Message:
        """What Claude Code 2.1.332 does: probe server/discover, fall back to initialize."""
        probe = self.request("server/discover", {})
        assert probe["error"]["code"] == -32601, probe
        answer = self.request(
            "initialize",
            {
                "protocolVersion": version,
                "capabilities": {},
                "clientInfo": {"name": "test-client", "version": "1"},
            },
        )
        self.notify("notifications/initialized")
        return answer["result"]  # type: ignore[no-any-return]

    def call(self, tool: str, timeout: float = WAIT, **arguments: Any) -> Message:
        answer = self.request("tools/call", {"name": tool, "arguments": arguments}, timeout)
        result: Message = answer["result"]
        if not result.get("isError"):
            assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
        return result

    def structured(self, tool: str, timeout: float = WAIT, **arguments: Any) -> Message:
        result = self.call(tool, timeout, **arguments)
        assert not result.get("isError"), result["content"][0]["text"]
        return result["structuredContent"]  # type: ignore[no-any-return]

    def notification(self, method: str, timeout: float = WAIT) -> Message:
        def first() -> Message | None:
            for n in self.notifications:
                if n.get("method") == method:
                    self.notifications.remove(n)
                    return n
            return None

        return self._pump(first, f"notification {method}", timeout)  # type: ignore[no-any-return]

    def drain(self) -> None:
        """Take every line already written (answers a ping first, so none is in flight)."""
        self.request("ping")

    def stop(self) -> int:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()  # how Claude Code ends a stdio server
            try:
                return self.proc.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.proc.send_signal(signal.SIGKILL)
        return self.proc.wait(WAIT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(WAIT)
