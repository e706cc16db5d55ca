"""The meshes and members a scenario needs, written through the broker's own
Postgres adapters; and the signed hello each peer opens with."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

from nacl.signing import SigningKey

from adapters.postgres.database import Database
from adapters.postgres.directory import PostgresDirectory
from adapters.postgres.presences import PostgresPresenceStore
from domain.model import Member, Mesh, Role


@dataclass(frozen=True, slots=True)
class Identity:
    """A member's keys, small enough to hand to a worker process."""

    mesh_id: str
    member_id: str
    pubkey: str
    seed: bytes  # ed25519 secret seed

    def hello(self, session_id: str, pid: int, cwd: str) -> dict[str, Any]:
        timestamp = int(time.time() * 1000)
        text = "|".join(
            ("claudemesh/hello/v1", self.mesh_id, self.member_id, self.pubkey, session_id)
        )
        signature = SigningKey(self.seed).sign(f"{text}|{timestamp}".encode()).signature
        return {
            "type": "hello",
            "meshId": self.mesh_id,
            "memberId": self.member_id,
            "pubkey": self.pubkey,
            "sessionId": session_id,
            "pid": pid,
            "cwd": cwd,
            "timestamp": timestamp,
            "signature": signature.hex(),
            "capabilities": ["ack"],
        }


async def create_members(database_url: str, count: int, name: str) -> list[Identity]:
    """One new mesh with `count` new members."""
    database = await Database.create(database_url, min_size=1, max_size=8)
    try:
        directory = PostgresDirectory(database)
        mesh_id = str(uuid.uuid4())
        await directory.create_mesh(Mesh(mesh_id, name, f"bench-{name}-{mesh_id[:8]}"))
        keys = [SigningKey.generate() for _ in range(count)]
        identities = [
            Identity(mesh_id, str(uuid.uuid4()), key.verify_key.encode().hex(), bytes(key))
            for key in keys
        ]
        gate = asyncio.Semaphore(8)

        async def add(index: int, who: Identity) -> None:
            async with gate:
                member = Member(who.member_id, mesh_id, who.pubkey, f"peer-{index}", Role.MEMBER)
                await directory.add_member(member)

        await asyncio.gather(*(add(i, who) for i, who in enumerate(identities)))
        return identities
    finally:
        await database.close()


async def online_counts(database_url: str, mesh_ids: list[str]) -> int:
    """Presences still online in these meshes, as `list_peers` reports them."""
    return (await presences(database_url, mesh_ids))[0]


async def presences(database_url: str, mesh_ids: list[str]) -> tuple[int, int]:
    """(online, not ended) presences of these meshes, as `list_peers` reports them."""
    database = await Database.create(database_url, min_size=1, max_size=1)
    try:
        store = PostgresPresenceStore(database)
        online = live = 0
        for mesh_id in mesh_ids:
            peers = await store.peers(mesh_id)
            online += sum(1 for peer in peers if peer.online)
            live += len(peers)
        return online, live
    finally:
        await database.close()
