"""Replies in frame order: a text now, a task that will have it, or a last reply before
a close; the frames' tasks held until they end."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from domain.errors import CloseReason

log = logging.getLogger("meshbroker.ws")


@dataclass(frozen=True, slots=True)
class Farewell:
    """A last reply: written, then the socket is closed for `reason`."""

    text: str
    reason: CloseReason


Reply = str | asyncio.Task[str | None] | Farewell | None


# Frames' tasks and sockets' writers still running: held here so that none is
# collected before it ends, even when its socket is gone.
running: set[asyncio.Task[str | None]] = set()


def start(work: Coroutine[Any, Any, str | None]) -> asyncio.Task[str | None]:
    task = asyncio.get_running_loop().create_task(work)
    running.add(task)
    task.add_done_callback(settled)
    return task


def settled(task: asyncio.Task[str | None]) -> None:
    running.discard(task)
    if not task.cancelled() and (error := task.exception()) is not None:
        log.error("frame failed", exc_info=error)
