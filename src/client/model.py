"""The peer's configuration and what it hands its consumer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from client.hello import CAPABILITIES
from client.identity import Identity


@dataclass(frozen=True, slots=True)
class PeerConfig:
    url: str
    mesh_id: str
    member_id: str
    identity: Identity
    session_id: str
    cwd: str
    pid: int | None
    connect_timeout: float = 10.0
    request_timeout: float = 30.0
    capabilities: tuple[str, ...] = CAPABILITIES
    # Before the first accepted hello, a refused connection or a non-WebSocket answer
    # fails at once instead of being retried (one-shot commands; not `listen`).
    fail_fast: bool = False


@dataclass(frozen=True, slots=True)
class Incoming:
    message_id: str
    sender: str
    priority: str
    text: str
    encrypted: bool
    created_at: str

    def as_json(self) -> dict[str, Any]:
        return {
            "messageId": self.message_id,
            "from": self.sender,
            "priority": self.priority,
            "text": self.text,
            "createdAt": self.created_at,
            "encrypted": self.encrypted,
        }
