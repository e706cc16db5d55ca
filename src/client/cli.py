"""`meshpeer`: the peer's command line (see docs/claude-code.md).

JSON on stdout, logs on stderr, `--help` everywhere; bad input exits 2 with one line
naming the bad argument, a refused or failed request exits 1. `hook` imports only the
standard library (it runs on every Claude Code event); the other commands import the
WebSocket and crypto stack when they run."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from client.parser import build_parser
from client.usage import UsageError, resolve


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
        if args.command in ("keygen", "whoami"):
            from client import identity_commands

            if args.command == "keygen":
                return identity_commands.keygen(args.out)
            return identity_commands.whoami(args)
        if args.command == "join":
            from client import join

            return join.run(args.invite, args.name, args.key, os.environ)
        from client import commands

        return commands.run(args, resolve(args, os.environ))
    except UsageError as exc:
        print(f"meshpeer {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
