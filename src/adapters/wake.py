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
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from domain.errors import CloseReason
from domain.model import Status
from domain.ports import Notifier
from domain.receipts import Transition
from domain.sessions import SessionRegistry
from domain.usecases.context import Context
from domain.usecases.deliver import deliver
from domain.usecases.receipts import hand_out
from domain.usecases.status import apply_status
from domain.usecases.watch import answer_watches

log = logging.getLogger("meshbroker.notifier")

WakeHandler = Callable[[list[str]], Coroutine[Any, Any, None]]
IdleHandler = Callable[[str, str, str], Coroutine[Any, Any, object]]
ReceiptHandler = Callable[[Sequence[Transition]], Coroutine[Any, Any, object]]
StatusHandler = Callable[[str, str, Status], Coroutine[Any, Any, object]]


@dataclass(frozen=True, slots=True)
class Delivery:
    """The use cases a notifier runs here: delivery for a wake, the watches for a
    session gone idle, the receipts' hand-out; and whether this process watches a
    member (else another instance's idle notice for it is not worth a task)."""

    wake: WakeHandler
    idle: IdleHandler
    receipts: ReceiptHandler
    watches_on: Callable[[str], bool]


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
        self._delivery: Delivery | None = None

    def deliver_with(self, delivery: Delivery) -> None:
        self._delivery = delivery

    async def wake(self, member_ids: Iterable[str]) -> None:
        if self._delivery is not None:
            await self._delivery.wake(list(member_ids))

    async def went_idle(self, member_id: str, presence_id: str, session_id: str) -> None:
        if self._delivery is not None:
            await self._delivery.idle(member_id, presence_id, session_id)

    async def receipts(self, transitions: Sequence[Transition]) -> None:
        if self._delivery is not None:
            await self._delivery.receipts(transitions)

    def watches_on(self, member_id: str) -> bool:
        return self._delivery is None or self._delivery.watches_on(member_id)

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
        if self._delivery is None:
            return
        task = asyncio.get_running_loop().create_task(self._delivery.wake(list(member_ids)))
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
    """Wakes here run the delivery use case, idle sessions the watches, receipts their
    hand-out; statuses heard from other instances run the status use case."""
    local.deliver_with(
        Delivery(
            wake=partial(deliver, ctx),
            idle=partial(answer_watches, ctx),
            receipts=partial(hand_out, ctx),
            watches_on=ctx.watches.watched,
        )
    )
    if remote is not None:
        remote.apply_status_with(partial(apply_status, ctx))
    return ctx
