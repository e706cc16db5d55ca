"""Session files: `$MESHPEER_HOME/sessions/<sessionId>.json` (default `~/.meshpeer`), mode
0600, written while `meshpeer listen` is connected so that `meshpeer hook`, run by Claude
Code in the same cwd, can send the session's hook token. Standard library only: the
hook imports this module and must start fast."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_SAFE_NAME = re.compile(r"[A-Za-z0-9._-]{1,128}")


def home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    configured = env.get("MESHPEER_HOME")
    return Path(configured) if configured else Path.home() / ".meshpeer"


def sessions_dir(env: Mapping[str, str] | None = None) -> Path:
    return home(env) / "sessions"


def session_path(session_id: str, env: Mapping[str, str] | None = None) -> Path:
    safe = _SAFE_NAME.fullmatch(session_id) and not session_id.startswith(".")
    name = session_id if safe else hashlib.sha256(session_id.encode()).hexdigest()
    return sessions_dir(env) / f"{name}.json"


def write_session(record: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Path:
    """Write (atomically, mode 0600) the record of a connected session."""
    directory = sessions_dir(env)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = session_path(str(record["sessionId"]), env)
    temporary = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)
        json.dump(dict(record), out)
    os.replace(temporary, path)
    return path


def remove_session(session_id: str, env: Mapping[str, str] | None = None) -> None:
    with contextlib.suppress(FileNotFoundError):
        session_path(session_id, env).unlink()


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
