"""A real Postgres for the integration tests (ADR 0005).

The server, in this order:
1. `TEST_DATABASE_URL` when set: an existing server (CI sets the machine's);
2. a testcontainers `PostgresContainer` when a Docker engine answers;
3. an embedded Postgres (pgserver) in a temporary directory.

On that server the session creates its own database `meshbroker_test_<hex>`, applies
the migrations once, and drops it (WITH (FORCE)) at the end: the server's other
databases are never touched. Every test under tests/integration is marked
`integration`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from adapters.postgres.database import Database
from adapters.postgres.embedded import EmbeddedPostgres
from adapters.postgres.migrate import migrate

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.integration)


def with_database(url: str, name: str) -> str:
    """`url` with its database replaced by `name` (query, e.g. a socket host, kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@contextlib.contextmanager
def _server() -> Iterator[tuple[str, str]]:
    """Yield (url of the server's maintenance database, where it comes from)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url, "TEST_DATABASE_URL"
        return
    if _docker_answers():
        try:
            from testcontainers.community.postgres import PostgresContainer
        except ImportError:  # older layouts
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                from testcontainers.postgres import PostgresContainer

        with PostgresContainer("postgres:16-alpine", driver=None) as container:
            yield container.get_connection_url(), "testcontainers"
        return
    with tempfile.TemporaryDirectory(prefix="meshbroker-test-") as tmp:
        embedded = EmbeddedPostgres(Path(tmp))
        try:
            yield embedded.start(), "embedded pgserver"
        finally:
            embedded.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of the test server's maintenance database (create databases here)."""
    with _server() as (url, origin):
        print(f"\nintegration tests on a Postgres from {origin}")
        yield url


DatabaseFactory = Callable[[], Awaitable[str]]


@pytest.fixture(scope="session")
async def make_database(postgres_server: str) -> AsyncIterator[DatabaseFactory]:
    """Create empty databases on the test server; all are dropped at session end."""
    created: list[str] = []

    async def make() -> str:
        name = f"meshbroker_test_{secrets.token_hex(6)}"
        conn = await asyncpg.connect(postgres_server)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        created.append(name)
        return with_database(postgres_server, name)

    yield make
    conn = await asyncpg.connect(postgres_server)
    try:
        for name in created:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url(make_database: DatabaseFactory) -> str:
    """This session's own database, migrated."""
    url = await make_database()
    await migrate(url)
    return url


@pytest.fixture(scope="session")
async def database(database_url: str) -> AsyncIterator[Database]:
    db = await Database.create(database_url, min_size=2, max_size=10)
    yield db
    await db.close()


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A Postgres server of the test's own, which the test may stop and start."""
    server = EmbeddedPostgres(tmp_path / "pg")
    server.start()
    yield server
    server.stop()
