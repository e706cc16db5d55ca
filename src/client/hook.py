"""`meshpeer hook`: a Claude Code hook event on stdin -> POST /hook/set-status.

It must never slow Claude Code down: standard library only, a 1.5 s HTTP timeout, a
hard 1.9 s deadline on the whole process, and exit status 0 whatever happens (broker
down, garbage on stdin, no session on file)."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from collections.abc import Mapping
from typing import Any, BinaryIO

from client.profiles import ProfileError, resolve_identity
from client.sessions import find_session
from client.urls import DEFAULT_URL, http_base

EVENT_STATUS = {
    "UserPromptSubmit": "working",
    "PreToolUse": "working",
    "PostToolUse": "working",
    "Stop": "idle",
    "SessionStart": "idle",
    "SessionEnd": "idle",
}
HTTP_TIMEOUT = 1.5
DEADLINE = 1.9
MAX_EVENT_BYTES = 1 << 20


def status_for(event: Mapping[str, Any]) -> str | None:
    """The status a hook event reports, or None for events that report nothing."""
    name = event.get("hook_event_name")
    return EVENT_STATUS.get(name) if isinstance(name, str) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def build_request(
    event: Mapping[str, Any], env: Mapping[str, str], ppid: int
) -> urllib.request.Request | None:
    """The POST for `event`, with the hook token of the session on file, if any."""
    status = status_for(event)
    if status is None:
        return None
    cwd = _text(event.get("cwd")) or os.getcwd()
    claude_session = _text(event.get("session_id"))
    record = find_session(env.get("MESHPEER_SESSION") or claude_session, cwd, env)
    url = _text(record.get("url")) if record else None
    url = url or _identity_url(env) or DEFAULT_URL
    body: dict[str, Any] = {"cwd": cwd, "pid": ppid, "status": status}
    session_id = _text(record.get("sessionId")) if record else claude_session
    if session_id:
        body["session_id"] = session_id
    headers = {"content-type": "application/json"}
    token = _text(record.get("token")) if record else None
    if token:
        headers["authorization"] = f"Bearer {token}"
    return urllib.request.Request(
        f"{http_base(url)}/hook/set-status",
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )


def _identity_url(env: Mapping[str, str]) -> str | None:
    """MESHPEER_URL, else the profile's URL (MESHPEER_PROFILE, else the default)."""
    try:
        return resolve_identity({}, env).values["url"]
    except ProfileError:
        return env.get("MESHPEER_URL")


def run(stdin: BinaryIO, env: Mapping[str, str], ppid: int) -> int:
    """Read one event, post its status; report any failure on stderr; return 0."""
    try:
        event = json.loads(stdin.read(MAX_EVENT_BYTES) or b"null")
        if not isinstance(event, dict):
            return 0
        request = build_request(event, env, ppid)
        if request is not None:
            urllib.request.urlopen(request, timeout=HTTP_TIMEOUT).close()
    except Exception as exc:  # a hook must never fail Claude Code
        print(f"meshpeer hook: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
    return 0


def _arm_deadline() -> None:
    """Exit 0 after DEADLINE seconds whatever the process is blocked on."""
    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
        signal.setitimer(signal.ITIMER_REAL, DEADLINE)


def main() -> int:
    _arm_deadline()
    # The pid of the process that ran the hook: Claude Code (through its shell).
    return run(sys.stdin.buffer, os.environ, os.getppid())
