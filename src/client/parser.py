"""The meshpeer command line's parser: one line per bad argument (exit 2), every value
checked as it is read."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from client.urls import DEFAULT_URL

PRIORITIES = ("now", "next", "low")
STATUSES = ("idle", "working", "dnd")


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise SystemExit(2)


def _target(value: str) -> str:
    if value == "*":
        return value
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError("must be a member pubkey (64 lowercase hex) or '*'")
    from client.crypto import OpenError, x25519_public

    try:
        x25519_public(value)
    except OpenError:
        raise argparse.ArgumentTypeError("is not a valid ed25519 public key") from None
    return value


def _positive_int(value: str) -> int:
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if 0 < seconds < float("inf"):
        return seconds
    raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")


def _text(value: str) -> str:
    if value:
        return value
    raise argparse.ArgumentTypeError("must not be empty")


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
    keygen = commands.add_parser("keygen", help="write a new ed25519 key file (mode 0600)")
    keygen.add_argument("--out", required=True, help="key file to create (never overwritten)")
    send = commands.add_parser(
        "send", parents=identity, help="send one message; prints the ack (exit 0 if queued)"
    )
    send.add_argument("--to", required=True, type=_target, help="recipient pubkey, or * for all")
    send.add_argument("--priority", choices=PRIORITIES, default="next")
    send.add_argument(
        "--wait",
        choices=("pushed", "acked"),
        help="then wait for that receipt from every recipient (exit 0 only when it came)",
    )
    send.add_argument(
        "--timeout", type=_positive_seconds, help="with --wait: give up after S seconds"
    )
    send.add_argument(
        "--escalate-after",
        type=_positive_int,
        metavar="S",
        help="next/low only: push it as `now` if not pushed within S seconds",
    )
    send.add_argument("text", type=_text, help="the message (direct messages are encrypted)")
    listen = commands.add_parser(
        "listen",
        parents=identity,
        help="print received messages, one JSON object a line",
        description="Print each received message as a JSON line and acknowledge it. Stops "
        "after --count messages or --timeout seconds (exit 1 if --count was not reached).",
    )
    listen.add_argument("--count", type=_positive_int, help="stop after N messages")
    listen.add_argument("--timeout", type=_positive_seconds, help="stop after S seconds")
    status = commands.add_parser(
        "status",
        parents=identity,
        help="set a manual status",
        description="Set a session's manual status. Without --session/MESHPEER_SESSION, the "
        "session `meshpeer listen` keeps connected in this directory (exit 1 if none runs).",
    )
    status.add_argument("status", choices=STATUSES)
    commands.add_parser("peers", parents=identity, help="list the mesh's live sessions")
    join = commands.add_parser(
        "join",
        help="join a mesh with an invite; writes a profile (the first becomes the default)",
        description="Join the mesh an invite (from `meshbroker invite create`) names: make a "
        "key (unless --key names one), prove it to the broker, and write a profile to "
        "$MESHPEER_HOME/profiles/ that every later command uses with no variables set.",
    )
    join.add_argument("invite", help="the invite string, mbi1....")
    join.add_argument("--name", type=_text, help="your display name [default: your login]")
    join.add_argument("--key", help="an existing key file to join with [default: a new one]")
    commands.add_parser(
        "whoami",
        parents=identity,
        help="print the resolved identity (never the key's content)",
    )
    status_of = commands.add_parser(
        "status-of",
        parents=identity,
        help="print what became of a message you sent, per recipient",
    )
    status_of.add_argument("message_id", metavar="MESSAGE_ID")
    commands.add_parser(
        "hook",
        help="report a Claude Code hook event (JSON on stdin); always exits 0",
        description="Read a Claude Code hook event on stdin, post the matching status "
        "(waiting, working or idle; see docs/claude-code.md) to the broker, and on "
        "UserPromptSubmit, PostToolUse and SessionStart print the session's unread "
        "messages as additionalContext. Never fails and never takes more than 2 s.",
    )
    commands.add_parser(
        "mcp",
        parents=identity,
        help="the MCP server Claude Code runs (JSON-RPC on stdio)",
        description="Serve the mesh tools (mesh_send, mesh_peers, mesh_inbox, mesh_status) "
        "to Claude Code over stdio, holding the session's broker connection. "
        "MESHPEER_CHANNEL=1 also pushes each message as a channel event.",
    )
    install = commands.add_parser(
        "install",
        parents=identity,
        help="register meshpeer with Claude Code (MCP server and hooks)",
        description="Register the MCP server `meshpeer` and merge the hooks into Claude "
        "Code's settings; idempotent, keeps everything else, backs up what it changes.",
    )
    install.add_argument("--scope", choices=("user", "project"), default="user")
    install.add_argument("--dry-run", action="store_true", help="print what would change")
    claude = commands.add_parser(
        "claude",
        help="run Claude Code with meshpeer's channel on",
        description="Run `claude --dangerously-load-development-channels server:meshpeer "
        "ARGS...` with MESHPEER_CHANNEL=1, so that messages arrive as channel events.",
    )
    claude.add_argument("args", nargs="*", help="passed on to claude")
    return parser
