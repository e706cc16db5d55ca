"""`meshpeer install` and `meshpeer claude` (claude-code.md section 5).

install: registers the MCP server `meshpeer` (through `claude mcp add` when Claude Code
is on PATH, else straight into `~/.claude.json` or `.mcp.json`) and merges the hooks
into Claude Code's settings. Idempotent; every other key, hook and server stays; a
file it changes is first copied to `<file>.meshpeer-<timestamp>.bak`."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from client.claude_cli import (
    SERVER,
    claude_binary,
    register_with_claude,
    run_claude,
)
from client.claude_files import InstallError, read_json, write_json
from client.claude_hooks import (
    HOOK_EVENTS,
    hook_command,
    merge_hooks,
)
from client.usage import UsageError, print_json, resolve


def main(args: argparse.Namespace) -> int:
    try:
        if args.command == "claude":
            return run_claude(args.args, os.environ)
        return install(args, os.environ)
    except (InstallError, UsageError) as exc:
        print(f"meshpeer {args.command}: error: {exc}", file=sys.stderr)
        return 1


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

    settings = read_json(settings_path)
    merged = merge_hooks(settings, hook_command(command, entry["env"]))
    if merged != settings:
        changed.append(str(settings_path))
        if not args.dry_run:
            write_json(settings_path, merged, stamp)

    registered = read_json(mcp_path).get("mcpServers", {}).get(SERVER)
    binary = claude_binary(env)
    via = f"claude mcp add --scope {args.scope}" if binary else str(mcp_path)
    if registered != entry:
        changed.append(str(mcp_path))
        if not args.dry_run:
            if binary:
                register_with_claude(binary, args.scope, entry, registered, mcp_path, stamp)
            else:
                config = read_json(mcp_path)
                config.setdefault("mcpServers", {})[SERVER] = entry
                write_json(mcp_path, config, stamp)
    print_json(
        {
            "changed": changed,
            "dryRun": bool(args.dry_run),
            "mcp": {"name": SERVER, "scope": args.scope, "via": via, **entry},
            "hooks": list(HOOK_EVENTS),
        }
    )
    return 0
