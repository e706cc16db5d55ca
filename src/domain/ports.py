"""What the core needs from the world, named for the job. Adapters subclass these."""

from __future__ import annotations

from collections.abc import Collection, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from domain.invites import Invite
from domain.model import (
    HookSignal,
    Member,
    Mesh,
    MeshSummary,
    Message,
    PeerView,
    Presence,
    Priority,
    Status,
    StatusRecord,
)
from domain.receipts import MessageFacts, Receipt, Transition
from domain.watches import PeerIdle


class Clock(Protocol):
    def now(self) -> datetime:
        """The current UTC time, timezone-aware."""
        ...


class MemberDirectory(Protocol):
    async def member(self, mesh_id: str, member_id: str) -> Member | None: ...

    async def member_by_pubkey(self, mesh_id: str, pubkey: str) -> Member | None: ...

    async def members(self, mesh_id: str) -> list[Member]:
        """Every member of the mesh, revoked ones included."""
        ...


class MeshAdmin(Protocol):
    async def create_mesh(self, mesh: Mesh) -> Mesh:
        """Raise Conflict when the slug is taken."""
        ...

    async def find_mesh(self, id_or_slug: str) -> Mesh | None: ...

    async def meshes(self) -> list[MeshSummary]: ...

    async def add_member(self, member: Member) -> Member:
        """Raise Conflict when the mesh already has a member with this pubkey."""
        ...

    async def revoke_member(self, mesh_id: str, member_id: str, now: datetime) -> Member:
        """Raise NotFound for an unknown member; revoking twice keeps the first time."""
        ...


@dataclass(frozen=True, slots=True)
class Joiner:
    """A new member as a join names it; its mesh and role come from the invite."""

    member_id: str
    pubkey: str
    display_name: str


class InviteStore(Protocol):
    async def create_invite(self, invite: Invite) -> Invite: ...

    async def invites(self, mesh_id: str) -> list[Invite]:
        """The mesh's invites, oldest first, revoked and used-up ones included."""
        ...

    async def revoke_invite(self, mesh_id: str, invite_id: str, now: datetime) -> Invite:
        """Raise NotFound for an unknown invite; revoking twice keeps the first time."""
        ...

    async def redeem(self, token_hash: str, joiner: Joiner, now: datetime) -> tuple[Invite, Member]:
        """Atomically: take the invite with this token hash if it is `usable` at `now`,
        add the joiner to its mesh with its role, and count one use. Of joins racing
        for the last use exactly one succeeds. Raise InvalidInvite when no usable
        invite has this hash, Conflict when the mesh already has this pubkey (then no
        use is counted). Returns the invite as counted and the new member."""
        ...


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


@dataclass(frozen=True, slots=True)
class Entry:
    """Everything a hello writes, as one atomic step (issue 18; ADR 0028)."""

    arrival: Arrival
    capacity: int
    grace_cutoff: datetime
    initial: StatusRecord
    manual_cutoff: datetime
    # The replay guard: the hello's signature and how long to keep it (None: not
    # guarded, HELLO_AUTH=legacy).
    signature: str | None
    keep_until: datetime | None
    # Pending hook signals received at or after this are taken for the session.
    signal_since: datetime


@dataclass(frozen=True, slots=True)
class Entered:
    admitted: Admitted
    signal: HookSignal | None  # the newest pending signal taken for this session
    released: int  # leases of the member's dead connections put back in its queue


class Admissions(Protocol):
    async def enter(self, entry: Entry) -> Entered:
        """A hello's writes as one step, in this order: the replay guard
        (`ReplayGuard.first_use`: a signature used before raises Unauthorized and
        connects nothing), `PresenceStore.connect` (its refusals raise as there), then
        `Mailbox.release_orphans` for every connection of the member not live after the
        connect (`PresenceStore.connections_of`), then `PendingSignals.take`. A refused
        connect keeps the signature used, like the separate calls did."""
        ...


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
        """The unended presence this hook token was issued to."""
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


