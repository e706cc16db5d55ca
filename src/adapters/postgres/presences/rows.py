"""A presence row: its columns, its reading, and the incarnation that owns it."""

from __future__ import annotations

from typing import Protocol

from adapters.postgres.database import Record
from domain.model import Presence, Source, Status, StatusRecord

COLUMNS = (
    "id, mesh_id, member_id, session_id, pid, cwd, connection_id, status, status_source,"
    " status_since, connected_at, disconnected_at, ended_at, transient"
)
P_COLUMNS = ", ".join(f"p.{c.strip()}" for c in COLUMNS.split(","))


def presence_from(row: Record) -> Presence:
    return Presence(
        id=row["id"],
        mesh_id=row["mesh_id"],
        member_id=row["member_id"],
        session_id=row["session_id"],
        pid=row["pid"],
        cwd=row["cwd"],
        connection_id=row["connection_id"],
        status=StatusRecord(
            Status(row["status"]), Source(row["status_source"]), row["status_since"]
        ),
        connected_at=row["connected_at"],
        disconnected_at=row["disconnected_at"],
        ended_at=row["ended_at"],
        transient=row["transient"],
    )


class Incarnation(Protocol):
    """This process's registration in mesh.instances (adapters/postgres/liveness.py)."""

    @property
    def current(self) -> str | None:
        """The incarnation whose lock this process holds now; None while it holds none."""
        ...
