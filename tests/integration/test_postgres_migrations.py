"""Postgres-only: the migration runner."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import pytest

from adapters.postgres.migrate import MigrationError, load, migrate, migrations_dir
from tests.integration.conftest import DatabaseFactory

REPO_MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


@pytest.fixture
def scratch_migrations(tmp_path: Path) -> Path:
    """A copy of the project's migrations that a test may change."""
    directory = tmp_path / "migrations"
    shutil.copytree(REPO_MIGRATIONS, directory)
    return directory


async def tracked(url: str) -> dict[str, str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT name, sha256 FROM mesh.schema_migrations ORDER BY name")
        return {row["name"]: row["sha256"] for row in rows}
    finally:
        await conn.close()


async def table_exists(url: str, name: str) -> bool:
    conn = await asyncpg.connect(url)
    try:
        return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", name))
    finally:
        await conn.close()


def test_the_runner_finds_the_repository_migrations() -> None:
    assert migrations_dir() == REPO_MIGRATIONS
    assert next(f.name for f in load(migrations_dir())) == "0001_init.sql"


async def test_migrations_apply_to_an_empty_database(make_database: DatabaseFactory) -> None:
    url = await make_database()
    names = [f.name for f in load(REPO_MIGRATIONS)]

    assert await migrate(url) == names

    assert await tracked(url) == {f.name: f.sha256 for f in load(REPO_MIGRATIONS)}
    for table in ("meshes", "members", "presences", "messages", "deliveries"):
        assert await table_exists(url, f"mesh.{table}")
    assert await table_exists(url, "mesh.pending_signals")
    assert await table_exists(url, "mesh.hello_signatures")


async def test_a_second_run_applies_nothing(database_url: str) -> None:
    before = await tracked(database_url)

    assert await migrate(database_url) == []
    assert await tracked(database_url) == before


async def test_runners_started_together_apply_each_file_once(
    make_database: DatabaseFactory,
) -> None:
    url = await make_database()
    names = [f.name for f in load(REPO_MIGRATIONS)]

    results = await asyncio.gather(*(migrate(url) for _ in range(4)))

    assert sorted(results) == [[], [], [], names]
    assert list(await tracked(url)) == names


async def test_a_new_file_is_applied_after_the_others(
    make_database: DatabaseFactory, scratch_migrations: Path
) -> None:
    url = await make_database()
    await migrate(url, scratch_migrations)
    (scratch_migrations / "0099_more.sql").write_text("CREATE TABLE mesh.more (id int);\n")

    assert await migrate(url, scratch_migrations) == ["0099_more.sql"]
    assert await table_exists(url, "mesh.more")


async def test_a_changed_applied_file_is_reported_by_name(
    make_database: DatabaseFactory, scratch_migrations: Path
) -> None:
    url = await make_database()
    await migrate(url, scratch_migrations)
    (scratch_migrations / "0099_more.sql").write_text("CREATE TABLE mesh.more (id int);\n")
    init = scratch_migrations / "0001_init.sql"
    init.write_text(init.read_text() + "\n-- an innocent-looking edit\n")

    with pytest.raises(MigrationError, match=r"0001_init\.sql.*changed"):
        await migrate(url, scratch_migrations)

    # nothing was applied after the error
    assert not await table_exists(url, "mesh.more")


async def test_line_endings_are_not_a_change(
    make_database: DatabaseFactory, scratch_migrations: Path
) -> None:
    url = await make_database()
    await migrate(url, scratch_migrations)
    init = scratch_migrations / "0001_init.sql"
    init.write_bytes(init.read_bytes().replace(b"\n", b"\r\n"))

    assert await migrate(url, scratch_migrations) == []


async def test_a_failing_file_is_rolled_back_and_reported_by_name(
    make_database: DatabaseFactory, scratch_migrations: Path
) -> None:
    url = await make_database()
    broken = scratch_migrations / "0099_broken.sql"
    broken.write_text("CREATE TABLE mesh.half (id int);\nSELECT no_such_column FROM mesh.half;\n")

    with pytest.raises(MigrationError, match=r"0099_broken\.sql"):
        await migrate(url, scratch_migrations)

    assert list(await tracked(url)) == [f.name for f in load(REPO_MIGRATIONS)]
    assert not await table_exists(url, "mesh.half")
    broken.write_text("CREATE TABLE mesh.half (id int);\n")
    assert await migrate(url, scratch_migrations) == ["0099_broken.sql"]
