"""One asyncpg pool, through which the Postgres adapters run their statements; its
health probe (adapters/postgres/health.py) and the translation of driver errors
(adapters/postgres/driver_errors.py) are beside it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.driver_errors import DRIVER_ERRORS, store_error
from adapters.postgres.health import HealthProbe
from domain.errors import DomainError, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

Connection = Any  # asyncpg.Connection (asyncpg ships no type information)
Record = Any  # asyncpg.Record

# Soft state (status, heartbeats, pending hook signals; ADR 0006) is written without
# waiting for the WAL flush. A statement starts `WITH {SOFT}` and joins `soft` into
# its FROM: that is `SET LOCAL synchronous_commit = off` for the statement's own
# (implicit) transaction, without a transaction block, so the write stays one round
# trip. The setting reverts when that transaction ends. Messages never use it.
SOFT = "soft AS (SELECT set_config('synchronous_commit', 'off', true) AS synchronous_commit)"


async def _keep_session(conn: Connection) -> None:
    """asyncpg's default reset costs a round trip per release (`RESET ALL; UNLISTEN *;
    ...`). Our statements leave no session state: settings are transaction-local
    (`set_config(..., true)`), locks are transaction-scoped, LISTEN has its own
    connection. asyncpg still rolls back an open transaction before calling this."""


class Database:
    """Owns the pool. Adapters run their statements through `run` (or the fetch
    shorthands), which acquire a connection and translate errors."""

    def __init__(
        self,
        pool: Any,
        *,
        dsn: str,
        connect_timeout: float = 5.0,
        acquire_timeout: float = 10.0,
        health_timeout: float = 2.0,
    ) -> None:
        self._pool = pool
        self._acquire_timeout = acquire_timeout
        self._health = HealthProbe(dsn, connect_timeout, health_timeout)

    @classmethod
    async def create(
        cls,
        dsn: str,
        min_size: int = 1,
        max_size: int = 10,
        *,
        connect_timeout: float = 5.0,
        command_timeout: float | None = 30.0,
        acquire_timeout: float = 10.0,
        health_timeout: float = 2.0,
    ) -> Database:
        """Open the pool. Raise StoreUnavailable when the server cannot be reached
        (with `min_size=0` nothing is connected until the first statement)."""
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                timeout=connect_timeout,
                command_timeout=command_timeout,
                reset=_keep_session,
            )
        except DomainError:
            raise
        except DRIVER_ERRORS as exc:
            raise store_error(exc) from exc
        db = cls(
            pool,
            dsn=dsn,
            connect_timeout=connect_timeout,
            acquire_timeout=acquire_timeout,
            health_timeout=health_timeout,
        )
        if min_size > 0:
            await db._warn_if_commits_are_not_durable()
        return db

    async def _warn_if_commits_are_not_durable(self) -> None:
        # Messages rely on the server's synchronous_commit (ADR 0006); say so when a
        # server, database or role default of `off` would make `queued: true` a lie.
        try:
            setting = await self.fetchval("SELECT current_setting('synchronous_commit')")
        except StoreUnavailable:
            return
        if setting == "off":
            log.warning(
                "the database's synchronous_commit is off: an acknowledged message can be "
                "lost if the server crashes; set it to on (ADR 0006)"
            )

    @property
    def pool(self) -> Any:
        return self._pool

    async def close(self) -> None:
        """Close the probe's connection and the pool, waiting briefly for connections
        in use, then terminating."""
        await self._health.close()
        try:
            await asyncio.wait_for(self._pool.close(), timeout=5.0)
        except DRIVER_ERRORS:
            self._pool.terminate()

    async def health(self) -> bool:
        """True when the database answers its health probe (adapters/postgres/health.py)
        in time; False once closed. Never raises."""
        return await self._health.check()

    async def run(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Run `work` on a pooled connection. Domain errors raised by `work` pass
        through; every driver error becomes StoreUnavailable (or InvalidInput)."""
        try:
            async with self._pool.acquire(timeout=self._acquire_timeout) as conn:
                return await work(conn)
        except DomainError:
            raise
        except DRIVER_ERRORS as exc:
            raise store_error(exc) from exc

    async def fetch(self, sql: str, *args: Any) -> list[Record]:
        return await self.run(lambda conn: conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Record | None:
        return await self.run(lambda conn: conn.fetchrow(sql, *args))

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.run(lambda conn: conn.fetchval(sql, *args))

    async def execute(self, sql: str, *args: Any) -> str:
        result: str = await self.run(lambda conn: conn.execute(sql, *args))
        return result
