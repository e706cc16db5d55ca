"""The meshpeer commands Claude Code runs or that set it up, as the parser declares
them: hook, mcp, install, claude (docs/claude-code.md)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


def hook(commands: Any) -> None:
    commands.add_parser(
        "hook",
        help="report a Claude Code hook event (JSON on stdin); always exits 0",
        description="Read a Claude Code hook event on stdin, post the matching status "
        "(waiting, working or idle; see docs/claude-code.md) to the broker, and on "
        "UserPromptSubmit, PostToolUse and SessionStart print the session's unread "
        "messages as additionalContext. Never fails and never takes more than 2 s.",
    )


def mcp(commands: Any, identity: Sequence[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "mcp",
        parents=identity,
        help="the MCP server Claude Code runs (JSON-RPC on stdio)",
        description="Serve the mesh tools (mesh_send, mesh_peers, mesh_inbox, mesh_status) "
        "to Claude Code over stdio, holding the session's broker connection. "
        "MESHPEER_CHANNEL=1 also pushes each message as a channel event.",
    )


def install(commands: Any, identity: Sequence[argparse.ArgumentParser]) -> None:
    install = commands.add_parser(
        "install",
        parents=identity,
        help="register meshpeer with Claude Code (MCP server and hooks)",
        description="Register the MCP server `meshpeer` and merge the hooks into Claude "
        "Code's settings; idempotent, keeps everything else, backs up what it changes.",
    )
    install.add_argument("--scope", choices=("user", "project"), default="user")
    install.add_argument("--dry-run", action="store_true", help="print what would change")


def claude(commands: Any) -> None:
    claude = commands.add_parser(
        "claude",
        help="run Claude Code with meshpeer's channel on",
        description="Run `claude --dangerously-load-development-channels server:meshpeer "
        "ARGS...` with MESHPEER_CHANNEL=1, so that messages arrive as channel events.",
    )
    claude.add_argument("args", nargs="*", help="passed on to claude")
