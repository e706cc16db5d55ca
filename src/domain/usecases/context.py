"""Everything a use case may touch: the ports, the policy and this instance's state."""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from domain.departures import Departures
from domain.policy import Policy
from domain.ports import (
    Admissions,
    Clock,
    InviteStore,
    Mailbox,
    MemberDirectory,
    MeshAdmin,
    Metrics,
    Notifier,
    Offload,
    PendingSignals,
    PresenceStore,
    ReceiptStore,
    ReplayGuard,
    StatusInferrer,
)
from domain.ratelimit import BucketTable
from domain.sessions import SessionRegistry
from domain.usecases.drains import Drains
from domain.watches import WatchTable


class Inline(Offload):
    """Offload that does not: the work runs to its end before `start` returns."""

    async def start(self, work: Coroutine[Any, Any, object]) -> None:
        await work


@dataclass(slots=True)
class Context:
    clock: Clock
    directory: MemberDirectory
    admin: MeshAdmin
    invites: InviteStore
    presences: PresenceStore
    mailbox: Mailbox
    signals: PendingSignals
    replay: ReplayGuard
    admissions: Admissions  # a hello's writes in one step (ADR 0028)
    notifier: Notifier
    metrics: Metrics
    inferrer: StatusInferrer
    receipts: ReceiptStore
    policy: Policy = field(default_factory=Policy)
    sessions: SessionRegistry = field(default_factory=SessionRegistry)
    drains: Drains = field(default_factory=Drains)
    departures: Departures = field(default_factory=Departures)
    watches: WatchTable = field(default_factory=WatchTable)
    offload: Offload = field(default_factory=Inline)
    send_buckets: BucketTable = field(init=False)
    hook_buckets: BucketTable = field(init=False)
    join_buckets: BucketTable = field(init=False)

    def __post_init__(self) -> None:
        p = self.policy
        self.send_buckets = BucketTable(p.send_rate_per_min, p.send_burst)
        self.hook_buckets = BucketTable(p.hook_rate_per_min, p.hook_rate_per_min)
        self.join_buckets = BucketTable(p.join_rate_per_min, p.join_rate_per_min)
