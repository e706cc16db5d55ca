"""The inbox file: `$MESHPEER_HOME/inbox.sqlite3`, created readable by its owner only
(mode 0600, in a 0700 directory), and its schema. Standard library only."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from client.sessions import home

FILENAME = "inbox.sqlite3"
BUSY_TIMEOUT_MS = 1000

SCHEMA = """
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    recipient TEXT NOT NULL,
    message_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    cwd TEXT NOT NULL,
    from_pubkey TEXT NOT NULL,
    from_name TEXT NOT NULL,
    priority TEXT NOT NULL,
    text TEXT NOT NULL,
    sent_at TEXT NOT NULL,
    encrypted INTEGER NOT NULL,
    received_at REAL NOT NULL,
    shown_at REAL,
    shown_by TEXT,
    UNIQUE (recipient, message_id)
);
CREATE INDEX IF NOT EXISTS unread ON messages (session_id, seq) WHERE shown_at IS NULL;
"""


def inbox_path(env: Mapping[str, str] | None = None) -> Path:
    return home(env) / FILENAME


def create_private(path: Path) -> None:
    """Create the file (and its directory) readable by its owner only."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
