"""The broker's HTTP and WebSocket front as uvicorn runs it: the routes (Gateway),
the guard on connections not yet admitted (pending bounds and deadlines), and
uvicorn's own settings."""

from __future__ import annotations

from collections.abc import Callable

import uvicorn

from adapters.http.app import create_app
from adapters.http.gateway import Gateway
from adapters.http.guard import Guard, protocols
from adapters.metrics.otel import OtelMetrics
from app.config import Settings
from app.limits import pending_bound, raise_fd_limit
from app.tasks import HealthMonitor
from domain.pending import PendingLimits
from domain.usecases.context import Context


def uvicorn_config(
    settings: Settings,
    ctx: Context,
    instance: str,
    monitor: HealthMonitor,
    metrics: OtelMetrics,
    health_info: Callable[[], dict[str, object]],
) -> uvicorn.Config:
    gateway = Gateway(
        ctx=ctx,
        instance=instance,
        hello_timeout=ctx.policy.hello_timeout.total_seconds(),
        healthy=lambda: monitor.healthy,
        health_info=health_info,
        render_metrics=metrics.render,
        write_timeout=settings.ws_write_timeout_seconds,
    )
    fd_limit = raise_fd_limit()
    guard = Guard(
        limits=PendingLimits(
            total=pending_bound(settings.max_pending_connections, fd_limit),
            per_address=settings.max_pending_connections_per_ip,
        ),
        request_timeout=settings.hello_timeout_seconds,
        write_timeout=settings.ws_write_timeout_seconds,
        on_refused=metrics.connection_rejected,
        # A WebSocket's hello timeout is counted by the app (ws.py); the protocol's own
        # deadline behind it would count the same socket twice.
        on_timeout=lambda phase: (
            metrics.connection_rejected("hello_timeout") if phase == "http" else None
        ),
    )
    http_protocol, ws_protocol = protocols(guard)
    return uvicorn.Config(
        create_app(gateway, openapi=not settings.production),
        host=settings.host,
        port=settings.port,
        http=http_protocol,
        ws=ws_protocol,
        ws_max_size=ctx.policy.transport_frame_limit,
        ws_ping_interval=settings.ws_ping_interval_seconds,
        ws_ping_timeout=settings.ws_pong_timeout_seconds,
        ws_per_message_deflate=False,  # ciphertext does not compress; it cost ~20 % CPU
        timeout_graceful_shutdown=5,
        lifespan="off",
        log_config=None,
        access_log=False,
    )
