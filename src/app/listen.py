"""The broker's listening socket: bound before anything else starts, so that a taken
port stops serve at once with one line naming BROKER_PORT (not uvicorn's traceback)."""

from __future__ import annotations

import os
import socket

from app.config import Settings


class CannotListen(OSError):
    """The port is taken (or not ours to take): one line that says what to change."""


def bind(settings: Settings) -> socket.socket:
    """The listening socket, bound before anything else starts, so that a taken port
    stops `serve` at once with a line naming BROKER_PORT (not uvicorn's traceback)."""
    host, port = settings.host, settings.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server(
            (host, port), family=family, backlog=2048, reuse_port=settings.reuse_port
        )
    except OSError as exc:
        raise cannot_listen(host, port, exc) from None


def cannot_listen(host: str, port: int, exc: OSError) -> CannotListen:
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return CannotListen(
        f"cannot listen on {host}:{port} ({reason}): another process holds "
        "it? set BROKER_PORT to a free port (or BROKER_HOST to another address)"
    )
