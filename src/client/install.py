"""`meshpeer install` and `meshpeer claude` (claude-code.md section 5).

install: registers the MCP server `meshpeer` (through `claude mcp add` when Claude Code
is on PATH, else straight into `~/.claude.json` or `.mcp.json`) and merges the hooks
into Claude Code's settings. Idempotent; every other key, hook and server stays; a
file it changes is first copied to `<file>.meshpeer-<timestamp>.bak`."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from client.cli import UsageError, print_json, resolve

SERVER = "meshpeer"
CHANNEL_FLAG = "--dangerously-load-development-channels"
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


class InstallError(Exception):
    """A file that cannot be read or written, or `claude mcp` refusing."""


def main(args: argparse.Namespace) -> int:
    try:
        if args.command == "claude":
            return run_claude(args.args, os.environ)
        return install(args, os.environ)
    except (InstallError, UsageError) as exc:
        print(f"meshpeer {args.command}: error: {exc}", file=sys.stderr)
        return 1


# ---------------------------------------------------------------- meshpeer claude


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


# ---------------------------------------------------------------- meshpeer install


def meshpeer_command() -> str:
    """This meshpeer, by absolute path: Claude Code may run it with another PATH."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "meshpeer" and argv0.exists():
        return str(argv0.resolve())
    return shutil.which("meshpeer") or "meshpeer"


def identity_env(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str]:
    """The identity for the server's `env`; empty (and said on stderr) when none is set."""
    # The inbox, session files (and profiles) live there: the server and hooks must agree.
    found = {}
    if env.get("MESHPEER_HOME"):
        found["MESHPEER_HOME"] = str(Path(env["MESHPEER_HOME"]).expanduser().resolve())
    try:
        settings = resolve(args, env)
    except UsageError as exc:
        print(
            f"meshpeer install: no identity ({exc}): the server will ask for one; set "
            "MESHPEER_* (or join a mesh) and run install again",
            file=sys.stderr,
        )
        return found
    if settings.get("profile"):  # a profile of `meshpeer join` serves: no identity copied
        chosen = getattr(args, "profile", None) or env.get("MESHPEER_PROFILE")
        return found | ({"MESHPEER_PROFILE": chosen} if chosen else {})
    keys = {"url": "MESHPEER_URL", "mesh": "MESHPEER_MESH", "member": "MESHPEER_MEMBER"}
    found |= {variable: str(settings[name]) for name, variable in keys.items()}
    found["MESHPEER_KEY"] = str(Path(str(settings["key"])).expanduser().resolve())
    return found


def server_entry(command: str, env: dict[str, str]) -> dict[str, Any]:
    return {"type": "stdio", "command": command, "args": ["mcp"], "env": env}


def install(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    home = Path(env.get("HOME") or Path.home())
    project = Path.cwd()
    command = meshpeer_command()
    entry = server_entry(command, identity_env(args, env))
    settings_path = (
        home / ".claude" / "settings.json"
        if args.scope == "user"
        else project / ".claude" / "settings.json"
    )
    mcp_path = home / ".claude.json" if args.scope == "user" else project / ".mcp.json"
    changed: list[str] = []
    stamp = time.strftime("%Y%m%d%H%M%S")

    settings = _read_json(settings_path)
    merged = merge_hooks(settings, hook_command(command, entry["env"]))
    if merged != settings:
        changed.append(str(settings_path))
        if not args.dry_run:
            _write_json(settings_path, merged, stamp)

    registered = _read_json(mcp_path).get("mcpServers", {}).get(SERVER)
    binary = claude_binary(env)
    via = f"claude mcp add --scope {args.scope}" if binary else str(mcp_path)
    if registered != entry:
        changed.append(str(mcp_path))
        if not args.dry_run:
            if binary:
                _register_with_claude(binary, args.scope, entry, registered, mcp_path, stamp)
            else:
                config = _read_json(mcp_path)
                config.setdefault("mcpServers", {})[SERVER] = entry
                _write_json(mcp_path, config, stamp)
    print_json(
        {
            "changed": changed,
            "dryRun": bool(args.dry_run),
            "mcp": {"name": SERVER, "scope": args.scope, "via": via, **entry},
            "hooks": list(HOOK_EVENTS),
        }
    )
    return 0


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


def _register_with_claude(
    binary: str,
    scope: str,
    entry: dict[str, Any],
    registered: object,
    config_path: Path,
    stamp: str,
) -> None:
    _backup(config_path, stamp)
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


def _read_json(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise InstallError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        value = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        raise InstallError(f"{path} is not valid JSON ({exc}); fix it by hand first") from exc
    if not isinstance(value, dict):
        raise InstallError(f"{path} does not hold a JSON object; fix it by hand first")
    return value


def _write_json(path: Path, value: dict[str, Any], stamp: str) -> None:
    try:
        _backup(path, stamp)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(value, indent=2) + "\n", encoding="utf-8")
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except OSError as exc:
        raise InstallError(f"cannot write {path}: {exc.strerror}") from exc


def _backup(path: Path, stamp: str) -> None:
    if path.exists():
        shutil.copy2(path, path.with_name(f"{path.name}.meshpeer-{stamp}.bak"))


def hook_command(command: str, server_env: Mapping[str, str]) -> str:
    """`meshpeer hook`, told the server's MESHPEER_HOME (hooks run in Claude Code's env)."""
    home = server_env.get("MESHPEER_HOME")
    prefix = f"MESHPEER_HOME={shlex.quote(home)} " if home else ""
    return f"{prefix}{shlex.quote(command)} hook"
