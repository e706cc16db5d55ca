"""The meshpeer command line's parser: one line per bad argument (exit 2), every value
checked as it is read (client/arguments.py). The commands are declared by topic:
client/parser_messaging.py, client/parser_identity.py, client/parser_claude.py."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from client import parser_claude as claude
from client import parser_identity as identity_commands
from client import parser_messaging as messaging
from client.urls import DEFAULT_URL


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _identity_flags() -> Parser:
    flags = Parser(add_help=False)
    group = flags.add_argument_group(
        "identity (flag, else environment variable, else --profile, else the default profile)"
    )
    group.add_argument("--url", help=f"broker WebSocket URL [MESHPEER_URL, default {DEFAULT_URL}]")
    group.add_argument("--mesh", help="mesh id, or the slug of a profile's mesh [MESHPEER_MESH]")
    group.add_argument("--member", help="member id [MESHPEER_MEMBER]")
    group.add_argument("--key", help="key file from `meshpeer keygen` [MESHPEER_KEY]")
    group.add_argument("--session", help="session id [MESHPEER_SESSION, default random]")
    group.add_argument(
        "--profile", help="profile from `meshpeer join` [MESHPEER_PROFILE, default: the first]"
    )
    return flags


def build_parser() -> Parser:
    parser = Parser(prog="meshpeer", description="A peer of a meshbroker mesh.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    identity = [_identity_flags()]
    identity_commands.keygen(commands)
    messaging.send(commands, identity)
    messaging.listen(commands, identity)
    messaging.status(commands, identity)
    messaging.peers(commands, identity)
    identity_commands.join(commands)
    identity_commands.whoami(commands, identity)
    messaging.status_of(commands, identity)
    claude.hook(commands)
    claude.mcp(commands, identity)
    claude.install(commands, identity)
    claude.claude(commands)
    return parser
