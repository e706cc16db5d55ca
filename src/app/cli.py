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

from adapters.postgres.migrate import MigrationError
from app.admin_commands import admin_report
from app.cli_parser import build_parser
from app.config import ConfigError, Settings
from app.container import Container
from app.database import open_store
from app.invite_commands import check_invite_arguments, invite_report
from app.logs import configure_logging
from app.serve_command import migrate_report, serve_command
from app.server import resolve
from domain.errors import DomainError
from domain.usecases.context import Context


async def _with_context(settings: Settings, work: Callable[[Context], Awaitable[Any]]) -> Any:
    async with open_store(settings, migrate_first=not settings.skip_migrate) as dsn:
        container = Container(settings=settings, dsn=dsn)
        container.pool_size.override(2)
        await resolve(container.init_resources())
        try:
            return await work(await resolve(container.context()))
        finally:
            await resolve(container.shutdown_resources())


async def _report(args: argparse.Namespace, settings: Settings, ctx: Context) -> Any:
    if args.command == "invite":
        return await invite_report(args, settings, ctx)
    return await admin_report(args, ctx)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"meshbroker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, per_tick=args.command == "serve")
    try:
        if args.command == "serve":
            return serve_command(settings, args.workers)
        if args.command == "migrate":
            report = asyncio.run(migrate_report(settings))
        else:
            check_invite_arguments(args, settings)
            report = asyncio.run(_with_context(settings, lambda ctx: _report(args, settings, ctx)))
    except (DomainError, MigrationError, ValueError, OSError) as exc:
        print(f"meshbroker: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
