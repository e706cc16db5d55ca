"""The session's unread messages put into Claude's context by `meshpeer hook` (the
`hookSpecificOutput` object). Standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from client import context
from client.inbox import Inbox
from client.inbox_file import inbox_path

CONTEXT_EVENTS = frozenset({"UserPromptSubmit", "PostToolUse", "SessionStart"})


INBOX_BUSY_MS = 400


def context_output(
    event: Mapping[str, Any], env: Mapping[str, str], record: Mapping[str, Any] | None
) -> dict[str, Any] | None:
    """The `hookSpecificOutput` with the session's unread messages (now marked shown),
    or None when the event carries no context or nothing is unread."""
    name = event.get("hook_event_name")
    if name not in CONTEXT_EVENTS:
        return None
    session_id = (text_of(record.get("sessionId")) if record else None) or text_of(
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


def text_of(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
