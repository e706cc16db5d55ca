"""An embedded Postgres (the `pgserver` wheel) for `meshbroker serve` without a
DATABASE_URL outside production, and for tests on a machine with no other server.

The server keeps its data in `<data_dir>/postgres` and listens on a unix socket only
(no TCP port). pgserver starts as root too: it runs Postgres as its own system user.
Starting is blocking (initdb on first use takes a few seconds): call `start_embedded`
before the event loop runs, or through `asyncio.to_thread`.
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

log = logging.getLogger(__name__)

DEFAULT_DATA_DIR = Path(".meshbroker")


@dataclass
class EmbeddedPostgres:
    """A running embedded server: connect with `dsn`, `stop()` when done. A process
    that exits without calling `stop()` stops it on exit, too."""

    data_dir: Path
    dsn: str
    _server: Any = field(repr=False)

    def stop(self) -> None:
        self._server.cleanup()

    def __enter__(self) -> EmbeddedPostgres:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_embedded(
    data_dir: str | os.PathLike[str] = DEFAULT_DATA_DIR, *, database: str = "postgres"
) -> EmbeddedPostgres:
    """Start (or join, when this data directory's server already runs) an embedded
    Postgres and return it with a `postgresql://` DSN that asyncpg accepts."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver
        # then keeps its lock file under /tmp, which is fine.
        warnings.simplefilter("ignore")
        import pgserver

        root = Path(data_dir).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(root / "postgres", cleanup_mode="stop")
    dsn = socket_dsn(server.get_postmaster_info(), database)
    log.info("embedded Postgres running in %s", root / "postgres")
    return EmbeddedPostgres(root, dsn, server)


def socket_dsn(info: Any, database: str, user: str = "postgres") -> str:
    """A DSN for the server described by pgserver's postmaster info: its unix socket
    directory (URL-quoted, so paths with spaces work) and port, or host and port."""
    if info.socket_dir is not None:
        host = quote(str(info.socket_dir), safe="")
        port = f"&port={info.port}" if info.port else ""
        return f"postgresql://{user}@/{quote(database)}?host={host}{port}"
    return f"postgresql://{user}@{info.hostname}:{info.port}/{quote(database)}"
