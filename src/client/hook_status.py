"""The status a Claude Code hook event reports: working, idle or waiting (for a
person), or none for events that say nothing about it. Standard library only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


def status_for(event: Mapping[str, Any]) -> str | None:
    """The status a hook event reports, or None for events that report nothing."""
    name = event.get("hook_event_name")
    if name == "Notification":
        kind = event.get("notification_type")
        return NOTIFICATION_STATUS.get(kind) if isinstance(kind, str) else None
    return EVENT_STATUS.get(name) if isinstance(name, str) else None
