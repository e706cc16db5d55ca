"""The broker under test: a fresh database on a Postgres server, and `meshbroker serve`
in a subprocess on it. Only the database created here is ever dropped."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg  # type: ignore[import-untyped]

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"

# Limits of the broker that a benchmark must not run into: it measures speed, not
# the per-member rate limits or the per-mesh connection cap.
BENCH_ENV = {
    "SEND_RATE_LIMIT_PER_MIN": "100000000",
    "SEND_RATE_BURST": "1000000",
    "HOOK_RATE_LIMIT_PER_MIN": "100000000",
    "MAX_CONNECTIONS_PER_MESH": "100000",
    # Every benchmark client comes from 127.0.0.1, thousands of hellos at once.
    "MAX_PENDING_CONNECTIONS": "100000",
    "MAX_PENDING_CONNECTIONS_PER_IP": "100000",
}


def server_url(given: str | None) -> str:
    return given or os.environ.get("TEST_DATABASE_URL") or DEFAULT_SERVER


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


async def create_database(server: str) -> str:
    """Create `meshbroker_bench_<hex>` on `server`; its URL."""
    name = f"meshbroker_bench_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server, name)


async def drop_database(server: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    assert name.startswith("meshbroker_bench_"), name  # never anything we did not create
    conn = await asyncpg.connect(server)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def raise_fd_limit() -> int:
    """Raise this process's open-file limit to its hard limit (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


class Broker:
    """`python -m app.cli serve` with BROKER_PORT=0; reads its JSON log from stderr,
    keeps the port it announces, and counts warnings and errors."""

    def __init__(
        self, database_url: str, extra_env: dict[str, str], log_file: str | None = None
    ) -> None:
        self.log_file = log_file
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "BROKER_HOST": "127.0.0.1",
            "BROKER_PORT": "0",
            "NODE_ENV": "production",
            **BENCH_ENV,
            **extra_env,
        }
        self.proc: subprocess.Popen[str] | None = None
        self.port: int | None = None
        self.levels: collections.Counter[str] = collections.Counter()
        self.problems: collections.Counter[str] = collections.Counter()
        self.samples: dict[str, dict[str, Any]] = {}
        self.tail: collections.deque[str] = collections.deque(maxlen=30)
        self._listening = threading.Event()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self, timeout: float = 60.0) -> Broker:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        if not self._listening.wait(timeout) or self.port is None:
            self.stop()
            raise RuntimeError("the broker did not start:\n" + "\n".join(self.tail))
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        keep = open(self.log_file, "w") if self.log_file else None  # noqa: SIM115
        for raw in self.proc.stderr:
            self.tail.append(raw.rstrip())
            if keep is not None:
                keep.write(raw)
            try:
                entry = json.loads(raw)
                level = str(entry.get("level", "?")).lower()
            except ValueError:
                entry, level = {"msg": raw.rstrip()}, "raw"
            self.levels[level] += 1
            if entry.get("msg") == "broker listening":
                self.port = int(entry["port"])
                self._listening.set()
            if level in ("warning", "error", "critical", "raw"):
                key = f"{level}: {str(entry.get('msg'))[:120]}"
                self.problems[key] += 1
                self.samples.setdefault(key, entry)
        if keep is not None:
            keep.close()
        self._listening.set()

    def log_summary(self) -> dict[str, Any]:
        return {
            "lines": sum(self.levels.values()),
            "warnings": self.levels["warning"],
            "errors": self.levels["error"] + self.levels["critical"],
            "other": self.levels["raw"],
            "problems": dict(self.problems.most_common(8)),
        }

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL after `timeout`; the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        time.sleep(0.1)  # let the reader thread take the last lines
        return self.proc.returncode


async def postmaster_of(database_url: str) -> int | None:
    """The local pid of the Postgres server holding `database_url`, when it runs here."""
    from bench.procstat import cmdline, parent

    conn = await asyncpg.connect(database_url)
    try:
        postmaster = parent(await conn.fetchval("SELECT pg_backend_pid()"))
    finally:
        await conn.close()
    return postmaster if postmaster and "postgres" in cmdline(postmaster) else None


def db_counters(database_url: str) -> Callable[[], dict[str, int] | None]:
    """A function that reads two counters of the Postgres server:
    `xacts`, transactions committed in `database_url` (pg_stat_database.xact_commit:
    every autocommitted statement counts, read-only ones too: round trips that end a
    transaction, not disk flushes), and `wal_syncs`, WAL flushes to disk of the whole
    server (pg_stat_wal.wal_sync: other databases' work counts too). Postgres
    publishes both with up to ~1 s delay."""

    async def read() -> dict[str, int]:
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow(
                "SELECT (SELECT xact_commit FROM pg_stat_database"
                "        WHERE datname = current_database()) AS xacts,"
                "       (SELECT wal_sync FROM pg_stat_wal) AS wal_syncs"
            )
            return {key: int(value) for key, value in row.items() if value is not None}
        finally:
            await conn.close()

    def count() -> dict[str, int] | None:
        try:
            return asyncio.run(read())
        except (OSError, asyncpg.PostgresError):
            return None

    return count
