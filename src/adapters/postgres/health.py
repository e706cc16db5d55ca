"""The database's health probe: `SELECT 1` on a connection of its own, never a pooled
one (ADR 0019), so a pool busy with a hello storm does not read as an outage."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.driver_errors import DRIVER_ERRORS


class HealthProbe:
    """One probe at a time on one connection, opened on first use and reopened after a
    failure."""

    def __init__(self, dsn: str, connect_timeout: float, health_timeout: float) -> None:
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._health_timeout = health_timeout
        self._conn: Any = None  # asyncpg.Connection
        self._lock = asyncio.Lock()
        self._closed = False

    async def close(self) -> None:
        """Close the probe's connection, waiting briefly, then terminating; `check`
        answers False from now on."""
        self._closed = True
        probe, self._conn = self._conn, None
        if probe is not None:
            try:
                await asyncio.wait_for(probe.close(), timeout=1.0)
            except Exception:
                probe.terminate()

    async def check(self) -> bool:
        """True when `SELECT 1` answers within `health_timeout` seconds on the probe's
        own connection (opened on first use, reopened after a failure; never a pooled
        one, so a busy pool is not an outage). False once closed. Never raises."""
        if self._closed:
            return False
        try:
            async with asyncio.timeout(self._health_timeout):
                async with self._lock:  # one probe at a time on the one connection
                    return await self._probe()
        except asyncio.CancelledError:
            raise
        except Exception:
            return False

    async def _probe(self) -> bool:
        try:
            conn = self._conn
            if conn is not None and not conn.is_closed():
                try:
                    return bool(await conn.fetchval("SELECT 1") == 1)
                except DRIVER_ERRORS:
                    # Broken since the last probe (a server restart, a killed backend):
                    # whether the database answers now is for a fresh connection to say.
                    self._drop()
            if self._closed:
                return False
            self._conn = await asyncpg.connect(
                self._dsn,
                timeout=self._connect_timeout,
                server_settings={"application_name": "meshbroker health"},
            )
            if self._closed:  # closed while this connection was being opened
                self._drop()
                return False
            return bool(await self._conn.fetchval("SELECT 1") == 1)
        except BaseException:
            # Failed, timed out or cancelled, possibly mid-statement: never reuse it.
            self._drop()
            raise

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()
