"""The meshpeer hook in Claude Code's settings: one per event, merged in place."""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from typing import Any

from client.claude_files import InstallError

HOOK_TIMEOUT = 5


# Event -> matcher (None: the event takes no matcher). claude-code.md section 3.
HOOK_EVENTS: dict[str, str | None] = {
    "SessionStart": None,
    "UserPromptSubmit": None,
    "PreToolUse": "*",
    "PermissionRequest": "*",
    "PostToolUse": "*",
    "PostToolUseFailure": "*",
    "PermissionDenied": "*",
    "Notification": None,
    "Stop": None,
    "StopFailure": None,
    "SessionEnd": None,
}


def merge_hooks(settings: dict[str, Any], command: str) -> dict[str, Any]:
    """`settings` with one meshpeer hook per event of HOOK_EVENTS: an existing meshpeer
    hook is updated in place, every other hook and key is kept."""
    merged: dict[str, Any] = json.loads(json.dumps(settings))
    hooks = merged.setdefault("hooks", {})
    if not isinstance(hooks, dict):
        raise InstallError("settings: `hooks` is not an object; fix it by hand first")
    for event, matcher in HOOK_EVENTS.items():
        groups = hooks.setdefault(event, [])
        if not isinstance(groups, list):
            raise InstallError(f"settings: hooks.{event} is not a list; fix it by hand first")
        ours = [
            hook
            for group in groups
            if isinstance(group, dict)
            for hook in group.get("hooks", [])
            if isinstance(hook, dict) and _is_meshpeer_hook(hook)
        ]
        if ours:
            for hook in ours:
                hook.update({"type": "command", "command": command, "timeout": HOOK_TIMEOUT})
            continue
        group: dict[str, Any] = {
            "hooks": [{"type": "command", "command": command, "timeout": HOOK_TIMEOUT}]
        }
        if matcher is not None:
            group = {"matcher": matcher, **group}
        groups.append(group)
    return merged


def _is_meshpeer_hook(hook: dict[str, Any]) -> bool:
    command = hook.get("command")
    return isinstance(command, str) and command.replace("'", "").endswith("meshpeer hook")


def hook_command(command: str, server_env: Mapping[str, str]) -> str:
    """`meshpeer hook`, told the server's MESHPEER_HOME (hooks run in Claude Code's env)."""
    home = server_env.get("MESHPEER_HOME")
    prefix = f"MESHPEER_HOME={shlex.quote(home)} " if home else ""
    return f"{prefix}{shlex.quote(command)} hook"
