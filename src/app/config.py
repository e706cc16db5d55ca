"""The broker's settings: environment variables only, validated once at start-up.

`Settings.from_env(os.environ)` reads every variable of the runtime contract and of
protocol.md, checks each against its range, and raises `ConfigError` naming every bad
variable and what it accepts. It never reads `os.environ` itself, so tests hand it a dict.

Conventions (docs/adr/0007-configuration.md):
- An unset variable, or one set to the empty string, takes its default.
- Counts are decimal integers. Durations (`*_SECONDS`) are decimal numbers of seconds,
  fractions allowed (`0.5`), so tests can run with short timeouts.
- Enumerated values (`NODE_ENV`, `HELLO_AUTH`, `HOOK_AUTH`, `LOG_LEVEL`) and booleans
  are case-insensitive.

Each default is written once: a rule's number in domain/policy.py, the others as a
field default below, which `from_env` reads back. Reading the variables is app/env.py;
the commit lookup app/build_info.py; URL redaction app/redact.py.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

from app.build_info import VERSION, git_sha
from app.env import Reader
from app.redact import redact_url
from domain.admission import HelloAuth
from domain.policy import HookAuth, Policy, default_hook_auth, stale_after, ttl_ceiling

__all__ = ["VERSION", "ConfigError", "NodeEnv", "Settings", "git_sha", "redact_url"]

_LOG_LEVELS = ("debug", "info", "warning", "error")
DEFAULT_PORT = 7900
# The domain's defaults are the contract's: each is written once, in domain/policy.py.
_POLICY = Policy()


def _seconds(span: timedelta) -> float:
    return span.total_seconds()


class ConfigError(Exception):
    """One or more environment variables are invalid. The message names each of them
    and what it accepts; `errors` holds one message per variable."""

    def __init__(self, errors: list[str] | str) -> None:
        self.errors: tuple[str, ...] = (errors,) if isinstance(errors, str) else tuple(errors)
        super().__init__("; ".join(self.errors))


class NodeEnv(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"
    TEST = "test"


@dataclass(frozen=True, slots=True)
class Settings:
    """Every tunable of the broker. Field defaults are the contract's defaults
    (`HOOK_AUTH` excepted: it follows `NODE_ENV` in `from_env`)."""

    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    status_ttl_seconds: float = _seconds(_POLICY.status_ttl)
    hook_fresh_window_seconds: float = _seconds(_POLICY.hook_fresh_window)
    max_connections_per_mesh: int = _POLICY.max_connections_per_mesh
    max_message_bytes: int = _POLICY.max_message_bytes
    hook_rate_limit_per_min: int = _POLICY.hook_rate_per_min
    join_rate_limit_per_min: int = _POLICY.join_rate_per_min
    public_url: str | None = None
    node_env: NodeEnv = NodeEnv.DEVELOPMENT
    git_sha_env: str | None = None
    hello_auth: HelloAuth = _POLICY.hello_auth
    hello_max_skew_seconds: float = _seconds(_POLICY.hello_max_skew)
    hello_timeout_seconds: float = _seconds(_POLICY.hello_timeout)
    hook_auth: HookAuth = _POLICY.hook_auth  # outside production; see from_env
    send_rate_limit_per_min: int = _POLICY.send_rate_per_min
    send_rate_burst: int = _POLICY.send_burst
    ack_timeout_seconds: float = _seconds(_POLICY.ack_timeout)
    message_ttl_seconds: float = _seconds(_POLICY.message_ttl)
    reconnect_grace_seconds: float = _seconds(_POLICY.reconnect_grace)
    ws_ping_interval_seconds: float = 30
    ws_pong_timeout_seconds: float = 45
    member_cache_seconds: float = 5
    ws_write_timeout_seconds: float = 5
    max_pending_connections: int = 1024
    max_pending_connections_per_ip: int = 128
    receipt_retention_seconds: float = _seconds(_POLICY.receipt_retention)
    data_dir: Path = Path("./.meshbroker")
    skip_migrate: bool = False
    log_level: str = "info"
    workers: int = 1  # BROKER_WORKERS, or `serve --workers N` (issue 18)
    reuse_port: bool = False  # BROKER_REUSE_PORT: bind with SO_REUSEPORT (set for workers)
    # BROKER_WORKER_PORT_BASE: worker i also listens on this + i, its own address for
    # /metrics and /health (0: no such port)
    worker_port_base: int = 0

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Parse and validate `env`; raise ConfigError listing every bad variable."""
        r, d = Reader(env), cls()
        node_env = r.enum("NODE_ENV", NodeEnv, d.node_env)
        production = node_env is NodeEnv.PRODUCTION
        settings = cls(
            database_url=r.database_url("DATABASE_URL", required=production),
            host=r.text("BROKER_HOST", ""),  # chosen below from HOOK_AUTH
            port=r.port("BROKER_PORT", d.port),
            status_ttl_seconds=r.seconds("STATUS_TTL_SECONDS", d.status_ttl_seconds),
            hook_fresh_window_seconds=r.seconds(
                "HOOK_FRESH_WINDOW_SECONDS", d.hook_fresh_window_seconds
            ),
            max_connections_per_mesh=r.positive_int(
                "MAX_CONNECTIONS_PER_MESH", d.max_connections_per_mesh
            ),
            max_message_bytes=r.positive_int("MAX_MESSAGE_BYTES", d.max_message_bytes),
            hook_rate_limit_per_min=r.positive_int(
                "HOOK_RATE_LIMIT_PER_MIN", d.hook_rate_limit_per_min
            ),
            join_rate_limit_per_min=r.positive_int(
                "JOIN_RATE_LIMIT_PER_MIN", d.join_rate_limit_per_min
            ),
            public_url=r.ws_url_or_none("BROKER_PUBLIC_URL"),
            node_env=node_env,
            git_sha_env=r.hex_or_none("GIT_SHA"),
            hello_auth=r.enum("HELLO_AUTH", HelloAuth, d.hello_auth),
            hello_max_skew_seconds=r.seconds("HELLO_MAX_SKEW_SECONDS", d.hello_max_skew_seconds),
            hello_timeout_seconds=r.seconds("HELLO_TIMEOUT_SECONDS", d.hello_timeout_seconds),
            hook_auth=r.enum("HOOK_AUTH", HookAuth, default_hook_auth(production)),
            send_rate_limit_per_min=r.positive_int(
                "SEND_RATE_LIMIT_PER_MIN", d.send_rate_limit_per_min
            ),
            send_rate_burst=r.positive_int("SEND_RATE_BURST", d.send_rate_burst),
            ack_timeout_seconds=r.seconds("ACK_TIMEOUT_SECONDS", d.ack_timeout_seconds),
            message_ttl_seconds=r.seconds("MESSAGE_TTL_SECONDS", d.message_ttl_seconds),
            reconnect_grace_seconds=r.seconds(
                "RECONNECT_GRACE_SECONDS", d.reconnect_grace_seconds, allow_zero=True
            ),
            ws_ping_interval_seconds=r.seconds(
                "WS_PING_INTERVAL_SECONDS", d.ws_ping_interval_seconds
            ),
            ws_pong_timeout_seconds=r.seconds("WS_PONG_TIMEOUT_SECONDS", d.ws_pong_timeout_seconds),
            member_cache_seconds=r.seconds(
                "MEMBER_CACHE_SECONDS", d.member_cache_seconds, allow_zero=True
            ),
            ws_write_timeout_seconds=r.seconds(
                "WS_WRITE_TIMEOUT_SECONDS", d.ws_write_timeout_seconds
            ),
            max_pending_connections=r.positive_int(
                "MAX_PENDING_CONNECTIONS", d.max_pending_connections
            ),
            max_pending_connections_per_ip=r.positive_int(
                "MAX_PENDING_CONNECTIONS_PER_IP", d.max_pending_connections_per_ip
            ),
            receipt_retention_seconds=r.seconds(
                "RECEIPT_RETENTION_SECONDS", d.receipt_retention_seconds
            ),
            data_dir=Path(r.text("BROKER_DATA_DIR", str(d.data_dir))),
            skip_migrate=r.flag("BROKER_SKIP_MIGRATE", d.skip_migrate),
            log_level=r.choice("LOG_LEVEL", _LOG_LEVELS, d.log_level),
            workers=r.positive_int("BROKER_WORKERS", d.workers),
            reuse_port=r.flag("BROKER_REUSE_PORT", d.reuse_port),
            worker_port_base=r.port("BROKER_WORKER_PORT_BASE", d.worker_port_base),
        )
        if r.errors:
            raise ConfigError(r.errors)
        if not settings.host:
            # While hook reports are unauthenticated, the broker is not offered to the
            # network unless BROKER_HOST says so.
            loopback = settings.hook_auth is HookAuth.OPEN
            settings = dataclasses.replace(settings, host=d.host if loopback else "0.0.0.0")
        return settings

    @property
    def production(self) -> bool:
        return self.node_env is NodeEnv.PRODUCTION

    @property
    def version(self) -> str:
        return VERSION

    def git_sha(self) -> str:
        """`GIT_SHA` if set, else `git rev-parse --short HEAD` where that works, else
        "unknown"."""
        return git_sha(self.git_sha_env)

    def policy(self) -> Policy:
        """The domain's numbers (the rules that derive some: domain/policy.py)."""
        message_ttl = timedelta(seconds=self.message_ttl_seconds)
        return Policy(
            status_ttl=timedelta(seconds=self.status_ttl_seconds),
            hook_fresh_window=timedelta(seconds=self.hook_fresh_window_seconds),
            max_connections_per_mesh=self.max_connections_per_mesh,
            max_message_bytes=self.max_message_bytes,
            hook_rate_per_min=self.hook_rate_limit_per_min,
            join_rate_per_min=self.join_rate_limit_per_min,
            send_rate_per_min=self.send_rate_limit_per_min,
            send_burst=self.send_rate_burst,
            ack_timeout=timedelta(seconds=self.ack_timeout_seconds),
            message_ttl=message_ttl,
            max_message_ttl=ttl_ceiling(message_ttl),
            reconnect_grace=timedelta(seconds=self.reconnect_grace_seconds),
            hello_max_skew=timedelta(seconds=self.hello_max_skew_seconds),
            hello_timeout=timedelta(seconds=self.hello_timeout_seconds),
            hello_auth=self.hello_auth,
            hook_auth=self.hook_auth,
            presence_stale_after=stale_after(
                timedelta(seconds=self.ws_ping_interval_seconds),
                timedelta(seconds=self.ws_pong_timeout_seconds),
            ),
            receipt_retention=timedelta(seconds=self.receipt_retention_seconds),
        )

    def invite_url(self) -> str:
        """The broker's WebSocket URL as invites carry it: `BROKER_PUBLIC_URL`, else
        this machine's loopback address and `BROKER_PORT`."""
        return self.public_url or f"ws://127.0.0.1:{self.port or DEFAULT_PORT}/ws"

    def summary(self) -> dict[str, Any]:
        """The settings as a dict safe to log: the database password is masked."""
        out: dict[str, Any] = {
            name: getattr(self, name) for name in self.__dataclass_fields__ if name != "git_sha_env"
        }
        out["database_url"] = redact_url(self.database_url) if self.database_url else None
        out["data_dir"] = str(self.data_dir)
        return out
