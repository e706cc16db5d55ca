"""Presences: a session's row, shared by every broker instance."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.model import (
    PeerView,
    Presence,
    StatusRecord,
)


@dataclass(frozen=True, slots=True)
class Arrival:
    """A session to open: who, from where, on which connection, when."""

    mesh_id: str
    member_id: str
    session_id: str
    pid: int | None
    cwd: str
    connection_id: str
    hook_token_hash: str
    now: datetime
    transient: bool = False  # the presence is marked so (see Presence.transient)


@dataclass(frozen=True, slots=True)
class Admitted:
    presence: Presence
    replaced_connection_id: str | None
    resumed: bool


class PresenceStore(Protocol):
    async def connect(
        self,
        arrival: Arrival,
        *,
        capacity: int,
        grace_cutoff: datetime,
        initial: StatusRecord,
        manual_cutoff: datetime | None = None,
    ) -> Admitted:
        """Open the session atomically. A live presence of the same (mesh, member,
        session) is taken over (its connection id returned as replaced, no capacity
        needed); one in its grace window since after `grace_cutoff` resumes; otherwise a
        new presence starts with `initial`, or with the manual status of the session's
        last presence if that ended after `manual_cutoff` (a restart keeps dnd). The
        presence is transient as the arrival says, in the same write. Resuming or
        starting raises CapacityExceeded when the mesh already has `capacity` online
        presences, counted on every instance.

        Raises Unauthorized when the member is revoked, decided in the same atomic step
        as the write: a revoke that commits first refuses this connect, one that commits
        later ends this presence (revoke_member's end_member sees it)."""
        ...

    async def disconnect(self, connection_id: str, now: datetime) -> Presence | None:
        """Start the grace window of the presence on this connection; None if it has
        moved to another connection (replaced) or ended."""
        ...

    async def end(self, presence_ids: Sequence[str], now: datetime) -> None: ...

    async def end_member(self, member_id: str, now: datetime) -> list[Presence]:
        """End every presence of the member at once (revocation), returning them."""
        ...

    async def end_lapsed(
        self, grace_cutoff: datetime, stale_cutoff: datetime, now: datetime
    ) -> list[Presence]:
        """End presences whose grace began before `grace_cutoff`, and online ones whose
        heartbeat is older than `stale_cutoff` (left behind by a crashed instance)."""
        ...

    async def touch(self, connection_ids: Sequence[str], now: datetime) -> list[str]:
        """Heartbeat: these connections are alive on this instance. Returns those whose
        presence has ended or moved meanwhile."""
        ...

    async def get(self, presence_id: str) -> Presence | None: ...

    async def by_hook_token(self, token_hash: str) -> Presence | None:
        """The unended presence this hook token was issued to; of two holding one hash,
        the oldest (domain/presence.py token_owner)."""
        ...

    async def hook_candidates(self, session_id: str | None, cwd: str) -> list[Presence]:
        """Unended presences with this session id or this cwd, newest connection first."""
        ...

    async def set_status(
        self, presence_id: str, record: StatusRecord, expected: StatusRecord | None = None
    ) -> bool:
        """Write `record` if the presence is unended and (when `expected` is given) its
        status record is still `expected`, atomically: compare-and-set. False if not
        written."""
        ...

    async def reap_dead(self, now: datetime, free_before: datetime) -> list[Presence]:
        """Start the grace window of every online presence held by another broker
        instance that is dead: its liveness lock found free by a sweep before
        `free_before` and not taken back since. Returns them as they were, with the
        connection ids whose leases are to be dropped. A lock found free for the first
        time is only noted, so that an instance whose link blinked can reclaim it."""
        ...

    async def flip_stuck(self, cutoff: datetime, record: StatusRecord) -> list[Presence]:
        """Set `record` on unended presences `working` since before `cutoff`; return
        them as they are after the flip."""
        ...

    async def connections_of(self, member_id: str) -> list[str]:
        """The connection ids of the member's online presences, on every instance."""
        ...

    async def peers(self, mesh_id: str) -> list[PeerView]:
        """Every unended presence of the mesh, with its member's public identity."""
        ...
