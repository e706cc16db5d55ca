"""This process's liveness, held in Postgres itself (ADR 0025).

A broker registers an incarnation in mesh.instances and holds its session-level
advisory lock on a connection of its own. Postgres frees the lock the moment that
connection dies, so any instance's sweep (`mesh.reap_dead_instances`) knows within a
second that the process is gone and puts its presences in their grace window.

The other side of that promise is fencing: when this process loses the connection
(or cannot prove it alive within `timeout` seconds), another instance may already
have reaped its presences, so `on_lost` closes every socket here before anything else
is served, and hellos are refused (`current` is None) until a new incarnation holds a
new lock. A new incarnation, never the old one again: presences of the old one are
reaped by whoever sweeps next, whatever this process still believes about them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.database import DRIVER_ERRORS

log = logging.getLogger("meshbroker.liveness")

Fence = Callable[[], Awaitable[object]]


class LivenessLock:
    def __init__(
        self, dsn: str, instance: str, *, check_every: float = 1.0, timeout: float = 2.0
    ) -> None:
        self.dsn = dsn
        self.instance = instance
        self.check_every = check_every
        self.timeout = timeout
        self.on_lost: Fence | None = None
        self.held = asyncio.Event()
        self._current: str | None = None
        self._incarnations = 0

    @property
    def current(self) -> str | None:
        return self._current

    async def hold(self) -> None:
        """Run until cancelled: hold the lock, fencing and registering anew whenever
        the connection that holds it is lost."""
        while True:
            try:
                conn = await asyncpg.connect(
                    self.dsn,
                    timeout=self.timeout + 3,
                    server_settings={"application_name": "meshbroker liveness"},
                )
            except DRIVER_ERRORS as exc:
                log.debug("liveness connect failed", extra={"ctx": {"error": str(exc)}})
                await asyncio.sleep(1)
                continue
            try:
                await self._hold_on(conn)
            except DRIVER_ERRORS as exc:
                log.warning("liveness lock lost", extra={"ctx": {"error": str(exc)}})
            finally:
                conn.terminate()
                was, self._current = self._current, None
                self.held.clear()
            if was is not None and self.on_lost is not None:
                await self.on_lost()
            await asyncio.sleep(1)

    async def _hold_on(self, conn: object) -> None:
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())  # type: ignore[attr-defined]
        self._incarnations += 1
        incarnation = f"{self.instance}.{self._incarnations}"
        await conn.fetchval(  # type: ignore[attr-defined]
            "SELECT mesh.register_instance($1, now())", incarnation, timeout=self.timeout + 3
        )
        self._current = incarnation
        self.held.set()
        log.info("liveness lock held", extra={"ctx": {"incarnation": incarnation}})
        while not lost.is_set():
            try:
                async with asyncio.timeout(self.check_every):
                    await lost.wait()
            except TimeoutError:
                await conn.fetchval("SELECT 1", timeout=self.timeout)  # type: ignore[attr-defined]
        raise ConnectionError("the liveness connection closed")
