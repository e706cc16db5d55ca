"""One asyncpg pool, a health probe on a connection of its own, and the one place where
driver errors become domain errors: no raw asyncpg exception leaves this package."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]

from domain.errors import DomainError, InvalidInput, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

Connection = Any  # asyncpg.Connection (asyncpg ships no type information)
Record = Any  # asyncpg.Record

# Everything that means "the store did not do it": server errors, a closed or broken
# pool or connection, refused or dropped sockets, timeouts.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,  # ConnectionError, ConnectionRefusedError, socket.gaierror, ...
    TimeoutError,  # asyncio.TimeoutError is TimeoutError on 3.11
)

# Soft state (status, heartbeats, pending hook signals; ADR 0006) is written without
# waiting for the WAL flush. A statement starts `WITH {SOFT}` and joins `soft` into
# its FROM: that is `SET LOCAL synchronous_commit = off` for the statement's own
# (implicit) transaction, without a transaction block, so the write stays one round
# trip. The setting reverts when that transaction ends. Messages never use it.
SOFT = "soft AS (SELECT set_config('synchronous_commit', 'off', true) AS synchronous_commit)"


def store_error(exc: BaseException) -> DomainError:
    """The domain error that a driver error stands for.

    A value Postgres cannot hold (SQLSTATE class 22, e.g. a NUL character in a text,
    a number out of range) is the caller's input, not an outage: retrying cannot
    help, so it is InvalidInput rather than StoreUnavailable.
    """
    if isinstance(exc, asyncpg.DataError):
        return InvalidInput(f"a value the store cannot hold: {exc}")
    detail = str(exc) or type(exc).__name__
    return StoreUnavailable(f"database unavailable: {detail}")


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
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._acquire_timeout = acquire_timeout
        self._health_timeout = health_timeout
        # The health probe's own connection, never the pool's (ADR 0019): a pool busy
        # with a hello storm must not read as a database outage.
        self._probe_conn: Connection | None = None
        self._probe_lock = asyncio.Lock()
        self._closed = False

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
        self._closed = True
        probe, self._probe_conn = self._probe_conn, None
        if probe is not None:
            try:
                await asyncio.wait_for(probe.close(), timeout=1.0)
            except Exception:
                probe.terminate()
        try:
            await asyncio.wait_for(self._pool.close(), timeout=5.0)
        except DRIVER_ERRORS:
            self._pool.terminate()

    async def health(self) -> bool:
        """True when `SELECT 1` answers within `health_timeout` seconds on the probe's
        own connection (opened on first use, reopened after a failure; never a pooled
        one, so a busy pool is not an outage). False once closed. Never raises."""
        if self._closed:
            return False
        try:
            async with asyncio.timeout(self._health_timeout):
                async with self._probe_lock:  # one probe at a time on the one connection
                    return await self._probe()
        except asyncio.CancelledError:
            raise
        except Exception:
            return False

    async def _probe(self) -> bool:
        try:
            conn = self._probe_conn
            if conn is not None and not conn.is_closed():
                try:
                    return bool(await conn.fetchval("SELECT 1") == 1)
                except DRIVER_ERRORS:
                    # Broken since the last probe (a server restart, a killed backend):
                    # whether the database answers now is for a fresh connection to say.
                    self._drop_probe()
            if self._closed:
                return False
            self._probe_conn = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout,
                server_settings={"application_name": "meshbroker health"},
            )
            if self._closed:  # closed while this connection was being opened
                self._drop_probe()
                return False
            return bool(await self._probe_conn.fetchval("SELECT 1") == 1)
        except BaseException:
            # Failed, timed out or cancelled, possibly mid-statement: never reuse it.
            self._drop_probe()
            raise

    def _drop_probe(self) -> None:
        conn, self._probe_conn = self._probe_conn, None
        if conn is not None:
            conn.terminate()

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
