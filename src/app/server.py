"""`meshbroker serve`: the broker on one port until SIGTERM/SIGINT, then the contract's
shutdown: stop the background jobs, close every socket with 1001, end presences,
close the server, exit 0."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

from adapters.http.app import create_app
from adapters.http.gateway import Gateway
from app.config import Settings
from app.container import Container
from app.database import open_store
from app.tasks import Background, HealthMonitor
from domain.admission import HelloAuth
from domain.errors import DomainError
from domain.usecases import connect

log = logging.getLogger("meshbroker.server")

SHUTDOWN_STEP_SECONDS = 5.0


class BrokerServer(uvicorn.Server):
    """uvicorn, with the contract's signal handling instead of uvicorn's own (which
    closes sockets with 1012 and re-raises the signal, exiting 143)."""

    def __init__(self, config: uvicorn.Config, on_signal: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._on_signal = on_signal
        self._stopping: asyncio.Task[None] | None = None
        self.port: int | None = None
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._signalled, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _signalled(self, sig: signal.Signals) -> None:
        if self._stopping is not None:
            # A second signal: stop waiting for the graceful steps.
            self._stopping.cancel()
            self.force_exit = self.should_exit = True
            return
        log.info("shutdown signal", extra={"ctx": {"signal": sig.name}})
        self._stopping = asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        try:
            await self._on_signal()
        finally:
            self.should_exit = True

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.servers and self.servers[0].sockets:
            self.port = self.servers[0].sockets[0].getsockname()[1]
        if self.started:
            self.ready.set()


async def resolve(value: Any) -> Any:
    """A provider's value: providers that depend on an async Resource return awaitables."""
    return await value if inspect.isawaitable(value) else value


async def serve(settings: Settings) -> int:
    started = time.monotonic()
    async with open_store(settings, migrate_first=not settings.skip_migrate) as dsn:
        container = Container(settings=settings, dsn=dsn)
        await resolve(container.init_resources())
        try:
            return await _serve(settings, container, started)
        finally:
            await resolve(container.shutdown_resources())
            log.info("shutdown complete")


async def _serve(settings: Settings, container: Container, started: float) -> int:
    ctx = await resolve(container.context())
    database = await resolve(container.database())
    metrics = container.metrics()
    monitor = HealthMonitor(database.health, metrics)
    notifier = await resolve(container.notifier())
    background = Background(
        ctx,
        monitor,
        heartbeat_every=min(10.0, settings.ws_ping_interval_seconds),
        services=[notifier.listen],
    )
    git_sha = settings.git_sha()

    def health_info() -> dict[str, object]:
        uptime = int(time.monotonic() - started)
        return {"version": settings.version, "gitSha": git_sha, "uptime": uptime}

    gateway = Gateway(
        ctx=ctx,
        instance=container.instance(),
        hello_timeout=settings.hello_timeout_seconds,
        healthy=lambda: monitor.healthy,
        health_info=health_info,
        render_metrics=metrics.render,
    )
    config = uvicorn.Config(
        create_app(gateway),
        host=settings.host,
        port=settings.port,
        ws_max_size=4 * settings.max_message_bytes,
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_pong_timeout_seconds,
        ws_per_message_deflate=False,  # ciphertext does not compress; it cost ~20 % CPU
        timeout_graceful_shutdown=5,
        lifespan="off",
        log_config=None,
        access_log=False,
    )

    async def stop() -> None:
        await background.stop()
        try:
            # Sockets close first; ending presences needs the database, which may be
            # down: the orchestrator's grace period is the bound, not the pool's.
            async with asyncio.timeout(SHUTDOWN_STEP_SECONDS):
                closed = await connect.shutdown(ctx)
                await container.local_notifier().drain()
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
    serving = asyncio.create_task(server.serve())
    ready = asyncio.create_task(server.ready.wait())
    await asyncio.wait({serving, ready}, return_when=asyncio.FIRST_COMPLETED)
    ready.cancel()
    if server.started:
        log.info(
            "broker listening",
            extra={"ctx": {"host": settings.host, "port": server.port, "gitSha": git_sha}},
        )
    await serving
    await background.stop()
    return 0 if server.started else 1
