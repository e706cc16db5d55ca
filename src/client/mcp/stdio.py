"""JSON-RPC 2.0 over stdio, one message a line (the MCP stdio transport).

Stdout carries JSON-RPC messages and nothing else: one byte of anything else breaks
the session, so logs go to stderr. Stdin is read by a thread (a pipe, a file or a tty
all work the same), and every write happens on the event loop's thread, a whole
line at a time."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from typing import Any, BinaryIO

Message = dict[str, Any]
EOF_MARK = None


class Stdio:
    def __init__(self, stdin: BinaryIO | None = None, stdout: BinaryIO | None = None) -> None:
        self._stdin = stdin or sys.stdin.buffer
        self._stdout = stdout or sys.stdout.buffer
        self._lines: asyncio.Queue[bytes | None] = asyncio.Queue()

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._read, args=(loop,), name="mcp-stdin", daemon=True).start()

    def _read(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            for line in self._stdin:
                loop.call_soon_threadsafe(self._lines.put_nowait, line)
        finally:
            loop.call_soon_threadsafe(self._lines.put_nowait, EOF_MARK)

    async def next_line(self) -> bytes | None:
        """The next non-empty line, or None at end of input."""
        while True:
            line = await self._lines.get()
            if line is None or line.strip():
                return line

    def write(self, message: Message) -> None:
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        self._stdout.write(data + b"\n")
        self._stdout.flush()
