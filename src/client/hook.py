"""`meshpeer hook`: a Claude Code hook event on stdin -> the session's status posted to
`/hook/set-status`, and its unread messages put into Claude's context.

It must never slow Claude Code down: standard library only, a 1.5 s HTTP timeout, a
hard 1.9 s deadline on the whole process, and exit status 0 whatever happens (broker
down, garbage on stdin, no session on file). Stdout carries nothing but the one
`hookSpecificOutput` object, and only when there are messages to show."""

from __future__ import annotations

import json
import os
import signal
import sys
import urllib.request
from collections.abc import Mapping
from typing import Any, BinaryIO, TextIO

from client import context
from client.inbox import Inbox, inbox_path
from client.profiles import ProfileError, resolve_identity
from client.sessions import find_session
from client.urls import DEFAULT_URL, http_base

EVENT_STATUS = {
    "PermissionRequest": "waiting",
    "UserPromptSubmit": "working",
    "PreToolUse": "working",
    "PostToolUse": "working",
    "PostToolUseFailure": "working",
    "PermissionDenied": "working",
    "Stop": "idle",
    "StopFailure": "idle",
    "SessionStart": "idle",
    "SessionEnd": "idle",
}
NOTIFICATION_STATUS = {
    "permission_prompt": "waiting",
    "elicitation_dialog": "waiting",
    "idle_prompt": "idle",
}
CONTEXT_EVENTS = frozenset({"UserPromptSubmit", "PostToolUse", "SessionStart"})
HTTP_TIMEOUT = 1.5
DEADLINE = 1.9
INBOX_BUSY_MS = 400
MAX_EVENT_BYTES = 1 << 20


def status_for(event: Mapping[str, Any]) -> str | None:
    """The status a hook event reports, or None for events that report nothing."""
    name = event.get("hook_event_name")
    if name == "Notification":
        kind = event.get("notification_type")
        return NOTIFICATION_STATUS.get(kind) if isinstance(kind, str) else None
    return EVENT_STATUS.get(name) if isinstance(name, str) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _session(event: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any] | None:
    cwd = _text(event.get("cwd")) or os.getcwd()
    return find_session(env.get("MESHPEER_SESSION") or _text(event.get("session_id")), cwd, env)


def build_request(
    event: Mapping[str, Any],
    env: Mapping[str, str],
    ppid: int,
    record: Mapping[str, Any] | None = None,
) -> urllib.request.Request | None:
    """The POST for `event`, with the hook token of the session on file, if any."""
    status = status_for(event)
    if status is None:
        return None
    cwd = _text(event.get("cwd")) or os.getcwd()
    claude_session = _text(event.get("session_id"))
    if record is None:
        record = _session(event, env)
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


def context_output(
    event: Mapping[str, Any], env: Mapping[str, str], record: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The `hookSpecificOutput` with the session's unread messages (now marked shown),
    or None when the event carries no context or nothing is unread."""
    name = event.get("hook_event_name")
    if name not in CONTEXT_EVENTS:
        return None
    session_id = (_text(record.get("sessionId")) if record else None) or _text(
        event.get("session_id")
    )
    path = inbox_path(env)
    if session_id is None or not path.exists():
        return None
    inbox = Inbox(path, busy_timeout_ms=INBOX_BUSY_MS)
    try:
        shown = inbox.claim_unread(session_id, f"hook:{name}", fits=context.fits)
        rest = inbox.unread(session_id, limit=1)
        waiting = inbox.count_unread(session_id) if rest else 0
    finally:
        inbox.close()
    oversized = rest[0] if rest and not shown else None
    if not shown and oversized is None:
        return None
    text = context.render(shown, waiting, oversized)
    return {"hookSpecificOutput": {"hookEventName": name, "additionalContext": text}}


def run(stdin: BinaryIO, env: Mapping[str, str], ppid: int, stdout: TextIO | None = None) -> int:
    """Read one event, print its context, post its status; report any failure on
    stderr; return 0."""
    out = sys.stdout if stdout is None else stdout
    try:
        event = json.loads(stdin.read(MAX_EVENT_BYTES) or b"null")
        if not isinstance(event, dict):
            return 0
        record = _session(event, env)
        try:
            output = context_output(event, env, record)
        except Exception as exc:  # the status still goes out
            _report(exc)
            output = None
        if output is not None:
            out.write(json.dumps(output, ensure_ascii=False) + "\n")
            out.flush()
        request = build_request(event, env, ppid, record)
        if request is not None:
            urllib.request.urlopen(request, timeout=HTTP_TIMEOUT).close()
    except Exception as exc:  # a hook must never fail Claude Code
        _report(exc)
    return 0


def _report(exc: Exception) -> None:
    print(f"meshpeer hook: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)


def _arm_deadline() -> None:
    """Exit 0 after DEADLINE seconds whatever the process is blocked on."""
    if hasattr(signal, "setitimer"):
        signal.signal(signal.SIGALRM, lambda *_: os._exit(0))
        signal.setitimer(signal.ITIMER_REAL, DEADLINE)


def main() -> int:
    _arm_deadline()
    # The pid of the process that ran the hook: Claude Code (through its shell).
    return run(sys.stdin.buffer, os.environ, os.getppid())
