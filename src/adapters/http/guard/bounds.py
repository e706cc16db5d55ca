"""The bounds every connection of one server shares, and the throttled warnings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from domain.pending import PendingLimits

log = logging.getLogger("meshbroker.guard")


@dataclass(slots=True)
class Throttled:
    """A warning logged at most once per `every` seconds, with how many it stands for."""

    logger: logging.Logger
    message: str
    every: float = 10.0
    _last: float = -1e18
    _count: int = 0
    _ctx: dict[str, object] = field(default_factory=dict)

    def __call__(self, **ctx: object) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._last < self.every:
            return
        self.logger.warning(self.message, extra={"ctx": {**ctx, "count": self._count}})
        self._last, self._count = now, 0


@dataclass(slots=True)
class Guard:
    """The bounds, shared by every connection of one server."""

    limits: PendingLimits
    request_timeout: float
    write_timeout: float
    on_refused: Callable[[str], None] = lambda _reason: None
    on_timeout: Callable[[str], None] = lambda _phase: None
    refused_log: Throttled = field(
        default_factory=lambda: Throttled(log, "connections refused: too many pending")
    )
    timeout_log: Throttled = field(
        default_factory=lambda: Throttled(log, "connections timed out before completing")
    )
    stuck_log: Throttled = field(
        default_factory=lambda: Throttled(log, "peers aborted: they did not take their data")
    )
