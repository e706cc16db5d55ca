"""Reaching the sessions of this process: the wake path runs one way (ADR 0029).

A use case calls `Notifier.wake`; the notifier runs the delivery use case for the
members with a session here (and, in PostgresNotifier, tells other instances of the
rest). `wire_delivery` is the one place that connects a built Context to its
notifiers, for the served broker (app/container.py) and the in-memory one
(adapters/memory/context.py): the notifier is a Context collaborator, and delivery
needs the Context, so this one binding cannot happen at construction."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from typing import Any, Protocol

from domain.errors import CloseReason
from domain.model import Status
from domain.ports import Notifier
from domain.sessions import SessionRegistry
from domain.usecases.context import Context
from domain.usecases.deliver import deliver
from domain.usecases.status import apply_status

log = logging.getLogger("meshbroker.notifier")

WakeHandler = Callable[[list[str]], Coroutine[Any, Any, None]]
StatusHandler = Callable[[str, str, Status], Coroutine[Any, Any, object]]


class MemberCache(Protocol):
    """This process's cache of member lookups (adapters/cache.py CachingDirectory)."""

    def forget(self, mesh_id: str, member_id: str | None = None) -> None: ...
    def suspend(self) -> None: ...
    def resume(self) -> None: ...


class LocalNotifier(Notifier):
    """Reaches the sessions of this one process; each wake is awaited, so a send's return
    follows its pushes (the in-memory broker, and what TaskNotifier builds on). `cache`
    is this process's cache of member lookups: `member_changed` (here, or from another
    instance through PostgresNotifier) empties it of that member."""

    def __init__(self, sessions: SessionRegistry, cache: MemberCache | None = None) -> None:
        self.sessions = sessions
        self.cache = cache
        self._deliver: WakeHandler | None = None

    def deliver_with(self, handler: WakeHandler) -> None:
        self._deliver = handler

    async def wake(self, member_ids: Iterable[str]) -> None:
        if self._deliver is not None:
            await self._deliver(list(member_ids))

    async def wake_everywhere(self, member_ids: Iterable[str]) -> None:
        """One process holds every socket: the same as `wake`."""
        await self.wake(member_ids)

    async def status_changed(self, presence_id: str, member_id: str, status: Status) -> None:
        """One process holds every socket: nobody else to tell."""

    async def member_changed(self, mesh_id: str, member_id: str) -> None:
        self.forget(mesh_id, member_id)

    def forget(self, mesh_id: str, member_id: str | None = None) -> None:
        """Drop this process's cached lookups of the member (None: of the whole mesh)."""
        if self.cache is not None:
            self.cache.forget(mesh_id, member_id)

    async def kick(self, connection_id: str, reason: CloseReason) -> None:
        session = self.sessions.get(connection_id)
        if session is not None:
            self.sessions.remove(session)
            await session.connection.close(reason)


class TaskNotifier(LocalNotifier):
    """Runs each wake-up as its own task, so a sender's ack never waits for a push."""

    def __init__(self, sessions: SessionRegistry, cache: MemberCache | None = None) -> None:
        super().__init__(sessions, cache)
        self._tasks: set[asyncio.Task[None]] = set()

    async def wake(self, member_ids: Iterable[str]) -> None:
        if self._deliver is None:
            return
        task = asyncio.get_running_loop().create_task(self._deliver(list(member_ids)))
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


class StatusListener(Protocol):
    """A notifier that hears other instances' status changes (PostgresNotifier)."""

    def apply_status_with(self, handler: StatusHandler) -> None: ...


def wire_delivery(
    ctx: Context, local: LocalNotifier, remote: StatusListener | None = None
) -> Context:
    """Wakes here run the delivery use case; statuses heard from other instances run
    the status use case."""
    local.deliver_with(partial(deliver, ctx))
    if remote is not None:
        remote.apply_status_with(partial(apply_status, ctx))
    return ctx
