"""The signed hello: ed25519 over
`claudemesh/hello/v1|{meshId}|{memberId}|{pubkey}|{sessionId}|{timestamp}`."""

from __future__ import annotations

import time

from adapters import wire
from client.identity import Identity

CAPABILITIES = ("ack", "receipts")
# A one-shot command (send, peers, ...): its presence ends when it closes and others'
# list_peers never show it (claude-code.md section 4).
TRANSIENT = "transient"


def canonical(mesh_id: str, member_id: str, pubkey: str, session_id: str, timestamp: int) -> bytes:
    return f"claudemesh/hello/v1|{mesh_id}|{member_id}|{pubkey}|{session_id}|{timestamp}".encode()


def signed_hello(
    identity: Identity,
    *,
    mesh_id: str,
    member_id: str,
    session_id: str,
    pid: int | None,
    cwd: str,
    timestamp_ms: int | None = None,
    capabilities: tuple[str, ...] = CAPABILITIES,
) -> wire.Hello:
    """A fresh hello; every connection attempt needs its own (the broker refuses replays)."""
    timestamp = int(time.time() * 1000) if timestamp_ms is None else timestamp_ms
    pubkey = identity.pubkey
    message = canonical(mesh_id, member_id, pubkey, session_id, timestamp)
    return wire.Hello(
        mesh_id=mesh_id,
        member_id=member_id,
        pubkey=pubkey,
        session_id=session_id,
        signature=identity.sign(message),
        timestamp=timestamp,
        pid=pid,
        cwd=cwd,
        capabilities=list(capabilities),
    )
