"""Every store port on Postgres, in one import (the container's view of this package)."""

from adapters.postgres.admissions import PostgresAdmissions
from adapters.postgres.directory import PostgresDirectory
from adapters.postgres.guards import PostgresPendingSignals, PostgresReplayGuard
from adapters.postgres.invites import PostgresInvites
from adapters.postgres.mailbox import PostgresMailbox
from adapters.postgres.presences import PostgresPresenceStore
from adapters.postgres.receipts import PostgresReceipts

__all__ = [
    "PostgresAdmissions",
    "PostgresDirectory",
    "PostgresInvites",
    "PostgresMailbox",
    "PostgresPendingSignals",
    "PostgresPresenceStore",
    "PostgresReceipts",
    "PostgresReplayGuard",
]
