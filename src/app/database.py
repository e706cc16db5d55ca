"""Where the broker's Postgres is: DATABASE_URL, or an embedded one outside production."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from adapters.postgres.embedded import EmbeddedPostgres
from adapters.postgres.migrate import migrate
from app.config import Settings, redact_url

log = logging.getLogger("meshbroker.db")


@asynccontextmanager
async def open_store(settings: Settings, *, migrate_first: bool) -> AsyncIterator[str]:
    """Yield the DSN to use, with migrations applied first when asked."""
    embedded = None
    if settings.database_url is not None:
        dsn = settings.database_url
        log.info("database", extra={"ctx": {"url": redact_url(dsn)}})
    else:
        embedded = EmbeddedPostgres(settings.data_dir)
        dsn = await asyncio.to_thread(embedded.start)
        log.info(
            "embedded postgres",
            extra={"ctx": {"data_dir": str(settings.data_dir), "note": "no DATABASE_URL set"}},
        )
    try:
        if migrate_first:
            applied = await migrate(dsn)
            log.info("migrations applied", extra={"ctx": {"applied": applied}})
        yield dsn
    finally:
        if embedded is not None:
            embedded.stop()
