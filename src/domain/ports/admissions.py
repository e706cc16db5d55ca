"""Hellos in flight together, admitted in one statement and transaction (ADR 0028)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.model import (
    HookSignal,
    StatusRecord,
)
from domain.ports.presences import Admitted, Arrival


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
