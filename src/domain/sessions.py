"""The live sessions of this instance: who is connected here, on which socket."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime

from domain.model import Message, Status
from domain.ports import Connection


@dataclass(slots=True, eq=False)
class Session:
    connection: Connection
    presence_id: str
    mesh_id: str
    member_id: str
    pubkey: str
    session_id: str
    cwd: str
    acks: bool
    status: Status
    connected_at: datetime
    receipts: bool = False  # asked for capability `receipts`
    transient: bool = False
    # Mail leased to this session in its enqueue, waiting for its push in lease order
    # (domain/handover.py, usecases/deliver.py).
    leased: deque[Message] = field(default_factory=deque)

    @property
    def connection_id(self) -> str:
        return self.connection.id


class SessionRegistry:
    """Indexes this instance's sessions by connection, presence and member."""

    def __init__(self) -> None:
        self._by_connection: dict[str, Session] = {}
        self._by_member: dict[str, dict[str, Session]] = {}
        self._by_presence: dict[str, Session] = {}

    def add(self, session: Session) -> None:
        self._by_connection[session.connection_id] = session
        self._by_member.setdefault(session.member_id, {})[session.connection_id] = session
        self._by_presence[session.presence_id] = session

    def remove(self, session: Session) -> bool:
        """False when the session was already gone (replaced, revoked, shut down)."""
        if self._by_connection.pop(session.connection_id, None) is None:
            return False
        of_member = self._by_member.get(session.member_id, {})
        of_member.pop(session.connection_id, None)
        if not of_member:
            self._by_member.pop(session.member_id, None)
        if self._by_presence.get(session.presence_id) is session:
            del self._by_presence[session.presence_id]
        return True

    def get(self, connection_id: str) -> Session | None:
        return self._by_connection.get(connection_id)

    def of_member(self, member_id: str) -> list[Session]:
        """Most recently connected first: that session is offered mail first."""
        sessions = self._by_member.get(member_id, {}).values()
        return sorted(sessions, key=lambda s: s.connected_at, reverse=True)

    def of_presence(self, presence_id: str) -> Session | None:
        return self._by_presence.get(presence_id)

    def all(self) -> list[Session]:
        return list(self._by_connection.values())

    def __len__(self) -> int:
        return len(self._by_connection)
