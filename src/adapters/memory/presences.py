from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from adapters.memory.directory import InMemoryDirectory
from domain.errors import CapacityExceeded
from domain.model import PeerView, Presence, Status, StatusRecord
from domain.ports import Admitted, Arrival, PresenceStore


class InMemoryPresenceStore(PresenceStore):
    def __init__(self, directory: InMemoryDirectory) -> None:
        self.directory = directory
        self.presences: dict[str, Presence] = {}
        self.token_hashes: dict[str, str] = {}  # presence id -> hook token hash
        self.pings: dict[str, datetime] = {}  # presence id -> last heartbeat
        directory.online_count = self.online_count

    def online_count(self, mesh_id: str) -> int:
        return sum(1 for p in self._unended() if p.mesh_id == mesh_id and p.online)

    def _unended(self) -> list[Presence]:
        return [p for p in self.presences.values() if p.ended_at is None]

    def _put(self, presence: Presence) -> Presence:
        self.presences[presence.id] = presence
        return presence

    async def connect(
        self, arrival: Arrival, *, capacity: int, grace_cutoff: datetime, initial: StatusRecord
    ) -> Admitted:
        a = arrival
        key = (a.mesh_id, a.member_id, a.session_id)
        existing = next(
            (p for p in self._unended() if (p.mesh_id, p.member_id, p.session_id) == key), None
        )
        replaced = existing.connection_id if existing is not None else None
        resumable = existing is not None and (
            existing.online
            or (existing.disconnected_at is not None and existing.disconnected_at > grace_cutoff)
        )
        if existing is not None and not resumable:
            self._put(replace(existing, ended_at=a.now))
            existing = None
        if replaced is None and self.online_count(a.mesh_id) >= capacity:
            raise CapacityExceeded(f"mesh holds {capacity} connections")
        if existing is None:
            presence = Presence(
                id=str(uuid.uuid4()),
                mesh_id=a.mesh_id,
                member_id=a.member_id,
                session_id=a.session_id,
                pid=a.pid,
                cwd=a.cwd,
                connection_id=a.connection_id,
                status=initial,
                connected_at=a.now,
                transient=a.transient,
            )
        else:
            presence = replace(
                existing,
                connection_id=a.connection_id,
                pid=a.pid,
                cwd=a.cwd,
                connected_at=a.now,
                disconnected_at=None,
                transient=a.transient,
            )
        self._put(presence)
        self.token_hashes[presence.id] = a.hook_token_hash
        self.pings[presence.id] = a.now
        return Admitted(presence, replaced, resumed=existing is not None and replaced is None)

    async def disconnect(self, connection_id: str, now: datetime) -> Presence | None:
        found = self._by_connection(connection_id)
        if found is None:
            return None
        return self._put(replace(found, connection_id=None, disconnected_at=now))

    def _by_connection(self, connection_id: str) -> Presence | None:
        return next((p for p in self._unended() if p.connection_id == connection_id), None)

    async def end(self, presence_ids: Sequence[str], now: datetime) -> None:
        for p in self._unended():
            if p.id in presence_ids:
                self._put(replace(p, ended_at=now))

    async def end_member(self, member_id: str, now: datetime) -> list[Presence]:
        ended = [p for p in self._unended() if p.member_id == member_id]
        await self.end([p.id for p in ended], now)
        return ended

    async def end_lapsed(
        self, grace_cutoff: datetime, stale_cutoff: datetime, now: datetime
    ) -> list[Presence]:
        lapsed = [
            p
            for p in self._unended()
            if (p.disconnected_at is not None and p.disconnected_at < grace_cutoff)
            or (p.online and self.pings[p.id] < stale_cutoff)
        ]
        await self.end([p.id for p in lapsed], now)
        return lapsed

    async def touch(self, connection_ids: Sequence[str], now: datetime) -> list[str]:
        gone = []
        for connection_id in connection_ids:
            presence = self._by_connection(connection_id)
            if presence is None:
                gone.append(connection_id)
            else:
                self.pings[presence.id] = now
        return gone

    async def get(self, presence_id: str) -> Presence | None:
        presence = self.presences.get(presence_id)
        return presence if presence is not None and presence.ended_at is None else None

    async def by_hook_token(self, token_hash: str) -> Presence | None:
        return next((p for p in self._unended() if self.token_hashes[p.id] == token_hash), None)

    async def hook_candidates(self, session_id: str | None, cwd: str) -> list[Presence]:
        found = [p for p in self._unended() if p.session_id == session_id or p.cwd == cwd]
        return sorted(found, key=lambda p: p.connected_at, reverse=True)

    async def set_status(self, presence_id: str, record: StatusRecord) -> None:
        presence = await self.get(presence_id)
        if presence is not None:
            self._put(replace(presence, status=record))

    async def flip_stuck(self, cutoff: datetime, record: StatusRecord) -> list[Presence]:
        stuck = [
            p
            for p in self._unended()
            if p.status.status is Status.WORKING and p.status.since < cutoff
        ]
        return [self._put(replace(p, status=record)) for p in stuck]

    async def connections_of(self, member_id: str) -> list[str]:
        return [
            p.connection_id
            for p in self._unended()
            if p.member_id == member_id and p.connection_id is not None
        ]

    async def peers(self, mesh_id: str) -> list[PeerView]:
        members = self.directory.members_by_id
        return [
            PeerView(
                member_id=p.member_id,
                pubkey=members[p.member_id].pubkey,
                display_name=members[p.member_id].display_name,
                presence_id=p.id,
                session_id=p.session_id,
                status=p.status.status,
                online=p.online,
                connected_at=p.connected_at,
                transient=p.transient,
            )
            for p in sorted(self._unended(), key=lambda p: p.connected_at)
            if p.mesh_id == mesh_id
        ]
