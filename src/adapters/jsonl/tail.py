"""Reading one transcript: the newest in a folder, its tail, and the status its last
assistant entry tells. Never raises: unreadable or malformed means None."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import msgspec

from domain.model import Status

_ASSISTANT = b'"assistant"'


_decoder = msgspec.json.Decoder()


def newest_jsonl(folder: Path) -> Path | None:
    """The `*.jsonl` file of `folder` modified last (ties broken by name)."""
    best: tuple[int, str] | None = None
    with os.scandir(folder) as entries:
        for entry in entries:
            if not entry.name.endswith(".jsonl"):
                continue
            try:
                if not entry.is_file():
                    continue
                key = (entry.stat().st_mtime_ns, entry.name)
            except OSError:
                continue
            if best is None or key > best:
                best = key
    return folder / best[1] if best is not None else None


def read_tail(path: Path, limit: int) -> bytes:
    """The last `limit` bytes of the file, cut to whole lines: a first line that began
    before the window is dropped."""
    with path.open("rb") as file:
        size = file.seek(0, os.SEEK_END)
        start = max(0, size - limit)
        file.seek(start)
        data = file.read(limit)
    if start > 0:
        newline = data.find(b"\n")
        data = data[newline + 1 :] if newline >= 0 else b""
    return data


def status_of_tail(data: bytes) -> Status | None:
    """The status the last well-formed assistant entry of these lines implies."""
    for line in reversed(data.split(b"\n")):
        if _ASSISTANT not in line:
            continue
        try:
            entry = _decoder.decode(line)
        except msgspec.DecodeError:
            continue  # a line being written, or damaged: look further back
        if isinstance(entry, dict) and entry.get("type") == "assistant":
            return Status.WORKING if _uses_tool(entry) else Status.IDLE
    return None


def _uses_tool(entry: dict[str, Any]) -> bool:
    message = entry.get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, list):
        return False
    return any(isinstance(block, dict) and block.get("type") == "tool_use" for block in content)
