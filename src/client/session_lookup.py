"""Finding a session on file: the live one for a sessionId, else the newest for a cwd.
A file whose process is gone is stale: it is removed and skipped. Standard library
only: the hook imports this module and must start fast."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from client.sessions import sessions_dir


def find_session(
    session_id: str | None, cwd: str | None, env: Mapping[str, str] | None = None
) -> dict[str, Any] | None:
    """The live session on file for `session_id`, else the newest one for `cwd`.
    A file whose process is gone is stale: it is removed and skipped."""
    records = _live_records(env)
    if session_id:
        for record in records:
            if record.get("sessionId") == session_id:
                return record
    for record in records:
        if cwd and record.get("cwd") == cwd:
            return record
    return None


def _live_records(env: Mapping[str, str] | None) -> list[dict[str, Any]]:
    """Every readable record whose process is alive, newest first."""
    try:
        paths = sorted(sessions_dir(env).glob("*.json"), key=_mtime, reverse=True)
    except OSError:
        return []
    records = []
    for path in paths:
        record = _read(path)
        if record is None:
            continue
        if _alive(record.get("pid")):
            records.append(record)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    return records


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _read(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True