class Mailbox(Protocol):
    async def enqueue(self, message: Message, recipients: Sequence[str]) -> None:
        """Store the message with one delivery per recipient member. Returns only once
        durable: that is what `queued: true` promises.

        Order: calls started one after another (tasks created in order) are queued in
        that order, even when they are in flight together. An implementation takes its
        place in the queue before it first suspends."""
        ...

    async def claim(
        self,
        member_id: str,
        presence_id: str,
        connection_id: str,
        priorities: frozenset[Priority],
        now: datetime,
        lease_until: datetime,
        limit: int,
        session_id: str | None = None,
    ) -> list[Message]:
        """Lease to this connection, in queue order, up to `limit` of the member's
        deliveries that are undelivered, unexpired, not under a live lease, of an
        admitted priority, not sent by this presence, and that the claiming session
        (`session_id`) may take by `delivery.claimable_by` (a message for another
        session of the member waits while that session has not ended). Concurrent
        claimers never get the same delivery."""
        ...

    async def ack(self, member_id: str, message_ids: Sequence[str], now: datetime) -> int:
        """Mark delivered; ids that are not this member's deliveries are ignored."""
        ...

    async def acknowledge(
        self, member_id: str, message_ids: Sequence[str], now: datetime
    ) -> list[Transition]:
        """`ack`, and in the same write keep the `acked` receipt of each delivery it
        marked (`receipts.advances`: not over an `expired`); return the receipts that
        advanced, for their senders."""
        ...

    async def escalate(self, now: datetime) -> set[str]:
        """Raise to `now` the undelivered, unexpired deliveries whose escalation
        deadline passed; return their members (their mail may be claimable now)."""
        ...

    async def release(self, connection_id: str) -> None:
        """Drop the leases of a connection that closed, so they can be claimed again."""
        ...

    async def release_orphans(self, member_id: str, live: Sequence[str]) -> int:
        """Drop the member's leases held by connections other than `live` (sockets
        that died with their instance): a reconnecting member gets that mail now
        rather than when the lease runs out. Returns how many were dropped."""
        ...

    async def release_expired(self, now: datetime) -> set[str]:
        """Drop leases that ran out; return the members whose mail is claimable again."""
        ...

    async def prune(self, now: datetime) -> int:
        """Remove delivered and expired deliveries and messages with none left;
        returns the deliveries this call removed (a store may drop acked ones at once)."""
        ...

    async def depth(self, now: datetime) -> int:
        """Undelivered, unexpired deliveries in the whole store."""
        ...


class ReceiptStore(Protocol):
    """Delivery state kept after the mailbox is done with a message, for receipts and
    `message_status` (ADR 0027)."""

    async def record(self, transitions: Sequence[Transition]) -> list[Transition]:
        """Keep these transitions, in order, under `receipts.advances` applied
        atomically per (message, recipient); return those that advanced."""
        ...

    async def expire(self, now: datetime) -> list[Transition]:
        """Record `expired` for the mailbox's deliveries whose TTL passed (before the
        mailbox prunes them); return those that advanced."""
        ...

    async def facts(self, message_id: str) -> MessageFacts | None:
        """The message's sender and each recipient's kept receipt and live delivery;
        None when neither the mailbox nor the kept receipts know the id."""
        ...

    async def prune(self, cutoff: datetime, limit: int) -> int:
        """Forget up to `limit` receipts of messages whose every recipient reached
        acked or expired before `cutoff` and that have no delivery left."""
        ...


class PendingSignals(Protocol):
    async def stash(self, signal: HookSignal) -> None: ...

    async def take(
        self, session_id: str, pid: int | None, cwd: str, since: datetime
    ) -> HookSignal | None:
        """Remove and return the newest signal received at or after `since` that names
        this session id, or (when it names none) this pid and cwd."""
        ...

    async def purge(self, before: datetime) -> int: ...


