"""The Postgres presence store (`store.py`), in one file per kind of verb."""

from adapters.postgres.presences.rows import Incarnation, presence_from
from adapters.postgres.presences.store import PostgresPresenceStore

__all__ = ["Incarnation", "PostgresPresenceStore", "presence_from"]
