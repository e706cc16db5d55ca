"""The local inbox: `$MESHPEER_HOME/inbox.sqlite3` (mode 0600).

`meshpeer mcp` stores every pushed message here *before* it acknowledges it to the
broker, so a crash between the two costs a redelivery, never the message; the
redelivery is dropped by `(recipient, messageId)`. Each stored message is shown to
the model exactly once, by whichever comes first: a channel event (`meshpeer mcp`), a
hook's `additionalContext` (`meshpeer hook`, another process) or `mesh_inbox`.
Showing is a claim: one `UPDATE ... WHERE shown_at IS NULL ... RETURNING` inside
`BEGIN IMMEDIATE`, so two processes never both get a row.

Standard library only: the hook imports this module and must start fast. The file
and its schema: client/inbox_file.py; the message: client/inbox_message.py."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

from client.inbox_file import BUSY_TIMEOUT_MS, SCHEMA, create_private, inbox_path
from client.inbox_message import COLUMNS, Stored, stored_from_row

# A message shown this long ago is forgotten (`Inbox.prune`): far past any redelivery
# of it, which comes while its delivery is unacked (within the broker's ack timeout,
# or at the next connect), and past the broker's longest message TTL (30 days).
KEEP_SHOWN_SECONDS = 31 * 86400


class Inbox:
    """One connection to the inbox file; cheap, open one per process."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        create_private(path)
        self._db = sqlite3.connect(path, timeout=busy_timeout_ms / 1000, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        with contextlib.suppress(sqlite3.OperationalError):  # another process switched it
            self._db.execute("PRAGMA journal_mode = WAL")
        with self._immediate():
            self._db.executescript("BEGIN IMMEDIATE;" + SCHEMA + "COMMIT;")

    @classmethod
    def open(cls, env: Mapping[str, str] | None = None, **kwargs: int) -> Inbox:
        return cls(inbox_path(env), **kwargs)

    def close(self) -> None:
        self._db.close()

    def store(
        self,
        *,
        recipient: str,
        session_id: str,
        cwd: str,
        message: Stored,
    ) -> bool:
        """Keep `message` for `session_id`; True when it is new to this session, False
        for a duplicate (this recipient has it already).

        A redelivery that finds the message still unshown under another session (one
        that stored it and died before its ack) hands it to `session_id`, so it is
        never stranded; that counts as new here."""
        with self._immediate():
            self._db.execute("BEGIN IMMEDIATE")
            existing = self._db.execute(
                "SELECT shown_at, session_id FROM messages WHERE recipient = ? AND message_id = ?",
                (recipient, message.message_id),
            ).fetchone()
            fresh = existing is None
            if existing is None:
                self._insert(recipient, session_id, cwd, message)
            elif existing[0] is None and existing[1] != session_id:
                self._db.execute(
                    "UPDATE messages SET session_id = ?, cwd = ? "
                    "WHERE recipient = ? AND message_id = ?",
                    (session_id, cwd, recipient, message.message_id),
                )
                fresh = True
            self._db.execute("COMMIT")
        return fresh

    def _insert(self, recipient: str, session_id: str, cwd: str, message: Stored) -> None:
        self._db.execute(
            "INSERT INTO messages (recipient, message_id, session_id, cwd, from_pubkey, "
            "from_name, priority, text, sent_at, encrypted, received_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                recipient,
                message.message_id,
                session_id,
                cwd,
                message.from_pubkey,
                message.from_name,
                message.priority,
                message.text,
                message.sent_at,
                int(message.encrypted),
                time.time(),
            ),
        )

    def prune(self, now: float | None = None) -> int:
        """Forget the messages shown more than KEEP_SHOWN_SECONDS ago; an unshown one
        stays however old. Returns how many were removed (`meshpeer mcp` prunes as it
        starts, so the file does not grow without end)."""
        cutoff = (time.time() if now is None else now) - KEEP_SHOWN_SECONDS
        with self._immediate():
            self._db.execute("BEGIN IMMEDIATE")
            removed = self._db.execute(
                "DELETE FROM messages WHERE shown_at IS NOT NULL AND shown_at < ?", (cutoff,)
            ).rowcount
            self._db.execute("COMMIT")
        return int(removed)

    def claim(self, session_id: str, message_id: str, by: str) -> Stored | None:
        """Mark one message shown; the message if this caller won it, else None."""
        with self._immediate():
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute(
                f"UPDATE messages SET shown_at = ?, shown_by = ? "
                f"WHERE session_id = ? AND message_id = ? AND shown_at IS NULL "
                f"RETURNING {COLUMNS}",
                (time.time(), by, session_id, message_id),
            ).fetchone()
            self._db.execute("COMMIT")
        return None if row is None else stored_from_row(row)

    def claim_unread(
        self,
        session_id: str,
        by: str,
        *,
        limit: int = 100,
        fits: Callable[[Sequence[Stored], Stored], bool] | None = None,
    ) -> list[Stored]:
        """Mark shown, and return oldest first, the session's unread messages: at most
        `limit`, and only while `fits(taken so far, next)` says the next one fits."""
        with self._immediate():
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                f"SELECT seq, {COLUMNS} FROM messages "
                "WHERE session_id = ? AND shown_at IS NULL ORDER BY seq LIMIT ?",
                (session_id, limit),
            ).fetchall()
            taken: list[Stored] = []
            seqs: list[int] = []
            for seq, *columns in rows:
                message = stored_from_row(tuple(columns))
                if fits is not None and not fits(taken, message):
                    break
                taken.append(message)
                seqs.append(seq)
            now = time.time()
            self._db.executemany(
                "UPDATE messages SET shown_at = ?, shown_by = ? WHERE seq = ?",
                [(now, by, seq) for seq in seqs],
            )
            self._db.execute("COMMIT")
        return taken

    def unread(self, session_id: str, limit: int = 100) -> list[Stored]:
        """The session's unread messages, oldest first, left unread."""
        rows = self._db.execute(
            f"SELECT {COLUMNS} FROM messages "
            "WHERE session_id = ? AND shown_at IS NULL ORDER BY seq LIMIT ?",
            (session_id, limit),
        ).fetchall()
        return [stored_from_row(row) for row in rows]

    def count_unread(self, session_id: str) -> int:
        row = self._db.execute(
            "SELECT count(*) FROM messages WHERE session_id = ? AND shown_at IS NULL",
            (session_id,),
        ).fetchone()
        return int(row[0])

    @contextlib.contextmanager
    def _immediate(self) -> Iterator[None]:
        """Roll back whatever the block left open when it fails."""
        try:
            yield
        except BaseException:
            if self._db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("ROLLBACK")
            raise
