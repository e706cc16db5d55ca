"""This process's own clock, and reaching its sessions without blocking the caller."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from datetime import UTC, datetime
from typing import Any

from adapters.memory.notifier import LocalNotifier
from domain.ports import Clock, Offload

log = logging.getLogger("meshbroker.notifier")


class TaskNotifier(LocalNotifier):
    """Runs each wake-up as its own task, so a sender's ack never waits for a push."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._tasks: set[asyncio.Task[None]] = set()

    async def wake(self, member_ids: Iterable[str]) -> None:
        if self.on_wake is None:
            return
        task = asyncio.get_running_loop().create_task(self.on_wake(list(member_ids)))
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("delivery failed", extra={"ctx": {"error": repr(task.exception())}})

    async def drain(self) -> None:
        """Wait for the wake-ups in flight (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


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
