"""This process's own clock, and work run off the caller's path as tasks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from domain.ports import Clock, Offload

log = logging.getLogger("meshbroker.offload")


class SystemClock(Clock):
    def now(self) -> datetime:
        return datetime.now(UTC)


class TaskOffload(Offload):
    """Runs each piece of work as its own task; a failure is logged, never lost."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    async def start(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[object]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("offloaded work failed", extra={"ctx": {"error": repr(task.exception())}})

    async def drain(self) -> None:
        """Wait for the work in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
