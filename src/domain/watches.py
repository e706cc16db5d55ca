"""`watch ... until idle`: one-shot wake-ups when a peer's session is idle, held per
session of this instance."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from domain.errors import Rejected

MAX_WATCHES_PER_SESSION = 100

WatchId = str | int


@dataclass(frozen=True, slots=True)
class PeerIdle:
    """The answer to a watch: that member's session is idle."""

    watch_id: WatchId
    member_id: str
    session_id: str
    at: datetime


class WatchTable:
    """The open watches of this instance's sessions: at most
    `MAX_WATCHES_PER_SESSION` per session; each fires once; they end with the session.
    A watch with an id already open on the session replaces it."""

    def __init__(self, per_session: int = MAX_WATCHES_PER_SESSION) -> None:
        self.per_session = per_session
        self._by_connection: dict[str, dict[WatchId, str]] = {}
        self._by_member: dict[str, set[tuple[str, WatchId]]] = {}

    def add(self, connection_id: str, watch_id: WatchId, member_id: str) -> int:
        """Open a watch; returns how many watches this added (0 when it replaced one).
        Raise Rejected(rate_limited) when the session already holds its maximum."""
        mine = self._by_connection.setdefault(connection_id, {})
        added = 1
        if watch_id in mine:
            self._unindex(connection_id, watch_id, mine.pop(watch_id))
            added = 0
        elif len(mine) >= self.per_session:
            if not mine:
                del self._by_connection[connection_id]
            raise Rejected("rate_limited", f"at most {self.per_session} open watches per session")
        mine[watch_id] = member_id
        self._by_member.setdefault(member_id, set()).add((connection_id, watch_id))
        return added

    def remove(self, connection_id: str, watch_id: WatchId) -> bool:
        mine = self._by_connection.get(connection_id)
        if mine is None or watch_id not in mine:
            return False
        self._unindex(connection_id, watch_id, mine.pop(watch_id))
        if not mine:
            del self._by_connection[connection_id]
        return True

    def end_session(self, connection_id: str) -> int:
        """The session ended: its watches end with it; returns how many."""
        mine = self._by_connection.pop(connection_id, {})
        for watch_id, member_id in mine.items():
            self._unindex(connection_id, watch_id, member_id)
        return len(mine)

    def take(self, member_id: str) -> list[tuple[str, WatchId]]:
        """Remove and return every open watch of this member (connection, watch id):
        each fires once."""
        taken = sorted(self._by_member.pop(member_id, set()), key=str)
        for connection_id, watch_id in taken:
            mine = self._by_connection.get(connection_id)
            if mine is not None:
                mine.pop(watch_id, None)
                if not mine:
                    del self._by_connection[connection_id]
        return taken

    def watched(self, member_id: str) -> bool:
        return member_id in self._by_member

    def of_session(self, connection_id: str) -> int:
        return len(self._by_connection.get(connection_id, {}))

    def __len__(self) -> int:
        return sum(len(w) for w in self._by_connection.values())

    def _unindex(self, connection_id: str, watch_id: WatchId, member_id: str) -> None:
        watchers = self._by_member.get(member_id)
        if watchers is not None:
            watchers.discard((connection_id, watch_id))
            if not watchers:
                del self._by_member[member_id]
