"""The `meshbroker` command line: its commands, actions and flags (argparse)."""

from __future__ import annotations

import argparse
from typing import Any

from domain.model import Role


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshbroker", description="The mesh message broker.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    serve_cmd = commands.add_parser("serve", help="run the broker until SIGTERM/SIGINT")
    serve_cmd.add_argument(
        "--workers",
        type=int,
        default=None,
        help="broker processes on one port (SO_REUSEPORT), each a full instance;"
        " default BROKER_WORKERS or 1",
    )
    commands.add_parser("migrate", help="apply pending migrations")

    mesh = commands.add_parser("mesh", help="create and list meshes")
    mesh_cmds = mesh.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = mesh_cmds.add_parser("create", help="create a mesh")
    create.add_argument("--name", required=True)
    create.add_argument("--slug")
    mesh_cmds.add_parser("list", help="list meshes")

    member = commands.add_parser("member", help="add, list and revoke members")
    member_cmds = member.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = member_cmds.add_parser("add", help="add a member to a mesh")
    add.add_argument("--mesh", required=True, help="mesh id or slug")
    add.add_argument("--pubkey", required=True, help="ed25519 public key, 64 hex")
    add.add_argument("--name", required=True, help="display name")
    add.add_argument("--role", choices=[r.value for r in Role], default=Role.MEMBER.value)
    listing = member_cmds.add_parser("list", help="list a mesh's members")
    listing.add_argument("--mesh", required=True, help="mesh id or slug")
    revoke = member_cmds.add_parser("revoke", help="revoke a member; closes its sockets")
    revoke.add_argument("--mesh", required=True, help="mesh id or slug")
    revoke.add_argument("--member", required=True, help="member id")
    _invite_commands(commands)
    return parser


def _invite_commands(commands: Any) -> None:
    invite = commands.add_parser("invite", help="create, list and revoke invites")
    invite_cmds = invite.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = invite_cmds.add_parser(
        "create", help="create an invite; prints the `meshpeer join` line for the new member"
    )
    create.add_argument("--mesh", required=True, help="mesh id or slug")
    create.add_argument("--uses", type=int, default=1, help="joins it admits (default 1)")
    create.add_argument(
        "--expires", default="24h", help="lifetime: 30m, 24h, 7d (default 24h, at most 30d)"
    )
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.MEMBER.value)
    create.add_argument(
        "--url", help="the broker's WebSocket URL as members reach it [BROKER_PUBLIC_URL]"
    )
    listing = invite_cmds.add_parser("list", help="list a mesh's invites (never the token)")
    listing.add_argument("--mesh", required=True, help="mesh id or slug")
    revoke = invite_cmds.add_parser("revoke", help="revoke an invite")
    revoke.add_argument("--mesh", required=True, help="mesh id or slug")
    revoke.add_argument("--invite", required=True, help="invite id")
