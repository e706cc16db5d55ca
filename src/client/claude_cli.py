"""The `claude` program: found, run with the channel flag (`meshpeer claude`), and asked
to register the MCP server."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from client.claude_files import InstallError, backup

SERVER = "meshpeer"


CHANNEL_FLAG = "--dangerously-load-development-channels"


def claude_binary(env: Mapping[str, str]) -> str | None:
    return env.get("CLAUDE_BIN") or shutil.which("claude", path=env.get("PATH"))


def run_claude(arguments: list[str], env: Mapping[str, str]) -> int:
    binary = claude_binary(env)
    if binary is None:
        raise InstallError(
            "`claude` is not on PATH: install Claude Code "
            "(npm install -g @anthropic-ai/claude-code) or set CLAUDE_BIN"
        )
    argv = [binary, CHANNEL_FLAG, f"server:{SERVER}", *arguments]
    os.execve(binary, argv, {**env, "MESHPEER_CHANNEL": "1"})
    return 0  # not reached


def register_with_claude(
    binary: str,
    scope: str,
    entry: dict[str, Any],
    registered: object,
    config_path: Path,
    stamp: str,
) -> None:
    backup(config_path, stamp)
    if registered is not None:
        _claude(binary, "mcp", "remove", "--scope", scope, SERVER)
    variables = [f"{k}={v}" for k, v in entry["env"].items()]
    env_flags = [flag for pair in variables for flag in ("-e", pair)]
    _claude(
        binary, "mcp", "add", "--scope", scope, SERVER, *env_flags, "--", entry["command"], "mcp"
    )


def _claude(binary: str, *arguments: str) -> None:
    try:
        done = subprocess.run(
            [binary, *arguments], capture_output=True, text=True, timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise InstallError(f"`claude {' '.join(arguments[:2])}` failed: {exc}") from exc
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        raise InstallError(f"`claude {' '.join(arguments)}` failed: {detail[-1:] or ''}")
