from __future__ import annotations

from datetime import datetime

from domain.admission import replay_key
from domain.model import HookSignal
from domain.ports import PendingSignals, ReplayGuard
from domain.presence import newest_signal, signal_matches


class InMemoryPendingSignals(PendingSignals):
    def __init__(self) -> None:
        self.signals: list[HookSignal] = []

    async def stash(self, signal: HookSignal) -> None:
        self.signals.append(signal)

    async def take(
        self, session_id: str, pid: int | None, cwd: str, since: datetime
    ) -> HookSignal | None:
        matching = [
            s
            for s in self.signals
            if s.received_at >= since and signal_matches(s, session_id, pid, cwd)
        ]
        if not matching:
            return None
        self.signals = [s for s in self.signals if s not in matching]
        return newest_signal(matching)

    async def purge(self, before: datetime) -> int:
        kept = [s for s in self.signals if s.received_at >= before]
        purged, self.signals = len(self.signals) - len(kept), kept
        return purged


class InMemoryReplayGuard(ReplayGuard):
    def __init__(self) -> None:
        self.seen: dict[str, datetime] = {}

    async def first_use(self, signature: str, keep_until: datetime) -> bool:
        key = replay_key(signature)
        if key in self.seen:
            return False
        self.seen[key] = keep_until
        return True

    async def purge(self, now: datetime) -> int:
        expired = [s for s, until in self.seen.items() if until <= now]
        for signature in expired:
            del self.seen[signature]
        return len(expired)
