"""Background work of a running broker: sweeps, heartbeat, queue depth and the DB probe.
Each job runs on its own timer and survives a failing iteration."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from domain.errors import StoreUnavailable
from domain.ports import Metrics
from domain.usecases import sweeps
from domain.usecases.context import Context

log = logging.getLogger("meshbroker.tasks")

Job = Callable[[], Awaitable[object]]


@dataclass
class HealthMonitor:
    """Probes the database every second; `/health` reads the last answer."""

    probe: Callable[[], Awaitable[bool]]
    metrics: Metrics
    healthy: bool = True

    async def check(self) -> bool:
        up = await self.probe()
        if up != self.healthy:
            if up:
                log.info("db healthy")
            else:
                log.error("db ping failed")
        self.healthy = up
        self.metrics.db_healthy(up)
        return up


async def retry_disconnects(ctx: Context) -> None:
    """Write the disconnects the store could not take (ADR 0019) and say so. Raises
    StoreUnavailable while the store still refuses, so that `_every` logs one
    `job failed` line per outage."""
    retried = await sweeps.retry_disconnects(ctx)
    if retried.deferred.count:
        log.warning(
            "disconnect not recorded",
            extra={
                "ctx": {
                    "count": retried.deferred.count,
                    "error": retried.deferred.error,
                    "retrying": True,
                }
            },
        )
    if retried.recorded:
        log.info(
            "disconnect recorded on retry",
            extra={"ctx": {"count": retried.recorded, "waiting": retried.waiting}},
        )
    if retried.expired:
        log.warning(
            "disconnect retry expired",
            extra={"ctx": {"count": retried.expired, "waiting": retried.waiting}},
        )
    if retried.error is not None:
        raise StoreUnavailable(retried.error)


@dataclass
class Background:
    ctx: Context
    monitor: HealthMonitor
    heartbeat_every: float = 10.0
    services: list[Callable[[], Coroutine[Any, Any, None]]] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        ctx = self.ctx
        jobs: list[tuple[str, float, Job]] = [
            ("db probe", 1.0, self.monitor.check),
            ("lease sweep", 1.0, lambda: sweeps.sweep_leases(ctx)),
            ("liveness sweep", 1.0, lambda: sweeps.sweep_dead_instances(ctx)),
            ("escalation sweep", 1.0, lambda: sweeps.sweep_escalations(ctx)),
            ("disconnect retry", 1.0, lambda: retry_disconnects(ctx)),
            ("ttl sweep", 5.0, lambda: sweeps.sweep_stuck_working(ctx)),
            ("presence sweep", 5.0, lambda: sweeps.sweep_presences(ctx)),
            ("status inference", 5.0, lambda: sweeps.infer_statuses(ctx)),
            ("heartbeat", self.heartbeat_every, lambda: sweeps.heartbeat(ctx)),
            ("mailbox sweep", 5.0, lambda: sweeps.sweep_mailbox(ctx)),
            ("guard sweep", 15.0, lambda: sweeps.sweep_guards(ctx)),
            ("receipt sweep", 60.0, lambda: sweeps.sweep_receipts(ctx)),
        ]
        for name, interval, job in jobs:
            self._tasks.append(asyncio.create_task(self._every(name, interval, job), name=name))
        for service in self.services:
            self._tasks.append(asyncio.create_task(self._keep(service)))

    async def _every(self, name: str, interval: float, job: Job) -> None:
        failing = False
        while True:
            try:
                await job()
                failing = False
            except StoreUnavailable as exc:
                if not failing:  # one line per outage, not one per tick
                    log.warning("job failed", extra={"ctx": {"job": name, "error": str(exc)}})
                failing = True
            except Exception:
                log.exception("job crashed", extra={"ctx": {"job": name}})
            await asyncio.sleep(interval)

    async def _keep(self, service: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """A long-running service: restarted a second after it crashes."""
        while True:
            try:
                await service()
            except Exception:
                log.exception("service crashed", extra={"ctx": {"service": service.__qualname__}})
            await asyncio.sleep(1)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