class ReplayGuard(Protocol):
    async def first_use(self, signature: str, keep_until: datetime) -> bool:
        """Record the signature; False if it was recorded before (on any instance)."""
        ...

    async def purge(self, now: datetime) -> int: ...


class Notifier(Protocol):
    """Reaches live sessions wherever they are connected."""

    async def wake(self, member_ids: Iterable[str]) -> None:
        """These members may have claimable mail. An implementation may stop at this
        instance when a member has sessions here."""
        ...

    async def wake_everywhere(self, member_ids: Iterable[str]) -> None:
        """`wake`, on every instance that holds a session of these members, even when
        this one holds some too: the mail may be claimable by one session only (a
        message to one session, or one whose session just ended)."""
        ...

    async def kick(self, connection_id: str, code: int, reason: str) -> None:
        """Close that connection, wherever it is, and stop delivering to it."""
        ...

    async def status_changed(self, presence_id: str, member_id: str, status: Status) -> None:
        """Tell the instance that holds this presence's socket (not this one) its new
        status, so that it gates and releases mail by it."""
        ...

    async def went_idle(self, member_id: str, presence_id: str, session_id: str) -> None:
        """A session (presence) of this member is idle now: every instance, this one
        included, answers the watches open on it."""
        ...

    async def receipts(self, transitions: Sequence[Transition]) -> None:
        """Hand these receipts to their senders' sessions, wherever they are."""
        ...

    async def member_changed(self, mesh_id: str, member_id: str) -> None:
        """This member was added, revoked or otherwise changed: every instance, this one
        included, forgets the lookups it cached of it and its mesh's member list, so
        the next send or hello reads the directory."""
        ...


class Connection(Protocol):
    """One live socket of this instance."""

    @property
    def id(self) -> str: ...

    async def push(self, messages: Sequence[Message]) -> None:
        """Write these messages, in order. Raise ConnectionGone if the socket is closed."""
        ...

    async def notify(self, event: Receipt | PeerIdle) -> None:
        """Write a receipt or a watch's answer. Raise ConnectionGone if closed."""
        ...

    async def close(self, code: int, reason: str) -> None: ...


class ConnectionGone(Exception):
    """The socket closed before a write."""


class Metrics(Protocol):
    def connection_opened(self) -> None: ...
    def connection_closed(self) -> None: ...
    def connection_rejected(self, reason: str) -> None: ...
    def message_routed(self, priority: Priority) -> None: ...
    def message_rejected(self, reason: str) -> None: ...
    def messages_pushed(self, latencies: Sequence[float]) -> None: ...
    def ttl_sweep(self, flipped: bool) -> None: ...
    def hook_request(self) -> None: ...
    def hook_rate_limited(self) -> None: ...
    def join_attempt(self, result: str) -> None:
        """One `POST /join`: joined, invalid, conflict or rate_limited."""
        ...

    def queue_depth(self, depth: int) -> None: ...
    def sessions(self, by_status: Mapping[Status, int]) -> None:
        """This instance's open sessions by status (every status, zeros included)."""
        ...

    def db_healthy(self, healthy: bool) -> None: ...
    def listen_lost(self) -> None: ...
    def receipts_recorded(self, state: str, count: int) -> None: ...
    def message_escalated(self) -> None: ...
    def watches_changed(self, delta: int) -> None: ...


class Offload(Protocol):
    """Work that must not hold up the path that starts it (receipts after a push)."""

    async def start(self, work: Coroutine[Any, Any, object]) -> None:
        """Run `work`. A served broker returns at once and logs a failure; the fakes
        run it to the end, so a test sees its effect when the call returns. Work
        started in order begins in that order."""
        ...


class StatusInferrer(Protocol):
    async def infer(self, cwd: str) -> Status | None:
        """The status the session's transcript implies, or None when there is none."""
        ...

    async def infer_many(self, cwds: Collection[str]) -> dict[str, Status]:
        """`infer` for many working directories at once: the cwds that have an
        inference, each with its status."""
        ...
