"""Postgres implementations of the store ports, on one asyncpg pool (the health probe
and PostgresNotifier's LISTEN each hold one connection of their own, ADR 0013, 0019).

Every port method is one statement: connect too, since it calls the PL/pgSQL function
`mesh.connect_presence` (migrations/0002, ADR 0020), and enqueues, claims, acks and
hellos in flight together share one statement (group commit, `batch.py`). Every driver error leaves as
a domain error (StoreUnavailable, or Conflict/NotFound/InvalidInput where the port
says so). See docs/adr/0004, 0005, 0006, 0019 and 0020.

The migration runner is `adapters.postgres.migrate.migrate` (not re-exported here, so
that the name keeps meaning the module).
"""

from adapters.postgres.database import Database
from adapters.postgres.directory import PostgresDirectory
from adapters.postgres.embedded import EmbeddedPostgres, start_embedded
from adapters.postgres.guards import PostgresPendingSignals, PostgresReplayGuard
from adapters.postgres.mailbox import PostgresMailbox
from adapters.postgres.migrate import MigrationError
from adapters.postgres.presences import PostgresPresenceStore

__all__ = [
    "Database",
    "EmbeddedPostgres",
    "MigrationError",
    "PostgresDirectory",
    "PostgresMailbox",
    "PostgresPendingSignals",
    "PostgresPresenceStore",
    "PostgresReplayGuard",
    "start_embedded",
]
