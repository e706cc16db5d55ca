from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any

from adapters.cache import CachingDirectory
from domain.model import Status
from domain.ports import Notifier
from domain.receipts import Transition
from domain.sessions import SessionRegistry

WakeHandler = Callable[[list[str]], Coroutine[Any, Any, None]]
IdleHandler = Callable[[str, str, str], Coroutine[Any, Any, object]]
ReceiptHandler = Callable[[Sequence[Transition]], Coroutine[Any, Any, object]]


class LocalNotifier(Notifier):
    """Reaches the sessions of this one process. `on_wake` runs the delivery use case;
    here it is awaited, so a test sees the pushes as soon as the send returns.
    `cache`, when set, is this process's cache of member lookups: `member_changed`
    (here, or from another instance through PostgresNotifier) empties it of that member."""

    def __init__(self, sessions: SessionRegistry) -> None:
        self.sessions = sessions
        self.on_wake: WakeHandler | None = None
        self.cache: CachingDirectory | None = None
        self.on_idle: IdleHandler | None = None
        self.on_receipts: ReceiptHandler | None = None
        # whether this process holds a watch on a member (set with on_idle)
        self.watches_on: Callable[[str], bool] = lambda _member_id: True

    async def wake(self, member_ids: Iterable[str]) -> None:
        if self.on_wake is not None:
            await self.on_wake(list(member_ids))

    async def wake_everywhere(self, member_ids: Iterable[str]) -> None:
        """One process holds every socket: the same as `wake`."""
        await self.wake(member_ids)

    async def status_changed(self, presence_id: str, member_id: str, status: Status) -> None:
        """One process holds every socket: nobody else to tell."""

    async def went_idle(self, member_id: str, presence_id: str, session_id: str) -> None:
        if self.on_idle is not None:
            await self.on_idle(member_id, presence_id, session_id)

    async def receipts(self, transitions: Sequence[Transition]) -> None:
        if self.on_receipts is not None:
            await self.on_receipts(transitions)

    async def member_changed(self, mesh_id: str, member_id: str) -> None:
        self.forget(mesh_id, member_id)

    def forget(self, mesh_id: str, member_id: str | None = None) -> None:
        """Drop this process's cached lookups of the member (None: of the whole mesh)."""
        if self.cache is not None:
            self.cache.forget(mesh_id, member_id)

    async def kick(self, connection_id: str, code: int, reason: str) -> None:
        session = self.sessions.get(connection_id)
        if session is not None:
            self.sessions.remove(session)
            await session.connection.close(code, reason)
