"""The migration runner: plain SQL files applied in name order, tracked in a table.

- `mesh.schema_migrations` records each applied file's name, sha256 and time.
- A session-level `pg_advisory_lock` makes instances that start together take turns:
  the second one waits, then finds everything applied.
- Each file runs in its own transaction together with its tracking row, so a file
  is applied entirely or not at all. (A file therefore cannot hold statements that
  refuse to run in a transaction, such as CREATE INDEX CONCURRENTLY.)
- A file changed after it was applied stops the runner with an error naming it:
  applied migrations are history; change the schema with a new file.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.driver_errors import DRIVER_ERRORS, store_error

# "meshmigr" in ASCII: the key of the runner's advisory lock.
LOCK_KEY = 0x6D6573686D696772

_BOOTSTRAP = """
CREATE SCHEMA IF NOT EXISTS mesh;
CREATE TABLE IF NOT EXISTS mesh.schema_migrations (
    name        text PRIMARY KEY,
    sha256      text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
"""


# SQLSTATE classes that mean the server went away or gave up, not that a file is wrong:
# connection exception, insufficient resources, operator intervention, system error.
_OUTAGE_CLASSES = frozenset({"08", "53", "57", "58"})


class MigrationError(Exception):
    """A migration file is broken, or was changed after it was applied."""


@dataclass(frozen=True, slots=True)
class MigrationFile:
    name: str
    sql: str
    sha256: str


def migrations_dir() -> Path:
    """Where the SQL files are: inside the package in an installed wheel (hatch
    force-includes them there), else the repository's `migrations/` folder."""
    here = Path(__file__).resolve().parent
    candidates = [here / "migrations", here.parents[2] / "migrations"]
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.sql")):
            return candidate
    looked = ", ".join(str(c) for c in candidates)
    raise MigrationError(f"no migrations directory found (looked in {looked})")


def load(directory: Path) -> list[MigrationFile]:
    """The `*.sql` files of `directory` in name order. The checksum is taken over the
    text with newlines normalised, so a checkout with CRLF line ends is not "changed"."""
    files = []
    for path in sorted(directory.glob("*.sql"), key=lambda p: p.name):
        sql = path.read_text(encoding="utf-8").replace("\r\n", "\n")
        digest = hashlib.sha256(sql.encode("utf-8")).hexdigest()
        files.append(MigrationFile(path.name, sql, digest))
    return files


async def migrate(
    dsn: str, directory: Path | None = None, *, connect_timeout: float = 10.0
) -> list[str]:
    """Apply the pending migrations; return the names applied (empty when up to date).

    Raise MigrationError for a changed or failing file, StoreUnavailable when the
    database cannot be reached.
    """
    files = load(directory if directory is not None else migrations_dir())
    try:
        conn = await asyncpg.connect(dsn, timeout=connect_timeout)
    except DRIVER_ERRORS as exc:
        raise store_error(exc) from exc
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
        try:
            return await _apply(conn, files)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    except MigrationError:
        raise
    except DRIVER_ERRORS as exc:
        raise store_error(exc) from exc
    finally:
        await conn.close()


async def _apply(conn: asyncpg.Connection, files: list[MigrationFile]) -> list[str]:
    await conn.execute(_BOOTSTRAP)
    rows = await conn.fetch("SELECT name, sha256 FROM mesh.schema_migrations")
    applied = {row["name"]: row["sha256"] for row in rows}
    for f in files:
        if f.name in applied and applied[f.name] != f.sha256:
            raise MigrationError(
                f"migration {f.name} was changed after it was applied "
                f"(applied sha256 {applied[f.name]}, file now {f.sha256}); "
                "restore the file and put the change in a new migration"
            )
    done = []
    for f in files:
        if f.name in applied:
            continue
        try:
            async with conn.transaction():
                await conn.execute(f.sql)
                await conn.execute(
                    "INSERT INTO mesh.schema_migrations (name, sha256) VALUES ($1, $2)",
                    f.name,
                    f.sha256,
                )
        except asyncpg.PostgresError as exc:
            if (getattr(exc, "sqlstate", None) or "")[:2] in _OUTAGE_CLASSES:
                raise
            raise MigrationError(f"migration {f.name} failed: {exc}") from exc
        done.append(f.name)
    return done
