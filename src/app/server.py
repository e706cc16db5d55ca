"""`meshbroker serve`: the broker on one port until SIGTERM/SIGINT, then the contract's
shutdown: stop the background jobs, close every socket with 1001, end presences,
close the server, exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import logging
import os
import socket
import time
from datetime import timedelta
from functools import partial
from typing import Any

from app.broker_server import BrokerServer
from app.config import Settings
from app.container import Container
from app.database import open_store
from app.http_front import uvicorn_config
from app.limits import quiet_resource_errors
from app.listen import bind
from app.tasks import Background, HealthMonitor
from app.workers import signal_ready
from domain.admission import HelloAuth
from domain.errors import DomainError
from domain.policy import heartbeat_interval
from domain.usecases import connect

log = logging.getLogger("meshbroker.server")

SHUTDOWN_STEP_SECONDS = 5.0
LIVENESS_WAIT_SECONDS = 10.0  # serve once this instance's liveness lock is held (ADR 0025)


async def resolve(value: Any) -> Any:
    """A provider's value: providers that depend on an async Resource return awaitables."""
    return await value if inspect.isawaitable(value) else value


async def serve(settings: Settings) -> int:
    started = time.monotonic()
    listener = bind(settings)
    try:
        async with open_store(settings, migrate_first=not settings.skip_migrate) as dsn:
            container = Container(settings=settings, dsn=dsn)
            await resolve(container.init_resources())
            try:
                return await _serve(settings, container, started, listener)
            finally:
                await resolve(container.shutdown_resources())
                log.info("shutdown complete")
    finally:
        listener.close()


async def _serve(
    settings: Settings, container: Container, started: float, listener: socket.socket
) -> int:
    ctx = await resolve(container.context())
    database = await resolve(container.database())
    metrics = container.metrics()
    monitor = HealthMonitor(database.health, metrics)
    notifier = await resolve(container.notifier())
    # Resolved once: the member cache it holds depends on the database Resource.
    local_notifier = await resolve(container.local_notifier())
    liveness = container.liveness()
    liveness.on_lost = partial(connect.fence, ctx)
    background = Background(
        ctx,
        monitor,
        heartbeat_every=heartbeat_interval(
            timedelta(seconds=settings.ws_ping_interval_seconds)
        ).total_seconds(),
        services=[notifier.listen, liveness.hold],
    )
    git_sha = settings.git_sha()

    def health_info() -> dict[str, object]:
        uptime = int(time.monotonic() - started)
        return {"version": settings.version, "gitSha": git_sha, "uptime": uptime}

    asyncio.get_running_loop().set_exception_handler(quiet_resource_errors)
    config = uvicorn_config(settings, ctx, container.instance(), monitor, metrics, health_info)

    async def stop() -> None:
        await background.stop()
        try:
            # Sockets close first; ending presences needs the database, which may be
            # down: the orchestrator's grace period is the bound, not the pool's.
            async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
                closed = await connect.shutdown(ctx)
                await local_notifier.drain()
                await container.offload().drain()
            log.info("sockets closed", extra={"ctx": {"sessions": closed}})
        except (DomainError, TimeoutError) as exc:
            log.warning("presences not ended at shutdown", extra={"ctx": {"error": repr(exc)}})

    if settings.hello_auth is HelloAuth.LEGACY:
        log.warning(
            "HELLO_AUTH=legacy: hellos are not signature-checked; any client that knows a "
            "member's id and pubkey can connect as that member"
        )
    server = BrokerServer(config, stop)
    await monitor.check()
    background.start()
    with contextlib.suppress(TimeoutError):  # else hellos get 1013 until it is held
        async with asyncio.timeout(LIVENESS_WAIT_SECONDS):
            await liveness.held.wait()
    sockets = [listener]
    worker = os.environ.get("MESHBROKER_WORKER")  # set by `serve --workers N`
    if worker is not None and settings.worker_port_base:
        # This worker's own port: a scrape of /metrics there is always this worker's.
        own = dataclasses.replace(
            settings, port=settings.worker_port_base + int(worker), reuse_port=False
        )
        sockets.append(bind(own))
    serving = asyncio.create_task(server.serve(sockets=sockets))
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if server.started:
        log.info(
            "broker listening" if worker is None else "worker listening",
            extra={
                "ctx": {
                    "host": settings.host,
                    "port": server.port,
                    "gitSha": git_sha,
                    **({} if worker is None else {"worker": int(worker)}),
                    **({"own_port": sockets[1].getsockname()[1]} if len(sockets) > 1 else {}),
                    "instance": container.instance(),
                }
            },
        )
        signal_ready()
    await serving
    await background.stop()
    return 0 if server.started else 1
