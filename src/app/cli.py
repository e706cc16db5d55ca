"""`meshbroker`: serve, migrate, and the operator's mesh and member commands.
Reports are JSON on stdout; logs on stderr; bad input exits non-zero with one line."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from adapters.postgres.migrate import MigrationError, migrate
from app.config import ConfigError, Settings
from app.container import Container
from app.database import open_store
from app.logs import configure_logging
from app.server import resolve, serve
from app.workers import supervise
from domain.errors import DomainError, InvalidInput
from domain.invites import check_uses, parse_expiry
from domain.model import Member, Role
from domain.usecases import admin, invites
from domain.usecases.context import Context
from protocol.invite_string import InviteString, check_url


def _parser() -> argparse.ArgumentParser:
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


def _iso(value: Any) -> str | None:
    return (
        None if value is None else value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _member(m: Member) -> dict[str, Any]:
    return {
        "id": m.id,
        "meshId": m.mesh_id,
        "pubkey": m.pubkey,
        "displayName": m.display_name,
        "role": m.role.value,
    }


async def _admin(args: argparse.Namespace, settings: Settings, ctx: Context) -> Any:
    match (args.command, args.action):
        case ("mesh", "create"):
            mesh = await admin.create_mesh(ctx, args.name, args.slug)
            return {"id": mesh.id, "name": mesh.name, "slug": mesh.slug}
        case ("mesh", "list"):
            return [
                {
                    "id": s.mesh.id,
                    "name": s.mesh.name,
                    "slug": s.mesh.slug,
                    "members": s.members,
                    "online": s.online,
                }
                for s in await admin.list_meshes(ctx)
            ]
        case ("member", "add"):
            return _member(
                await admin.add_member(ctx, args.mesh, args.pubkey, args.name, Role(args.role))
            )
        case ("member", "list"):
            return [
                {k: v for k, v in _member(m).items() if k != "meshId"}
                | {"revokedAt": _iso(m.revoked_at)}
                for m in await admin.list_members(ctx, args.mesh)
            ]
        case ("member", "revoke"):
            member = await admin.revoke_member(ctx, args.mesh, args.member)
            return {"id": member.id, "revokedAt": _iso(member.revoked_at)}
        case ("invite", _):
            return await _invite(args, settings, ctx)
    raise AssertionError(args)


async def _invite(args: argparse.Namespace, settings: Settings, ctx: Context) -> Any:
    if args.action == "create":
        url = _invite_url(args.url, settings)
        mesh, issued = await invites.create_invite(
            ctx, args.mesh, args.uses, args.expires, Role(args.role)
        )
        invite = issued.invite
        string = InviteString(url, mesh.id, mesh.slug, issued.token).encode()
        return {
            "id": invite.id,
            "meshId": mesh.id,
            "token": issued.token,
            "uses": invite.uses,
            "expiresAt": _iso(invite.expires_at),
            "invite": string,
            "join": f"meshpeer join {string}",
        }
    if args.action == "list":
        return [
            {
                "id": i.id,
                "uses": i.uses,
                "used": i.used,
                "expiresAt": _iso(i.expires_at),
                "revokedAt": _iso(i.revoked_at),
            }
            for i in await invites.list_invites(ctx, args.mesh)
        ]
    revoked = await invites.revoke_invite(ctx, args.mesh, args.invite)
    return {"id": revoked.id, "revokedAt": _iso(revoked.revoked_at)}


def _check_arguments(args: argparse.Namespace, settings: Settings) -> None:
    """Arguments that can be judged without the database, judged before it is opened."""
    if args.command == "invite" and args.action == "create":
        parse_expiry(args.expires)
        check_uses(args.uses)
        _invite_url(args.url, settings)


def _invite_url(flag: str | None, settings: Settings) -> str:
    if flag is None:
        return settings.invite_url()
    try:
        return check_url(flag)
    except ValueError as exc:
        raise InvalidInput(f"--url {exc}") from None


async def _with_context(settings: Settings, work: Callable[[Context], Awaitable[Any]]) -> Any:
    async with open_store(settings, migrate_first=not settings.skip_migrate) as dsn:
        container = Container(settings=settings, dsn=dsn)
        container.pool_size.override(2)
        await resolve(container.init_resources())
        try:
            return await work(await resolve(container.context()))
        finally:
            await resolve(container.shutdown_resources())


async def _migrate(settings: Settings) -> dict[str, list[str]]:
    async with open_store(settings, migrate_first=False) as dsn:
        return {"applied": await migrate(dsn)}


def _supervise(settings: Settings, workers: int) -> int:
    """`serve --workers N`: migrate once, then N worker processes (app/workers.py)."""
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    if settings.database_url is None:
        raise ValueError("--workers needs DATABASE_URL: the embedded Postgres serves one process")
    if not settings.skip_migrate:
        asyncio.run(_migrate(settings))
    return supervise(settings, workers, os.environ)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"meshbroker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, per_tick=args.command == "serve")
    try:
        if args.command == "serve":
            workers = settings.workers if args.workers is None else args.workers
            if workers != 1:
                return _supervise(settings, workers)
            return asyncio.run(serve(settings))
        if args.command == "migrate":
            report = asyncio.run(_migrate(settings))
        else:
            _check_arguments(args, settings)
            report = asyncio.run(_with_context(settings, lambda ctx: _admin(args, settings, ctx)))
    except (DomainError, MigrationError, ValueError, OSError) as exc:
        print(f"meshbroker: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
