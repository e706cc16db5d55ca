"""What the HTTP/WS adapter needs from the running broker, handed over once at start."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from domain.usecases.context import Context


@dataclass(slots=True)
class Gateway:
    ctx: Context
    instance: str
    hello_timeout: float
    healthy: Callable[[], bool]
    health_info: Callable[[], dict[str, object]]
    render_metrics: Callable[[], tuple[bytes, str]]
    # A write or close to a peer that does not take it within this aborts the socket.
    write_timeout: float = 5.0
