"""An embedded Postgres (the `pgserver` wheel) for `meshbroker serve` without a
DATABASE_URL outside production, and for tests on a machine with no other server.

The server keeps its data in `<data_dir>/postgres` and listens on a unix socket only
(no TCP port). pgserver starts as root too: it then runs Postgres as its own system
user `pgserver`. Starting blocks (initdb on first use takes a few seconds): call
`start()` before the event loop runs, or through `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(".meshbroker")


class EmbeddedPostgres:
    """`start()` returns a `postgresql://` DSN (asyncpg accepts it); `stop()` stops the
    server. A process that exits without `stop()` stops it at exit too. Starting when
    this data directory's server already runs joins that server."""

    def __init__(
        self, data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR, *, database: str = "postgres"
    ) -> None:
        self.data_dir = Path(data_dir).expanduser().resolve()
        self.database = database
        self._server: Any = None
        self._dsn: str | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir / "postgres"

    @property
    def dsn(self) -> str:
        if self._dsn is None:
            raise RuntimeError("the embedded Postgres is not started")
        return self._dsn

    def start(self) -> str:
        if self._dsn is not None:
            return self._dsn
        if any(c.isspace() for c in str(self.pgdata)):
            # pgserver hands the path to pg_ctl unquoted; postgres then fails to start.
            raise ValueError(
                f"the embedded Postgres needs a data directory without whitespace in its "
                f"path, got {str(self.data_dir)!r}; set BROKER_DATA_DIR to another one"
            )
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI);
            # pgserver then keeps its lock file under /tmp, which is fine.
            warnings.simplefilter("ignore")
            from pgserver.postgres_server import get_server

            self.data_dir.mkdir(parents=True, exist_ok=True)
            self._server = get_server(self.pgdata, cleanup_mode="stop")
        self._dsn = socket_dsn(self._server.get_postmaster_info(), self.database)
        log.info("embedded Postgres running in %s", self.pgdata)
        return self._dsn

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None
            self._dsn = None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR) -> EmbeddedPostgres:
    """Start an embedded Postgres in `data_dir` and return it (its DSN is `.dsn`)."""
    embedded = EmbeddedPostgres(data_dir)
    embedded.start()
    return embedded


def socket_dsn(info: Any, database: str, user: str = "postgres") -> str:
    """A DSN for the server that pgserver's postmaster info describes: its unix socket
    directory (URL-quoted, so a path with spaces works) and port, else host and port."""
    if info.socket_dir is not None:
        host = quote(str(info.socket_dir), safe="")
        port = f"&port={info.port}" if info.port else ""
        return f"postgresql://{user}@/{quote(database)}?host={host}{port}"
    return f"postgresql://{user}@{info.hostname}:{info.port}/{quote(database)}"
