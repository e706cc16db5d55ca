"""Small builders shared by the contract suites."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from domain.model import Member, Mesh, Message, Priority, Role, Source, Status, StatusRecord
from domain.ports import Arrival

T0 = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
INITIAL = StatusRecord(Status.IDLE, Source.MANUAL, T0)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def new_id(prefix: str = "") -> str:
    return f"{prefix}{uuid.uuid4()}"


def new_pubkey() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def mesh(slug: str | None = None) -> Mesh:
    mesh_id = new_id()
    return Mesh(mesh_id, f"Mesh {mesh_id[:8]}", slug or f"mesh-{mesh_id}")


def member(mesh_id: str, name: str = "Ada", role: Role = Role.MEMBER) -> Member:
    return Member(new_id(), mesh_id, new_pubkey(), name, role)


def message(
    sender_presence_id: str = "presence-of-sender",
    priority: Priority = Priority.NEXT,
    *,
    created: float = 0,
    ttl: float = 3600,
    mesh_id: str = "mesh",
) -> Message:
    return Message(
        id=new_id("msg-"),
        mesh_id=mesh_id,
        sender_member_id="sender",
        sender_pubkey="ab" * 32,
        sender_presence_id=sender_presence_id,
        priority=priority,
        nonce="bm9uY2U=",
        ciphertext="Y2lwaGVy ünïcødé ✓ " + new_id(),
        created_at=at(created),
        expires_at=at(created + ttl),
    )


def arrival(
    mesh_id: str,
    member_id: str,
    session_id: str,
    *,
    now: float = 0,
    connection_id: str | None = None,
    pid: int | None = 4242,
    cwd: str = "/home/ada/proj",
    token_hash: str | None = None,
) -> Arrival:
    return Arrival(
        mesh_id=mesh_id,
        member_id=member_id,
        session_id=session_id,
        pid=pid,
        cwd=cwd,
        connection_id=connection_id or new_id("conn-"),
        hook_token_hash=token_hash or new_id("hash-"),
        now=at(now),
    )
