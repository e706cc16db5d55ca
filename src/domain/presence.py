"""Presence rules that do not need the store: which session a hook report means."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from domain.model import Presence


def pick_hook_target(
    candidates: Sequence[Presence], session_id: str | None, pid: int | None, cwd: str
) -> Presence | None:
    """By session id if a live presence has it, else by (pid, cwd), else the most
    recently connected presence in that cwd. `candidates` come newest first."""
    for rule in (_by_session, _by_pid_and_cwd, _by_cwd):
        found = next((p for p in candidates if rule(p, session_id, pid, cwd)), None)
        if found is not None:
            return found
    return None


def _by_session(p: Presence, session_id: str | None, pid: int | None, cwd: str) -> bool:
    return session_id is not None and p.session_id == session_id


# A guess by pid or cwd never lands on a one-shot command's transient session (a
# `meshpeer send` run from a Claude Code session shares its cwd): that session is not
# the one the hook reports on.


def _by_pid_and_cwd(p: Presence, session_id: str | None, pid: int | None, cwd: str) -> bool:
    return pid is not None and p.pid == pid and p.cwd == cwd and not p.transient


def _by_cwd(p: Presence, session_id: str | None, pid: int | None, cwd: str) -> bool:
    return p.cwd == cwd and not p.transient


def hash_token(token: str) -> str:
    """Hook tokens are stored hashed: a leaked table does not leak bearer tokens."""
    return hashlib.sha256(token.encode()).hexdigest()
