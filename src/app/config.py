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
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from domain.admission import HelloAuth
from domain.policy import HookAuth, Policy

VERSION = "0.1.0"

_E = TypeVar("_E", bound=StrEnum)
_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+")
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
_POSTGRES_SCHEMES = ("postgres://", "postgresql://")
_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})
_LOG_LEVELS = ("debug", "info", "warning", "error")
_DEFAULT_POLICY = Policy()


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
    port: int = 7900
    status_ttl_seconds: float = 60
    hook_fresh_window_seconds: float = 30
    max_connections_per_mesh: int = 100
    max_message_bytes: int = 65536
    hook_rate_limit_per_min: int = 30
    join_rate_limit_per_min: int = 10
    public_url: str | None = None
    node_env: NodeEnv = NodeEnv.DEVELOPMENT
    git_sha_env: str | None = None
    hello_auth: HelloAuth = HelloAuth.STRICT
    hello_max_skew_seconds: float = 60
    hello_timeout_seconds: float = 10
    hook_auth: HookAuth = HookAuth.OPEN
    send_rate_limit_per_min: int = 1200
    send_rate_burst: int = 200
    ack_timeout_seconds: float = 30
    message_ttl_seconds: float = 604800
    reconnect_grace_seconds: float = 90
    ws_ping_interval_seconds: float = 30
    ws_pong_timeout_seconds: float = 45
    member_cache_seconds: float = 5
    ws_write_timeout_seconds: float = 5
    max_pending_connections: int = 1024
    max_pending_connections_per_ip: int = 128
    receipt_retention_seconds: float = 86400
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
        r = _Reader(env)
        node_env = r.enum("NODE_ENV", NodeEnv, NodeEnv.DEVELOPMENT)
        production = node_env is NodeEnv.PRODUCTION
        default_hook_auth = HookAuth.TOKEN if production else HookAuth.OPEN
        settings = cls(
            database_url=r.database_url("DATABASE_URL", required=production),
            host=r.text("BROKER_HOST", ""),
            port=r.port("BROKER_PORT", 7900),
            status_ttl_seconds=r.seconds("STATUS_TTL_SECONDS", 60),
            hook_fresh_window_seconds=r.seconds("HOOK_FRESH_WINDOW_SECONDS", 30),
            max_connections_per_mesh=r.positive_int("MAX_CONNECTIONS_PER_MESH", 100),
            max_message_bytes=r.positive_int("MAX_MESSAGE_BYTES", 65536),
            hook_rate_limit_per_min=r.positive_int("HOOK_RATE_LIMIT_PER_MIN", 30),
            join_rate_limit_per_min=r.positive_int("JOIN_RATE_LIMIT_PER_MIN", 10),
            public_url=r.ws_url_or_none("BROKER_PUBLIC_URL"),
            node_env=node_env,
            git_sha_env=r.hex_or_none("GIT_SHA"),
            hello_auth=r.enum("HELLO_AUTH", HelloAuth, HelloAuth.STRICT),
            hello_max_skew_seconds=r.seconds("HELLO_MAX_SKEW_SECONDS", 60),
            hello_timeout_seconds=r.seconds("HELLO_TIMEOUT_SECONDS", 10),
            hook_auth=r.enum("HOOK_AUTH", HookAuth, default_hook_auth),
            send_rate_limit_per_min=r.positive_int("SEND_RATE_LIMIT_PER_MIN", 1200),
            send_rate_burst=r.positive_int("SEND_RATE_BURST", 200),
            ack_timeout_seconds=r.seconds("ACK_TIMEOUT_SECONDS", 30),
            message_ttl_seconds=r.seconds("MESSAGE_TTL_SECONDS", 604800),
            reconnect_grace_seconds=r.seconds("RECONNECT_GRACE_SECONDS", 90, allow_zero=True),
            ws_ping_interval_seconds=r.seconds("WS_PING_INTERVAL_SECONDS", 30),
            ws_pong_timeout_seconds=r.seconds("WS_PONG_TIMEOUT_SECONDS", 45),
            member_cache_seconds=r.seconds("MEMBER_CACHE_SECONDS", 5, allow_zero=True),
            ws_write_timeout_seconds=r.seconds("WS_WRITE_TIMEOUT_SECONDS", 5),
            max_pending_connections=r.positive_int("MAX_PENDING_CONNECTIONS", 1024),
            max_pending_connections_per_ip=r.positive_int("MAX_PENDING_CONNECTIONS_PER_IP", 128),
            receipt_retention_seconds=r.seconds("RECEIPT_RETENTION_SECONDS", 86400),
            data_dir=Path(r.text("BROKER_DATA_DIR", "./.meshbroker")),
            skip_migrate=r.flag("BROKER_SKIP_MIGRATE", False),
            log_level=r.choice("LOG_LEVEL", _LOG_LEVELS, "info"),
            workers=r.positive_int("BROKER_WORKERS", 1),
            reuse_port=r.flag("BROKER_REUSE_PORT", False),
            worker_port_base=r.port("BROKER_WORKER_PORT_BASE", 0),
        )
        if r.errors:
            raise ConfigError(r.errors)
        if not settings.host:
            # While hook reports are unauthenticated, the broker is not offered to the
            # network unless BROKER_HOST says so.
            loopback = settings.hook_auth is HookAuth.OPEN
            settings = dataclasses.replace(settings, host="127.0.0.1" if loopback else "0.0.0.0")
        return settings

    # ------------------------------------------------------------ derived values

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
        """The domain's numbers. A dead peer is presumed gone after one ping interval
        plus the pong timeout; a default message TTL above the domain's longest allowed
        one raises that ceiling, so the default is always a TTL a client may ask for."""
        message_ttl = timedelta(seconds=self.message_ttl_seconds)
        longest_ttl = max(_DEFAULT_POLICY.max_message_ttl, message_ttl)
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
            max_message_ttl=longest_ttl,
            reconnect_grace=timedelta(seconds=self.reconnect_grace_seconds),
            hello_max_skew=timedelta(seconds=self.hello_max_skew_seconds),
            hello_auth=self.hello_auth,
            hook_auth=self.hook_auth,
            presence_stale_after=timedelta(
                seconds=self.ws_ping_interval_seconds + self.ws_pong_timeout_seconds
            ),
            receipt_retention=timedelta(seconds=self.receipt_retention_seconds),
        )

    def invite_url(self) -> str:
        """The broker's WebSocket URL as invites carry it: `BROKER_PUBLIC_URL`, else
        this machine's loopback address and `BROKER_PORT`."""
        return self.public_url or f"ws://127.0.0.1:{self.port or 7900}/ws"

    def summary(self) -> dict[str, Any]:
        """The settings as a dict safe to log: the database password is masked."""
        out: dict[str, Any] = {
            name: getattr(self, name) for name in self.__dataclass_fields__ if name != "git_sha_env"
        }
        out["database_url"] = redact_url(self.database_url) if self.database_url else None
        out["data_dir"] = str(self.data_dir)
        return out


