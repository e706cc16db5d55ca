"""JSON-RPC 2.0 over stdio, one message a line (the MCP stdio transport).

Stdout carries JSON-RPC messages and nothing else: one byte of anything else breaks
the session, so logs go to stderr. Stdin is read by a thread (a pipe, a file or a tty
all work the same), and every write happens on the event loop's thread, a whole
line at a time."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
from typing import Any, BinaryIO

log = logging.getLogger("meshpeer")
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
            loop.call_soon_threadsafe(self._lines.put_nowait, EOF_MARK)
        except (OSError, ValueError, RuntimeError) as exc:  # stdin gone, or the loop closed
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._lines.put_nowait, EOF_MARK)
            log.debug("stdin reader stopped: %s", exc)

    async def next_line(self) -> bytes | None:
        """The next non-empty line, or None at end of input."""
        while True:
            line = await self._lines.get()
            if line is None or line.strip():
                return line

    def write(self, message: Message) -> None:
        """Write one message. A closed stdout means the client is gone, which
        the end of stdin reports, so the failure is logged and the message dropped."""
        data = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            self._stdout.write(data + b"\n")
            self._stdout.flush()
        except (BrokenPipeError, ValueError) as exc:
            log.warning("stdout closed, message not written: %s", exc)
