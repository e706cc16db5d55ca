"""The implementations under contract: every test here runs against the in-memory fake
and against Postgres, with the same assertions.

Postgres tests share one database (per session), so every test makes its own ids
(uuid4) and looks only at its own rows in the results of store-wide sweeps.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from adapters.memory import (
    InMemoryDirectory,
    InMemoryMailbox,
    InMemoryPendingSignals,
    InMemoryPresenceStore,
    InMemoryReplayGuard,
)
from adapters.memory.admissions import InMemoryAdmissions
from adapters.memory.receipts import InMemoryReceipts
from adapters.postgres.stores import (
    PostgresAdmissions,
    PostgresDirectory,
    PostgresMailbox,
    PostgresPendingSignals,
    PostgresPresenceStore,
    PostgresReceipts,
    PostgresReplayGuard,
)
from domain.ports import (
    Admissions,
    Mailbox,
    MemberDirectory,
    MeshAdmin,
    PendingSignals,
    PresenceStore,
    ReceiptStore,
    ReplayGuard,
)


class Directory(MemberDirectory, MeshAdmin):
    """Both directory ports, as one object serves them."""


@dataclass
class Stores:
    kind: str
    directory: Directory
    presences: PresenceStore
    mailbox: Mailbox
    signals: PendingSignals
    replay: ReplayGuard
    admissions: Admissions
    receipts: ReceiptStore


@pytest.fixture(params=["memory", "postgres"])
def stores(request: pytest.FixtureRequest) -> Stores:
    # A plain (sync) fixture: the Postgres pool fixture is async and session-scoped,
    # and is only set up when a postgres case runs (`-k memory` needs no server).
    if request.param == "memory":
        directory = InMemoryDirectory()
        presences = InMemoryPresenceStore(directory)
        mailbox = InMemoryMailbox(presences)
        signals = InMemoryPendingSignals()
        replay = InMemoryReplayGuard()
        return Stores(
            "memory",
            directory,  # type: ignore[arg-type]
            presences,
            mailbox,
            signals,
            replay,
            InMemoryAdmissions(presences, replay, mailbox, signals),
            InMemoryReceipts(mailbox),
        )
    db = request.getfixturevalue("database")
    return Stores(
        "postgres",
        PostgresDirectory(db),  # type: ignore[arg-type]
        PostgresPresenceStore(db),
        PostgresMailbox(db),
        PostgresPendingSignals(db),
        PostgresReplayGuard(db),
        PostgresAdmissions(db),
        PostgresReceipts(db),
    )


@pytest.fixture
def directory(stores: Stores) -> Directory:
    return stores.directory


@pytest.fixture
def presences(stores: Stores) -> PresenceStore:
    return stores.presences


@pytest.fixture
def mailbox(stores: Stores) -> Mailbox:
    return stores.mailbox


@pytest.fixture
def signals(stores: Stores) -> PendingSignals:
    return stores.signals


@pytest.fixture
def replay(stores: Stores) -> ReplayGuard:
    return stores.replay


@pytest.fixture
def admissions(stores: Stores) -> Admissions:
    return stores.admissions


@pytest.fixture
def receipts(stores: Stores) -> ReceiptStore:
    return stores.receipts