def redact_url(url: str) -> str:
    """`url` with its password replaced by `***`."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
    except ValueError:
        return "<unparseable>"


# ---------------------------------------------------------------- build info


def git_sha(configured: str | None = None) -> str:
    """`configured` (the `GIT_SHA` variable) if set, else the short commit of the
    checkout this code runs from, else "unknown"."""
    if configured:
        return configured
    return _rev_parse(str(Path(__file__).resolve().parent))


@functools.cache
def _rev_parse(cwd: str) -> str:
    """Asked once per process: /health must not spawn git on every request."""
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=2,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    sha = done.stdout.strip()
    if done.returncode != 0 or not _HEX.fullmatch(sha):
        return "unknown"
    return sha


# ---------------------------------------------------------------- parsing


class _Reader:
    """Reads variables, collecting one error per bad variable and returning the
    default for it, so that one run reports every mistake at once."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self.errors: list[str] = []

    def _raw(self, name: str) -> str | None:
        value = self._env.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _parse(self, name: str, default: Any, accepts: str, parse: Callable[[str], Any]) -> Any:
        raw = self._raw(name)
        if raw is None:
            return default
        try:
            return parse(raw)
        except ValueError:
            self.errors.append(f"{name} must be {accepts}, got {raw!r}")
            return default

    def text(self, name: str, default: str) -> str:
        raw = self._raw(name)
        return default if raw is None else raw

    def port(self, name: str, default: int) -> int:
        accepts = "an integer from 1 to 65535, or 0 for any free port"
        return int(self._parse(name, default, accepts, lambda s: _int_in(s, 0, 65535)))

    def positive_int(self, name: str, default: int) -> int:
        accepts = "a whole number greater than 0"
        return int(self._parse(name, default, accepts, lambda s: _int_in(s, 1, None)))

    def seconds(self, name: str, default: float, *, allow_zero: bool = False) -> float:
        if allow_zero:
            accepts = "a number of seconds, 0 or more (decimals allowed)"
        else:
            accepts = "a number of seconds greater than 0 (decimals allowed)"
        return float(self._parse(name, default, accepts, lambda s: _seconds(s, allow_zero)))

    def enum(self, name: str, kind: type[_E], default: _E) -> _E:
        accepts = "one of " + ", ".join(member.value for member in kind)
        result: _E = self._parse(name, default, accepts, lambda s: kind(s.lower()))
        return result

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        accepts = "one of " + ", ".join(options)
        return str(self._parse(name, default, accepts, lambda s: _one_of(s.lower(), options)))

    def flag(self, name: str, default: bool) -> bool:
        return bool(self._parse(name, default, "one of 0, 1, true, false", _flag))

    def hex_or_none(self, name: str) -> str | None:
        accepts = "a hexadecimal commit hash (4 to 64 hex digits)"
        value: str | None = self._parse(name, None, accepts, _hex)
        return value

    def ws_url_or_none(self, name: str) -> str | None:
        accepts = "a ws:// or wss:// URL with a host, e.g. wss://mesh.example.com/ws"
        value: str | None = self._parse(name, None, accepts, _ws_url)
        return value

    def database_url(self, name: str, *, required: bool) -> str | None:
        raw = self._raw(name)
        if raw is None:
            if required:
                self.errors.append(
                    f"{name} is required when NODE_ENV=production "
                    "(a postgres:// or postgresql:// URL)"
                )
            return None
        if not raw.startswith(_POSTGRES_SCHEMES):
            # Never echo the URL: it may carry a password.
            scheme = raw.split("://", 1)[0] if "://" in raw else "no scheme"
            self.errors.append(f"{name} must be a postgres:// or postgresql:// URL, got {scheme!r}")
            return None
        return raw


def _int_in(text: str, low: int, high: int | None) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError(text)
    value = int(text)
    if value < low or (high is not None and value > high):
        raise ValueError(text)
    return value


def _seconds(text: str, allow_zero: bool) -> float:
    if not _DECIMAL.fullmatch(text):
        raise ValueError(text)
    value = float(text)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(text)
    return value


def _flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def _one_of(text: str, options: tuple[str, ...]) -> str:
    if text not in options:
        raise ValueError(text)
    return text


def _ws_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(text) from exc
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(text)
    return text


def _hex(text: str) -> str:
    if not _HEX.fullmatch(text):
        raise ValueError(text)
    return text
