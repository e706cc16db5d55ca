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
