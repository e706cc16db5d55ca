"""The broker's nouns: meshes, members, presences, messages and their statuses."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Status(StrEnum):
    IDLE = "idle"
    WORKING = "working"
    DND = "dnd"
    WAITING = "waiting"  # blocked on a person (a permission dialog, a question)


class Source(StrEnum):
    """Who reported a status. Ranked hook > manual > jsonl."""

    HOOK = "hook"
    MANUAL = "manual"
    JSONL = "jsonl"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Source.HOOK: 3, Source.MANUAL: 2, Source.JSONL: 1}


class Priority(StrEnum):
    NOW = "now"
    NEXT = "next"
    LOW = "low"


class Role(StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


@dataclass(frozen=True, slots=True)
class Mesh:
    id: str
    name: str
    slug: str


@dataclass(frozen=True, slots=True)
class MeshSummary:
    mesh: Mesh
    members: int
    online: int


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    mesh_id: str
    pubkey: str
    display_name: str
    role: Role
    revoked_at: datetime | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """A status, who reported it, and when it was last confirmed."""

    status: Status
    source: Source
    since: datetime


@dataclass(frozen=True, slots=True)
class Presence:
    """One session of a member. `connection_id` is None while it is in its grace window."""

    id: str
    mesh_id: str
    member_id: str
    session_id: str
    pid: int | None
    cwd: str
    connection_id: str | None
    status: StatusRecord
    connected_at: datetime
    disconnected_at: datetime | None = None
    ended_at: datetime | None = None
    # A one-shot command's session (hello capability `transient`): it ends when its
    # socket closes, with no grace window, and only it sees itself in list_peers.
    transient: bool = False

    @property
    def online(self) -> bool:
        return self.connection_id is not None and self.ended_at is None


@dataclass(frozen=True, slots=True)
class PeerView:
    """What other members may see of a presence: no cwd, no pid."""

    member_id: str
    pubkey: str
    display_name: str
    presence_id: str
    session_id: str
    status: Status
    online: bool
    connected_at: datetime
    transient: bool = False


@dataclass(frozen=True, slots=True)
class Message:
    id: str
    mesh_id: str
    sender_member_id: str
    sender_pubkey: str
    sender_presence_id: str
    priority: Priority
    nonce: str
    ciphertext: str
    created_at: datetime
    expires_at: datetime
    # escalateAfterSeconds: from then on it is pushed as `now` (domain/escalation.py)
    escalate_at: datetime | None = None
    # set on the copy a push carries once its escalation was due
    escalated: bool = False
    # A direct message to one session of its member (`<pubkey>/<sessionId>`); None: any.
    target_session_id: str | None = None


@dataclass(frozen=True, slots=True)
class HookSignal:
    """A hook report that arrived before its session connected."""

    cwd: str
    pid: int | None
    session_id: str | None
    status: Status
    received_at: datetime
