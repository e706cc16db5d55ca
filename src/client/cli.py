"""`meshpeer`: the peer's command line (see docs/claude-code.md).

JSON on stdout, logs on stderr, `--help` everywhere; bad input exits 2 with one line
naming the bad argument, a refused or failed request exits 1. `hook` imports only the
standard library (it runs on every Claude Code event); the other commands import the
WebSocket and crypto stack when they run."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from client.parser import build_parser
from client.profile_files import ProfileError
from client.profiles import IDENTITY_ENV, resolve_identity
from client.urls import DEFAULT_URL
from client.usage import UsageError, print_json, resolve


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["claude"] and argv[1:] not in (["-h"], ["--help"]):
        # Everything after `claude` is Claude Code's, flags included.
        argv = ["claude", "--", *argv[1:]]
    args = build_parser().parse_args(argv)
    if args.command == "hook":
        from client import hook

        return hook.main()
    if args.command == "mcp":  # never fails the handshake on a missing identity
        from client.mcp.main import main as serve_mcp

        return serve_mcp(args)
    if args.command in ("install", "claude"):
        from client import install

        return install.main(args)
    try:
        if args.command == "keygen":
            return _keygen(args.out)
        if args.command == "join":
            from client import join

            return join.run(args.invite, args.name, args.key, os.environ)
        if args.command == "whoami":
            return _whoami(args)
        from client import commands

        return commands.run(args, resolve(args, os.environ))
    except UsageError as exc:
        print(f"meshpeer {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _whoami(args: argparse.Namespace) -> int:
    flags = {name: getattr(args, name, None) for name in IDENTITY_ENV}
    try:
        resolved = resolve_identity(flags, os.environ, args.profile)
    except ProfileError as exc:
        raise UsageError(exc.argument, str(exc)) from None
    values = resolved.values
    report: dict[str, Any] = {
        "url": values["url"] or DEFAULT_URL,
        "meshId": values["mesh"],
        "memberId": values["member"],
        "key": values["key"],
        "pubkey": None,
        "profile": resolved.profile,
        "from": resolved.source,
    }
    if values["key"]:
        from pathlib import Path

        from client.identity import KeyFileError, load_key

        try:
            report["pubkey"] = load_key(Path(values["key"])).pubkey
        except KeyFileError as exc:
            raise UsageError("--key", str(exc)) from None
    print_json(report)
    missing = [f"--{name}" for name in ("mesh", "member", "key") if not values[name]]
    if missing:
        print(
            f"meshpeer whoami: no {', '.join(missing)}: join a mesh (`meshpeer join INVITE`) "
            "or set MESHPEER_MESH, MESHPEER_MEMBER and MESHPEER_KEY",
            file=sys.stderr,
        )
        return 1
    return 0


def _keygen(out: str) -> int:
    from pathlib import Path

    from client.identity import KeyFileError, generate, write_key

    identity = generate()
    try:
        write_key(Path(out), identity)
    except KeyFileError as exc:
        raise UsageError("--out", str(exc)) from None
    print_json({"pubkey": identity.pubkey})
    return 0


if __name__ == "__main__":
    sys.exit(main())
