"""Hook signals stashed before their session, and hello signatures used once."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.model import (
    HookSignal,
)


class PendingSignals(Protocol):
    async def stash(self, signal: HookSignal) -> None: ...

    async def take(
        self, session_id: str, pid: int | None, cwd: str, since: datetime
    ) -> HookSignal | None:
        """Remove every signal received at or after `since` that is this session's and
        return the newest (domain/presence.py signal_matches, newest_signal)."""
        ...

    async def purge(self, before: datetime) -> int: ...


class ReplayGuard(Protocol):
    async def first_use(self, signature: str, keep_until: datetime) -> bool:
        """Record the signature; False if it was recorded before (on any instance)."""
        ...

    async def purge(self, now: datetime) -> int: ...
