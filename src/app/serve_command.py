"""`meshbroker serve` and `meshbroker migrate`: the broker in this process, or
migrations once and then N worker processes; or only the migrations."""

from __future__ import annotations

import asyncio
import os

from adapters.postgres.migrate import migrate
from app.config import Settings
from app.database import open_store
from app.server import serve
from app.workers import supervise


def serve_command(settings: Settings, workers_flag: int | None) -> int:
    """`serve [--workers N]`: with N (else BROKER_WORKERS) of 1, the broker serves in this
    process; with more, this process migrates and supervises N workers."""
    workers = settings.workers if workers_flag is None else workers_flag
    if workers != 1:
        return _supervise(settings, workers)
    return asyncio.run(serve(settings))


async def migrate_report(settings: Settings) -> dict[str, list[str]]:
    async with open_store(settings, migrate_first=False) as dsn:
        return {"applied": await migrate(dsn)}


def _supervise(settings: Settings, workers: int) -> int:
    """`serve --workers N`: migrate once, then N worker processes (app/workers.py)."""
    if workers < 1:
        raise ValueError("--workers must be at least 1")
    if settings.database_url is None:
        raise ValueError("--workers needs DATABASE_URL: the embedded Postgres serves one process")
    if not settings.skip_migrate:
        asyncio.run(migrate_report(settings))
    return supervise(settings, workers, os.environ)
