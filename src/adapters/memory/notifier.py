from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from domain.model import Status
from domain.ports import Notifier
from domain.sessions import SessionRegistry

WakeHandler = Callable[[list[str]], Coroutine[Any, Any, None]]


class LocalNotifier(Notifier):
    """Reaches the sessions of this one process. `on_wake` runs the delivery use case;
    here it is awaited, so a test sees the pushes as soon as the send returns."""

    def __init__(self, sessions: SessionRegistry) -> None:
        self.sessions = sessions
        self.on_wake: WakeHandler | None = None

    async def wake(self, member_ids: Iterable[str]) -> None:
        if self.on_wake is not None:
            await self.on_wake(list(member_ids))

    async def status_changed(self, presence_id: str, member_id: str, status: Status) -> None:
        """One process holds every socket: nobody else to tell."""

    async def kick(self, connection_id: str, code: int, reason: str) -> None:
        session = self.sessions.get(connection_id)
        if session is not None:
            self.sessions.remove(session)
            await session.connection.close(code, reason)
