"""This process's liveness, held in Postgres itself (ADR 0025).

A broker registers an incarnation in mesh.instances and holds its session-level
advisory lock on a connection of its own. Postgres frees the lock the moment that
connection dies, so the other instances' sweeps (`mesh.reap_dead_instances`) know
within seconds that the process is gone and put its presences in their grace window.

When the connection breaks while this process lives (a database restart, a blip, a
terminated backend), it takes the same incarnation's lock again on a new connection
(`mesh.reclaim_instance`) and serves on: nobody reaped it, so nobody else owns its
sessions. If a sweep did reap it meanwhile, the incarnation is gone: this is fencing,
`on_lost` closes every socket here (the peers reconnect, wherever), and a new
incarnation is registered. Hellos are refused while this process holds none."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.driver_errors import DRIVER_ERRORS

log = logging.getLogger("meshbroker.liveness")

Fence = Callable[[], Awaitable[object]]


class LivenessLock:
    def __init__(
        self,
        dsn: str,
        instance: str,
        *,
        check_every: float = 1.0,
        timeout: float = 2.0,
        retry_every: float = 0.5,
    ) -> None:
        self.dsn = dsn
        self.instance = instance
        self.check_every = check_every
        self.timeout = timeout
        self.retry_every = retry_every
        self.on_lost: Fence | None = None
        self.held = asyncio.Event()  # set while the lock is held on a live connection
        self._current: str | None = None
        self._incarnations = 0

    @property
    def current(self) -> str | None:
        """The incarnation this process serves as, held or being reclaimed; None once
        fenced, until a new one is registered."""
        return self._current

    async def hold(self) -> None:
        """Run until cancelled: hold the lock, reclaiming it after a broken
        connection, or fencing and registering anew when it was reaped."""
        while True:
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=self.timeout + 3,
                    server_settings={"application_name": f"meshbroker liveness {self.instance}"},
                )
            except DRIVER_ERRORS as exc:
                log.debug("liveness connect failed", extra={"ctx": {"error": str(exc)}})
                await asyncio.sleep(self.retry_every)
                continue
            try:
                await self._hold_on(conn)
            except DRIVER_ERRORS as exc:
                log.warning("liveness connection lost", extra={"ctx": {"error": str(exc)}})
            finally:
                self.held.clear()
                conn.terminate()
            await asyncio.sleep(self.retry_every)

    async def _hold_on(self, conn: Any) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        if self._current is not None:
            await self._reclaim(conn, self._current)
        if self._current is None:
            await self._register(conn)
        self.held.set()
        while not lost.is_set():
            try:
                async with asyncio.timeout(self.check_every):
                    await lost.wait()
            except TimeoutError:
                await conn.fetchval("SELECT 1", timeout=self.timeout)
        raise ConnectionError("the liveness connection closed")

    async def _reclaim(self, conn: Any, incarnation: str) -> None:
        ok = await conn.fetchval(
            "SELECT mesh.reclaim_instance($1)", incarnation, timeout=self.timeout + 6
        )
        if ok:
            log.info("liveness lock reclaimed", extra={"ctx": {"incarnation": incarnation}})
            return
        log.warning("liveness lock reaped: fencing", extra={"ctx": {"incarnation": incarnation}})
        self._current = None
        if self.on_lost is not None:
            await self.on_lost()

    async def _register(self, conn: Any) -> None:
        self._incarnations += 1
        incarnation = f"{self.instance}.{self._incarnations}"
        await conn.fetchval(
            "SELECT mesh.register_instance($1, now())", incarnation, timeout=self.timeout + 3
        )
        self._current = incarnation
        log.info("liveness lock held", extra={"ctx": {"incarnation": incarnation}})
