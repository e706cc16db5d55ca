"""Settings from the environment: every variable's default, a good value, bad values
that stop start-up with a message naming the variable; the domain Policy built from it."""

from __future__ import annotations

import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from app import build_info, config
from app.config import VERSION, ConfigError, NodeEnv, Settings
from domain.admission import HelloAuth
from domain.policy import HookAuth, Policy

# (variable, attribute, default, a good raw value, what it parses to, bad raw values)
VARIABLES: list[tuple[str, str, Any, str, Any, list[str]]] = [
    ("BROKER_PORT", "port", 7900, "8080", 8080, ["abc", "-1", "65536", "80.5", "1e3"]),
    ("BROKER_HOST", "host", "127.0.0.1", "0.0.0.0", "0.0.0.0", []),
    ("JOIN_RATE_LIMIT_PER_MIN", "join_rate_limit_per_min", 10, "60", 60, ["0", "many"]),
    (
        "BROKER_PUBLIC_URL",
        "public_url",
        None,
        "wss://mesh.example.com/ws",
        "wss://mesh.example.com/ws",
        ["http://x/ws", "mesh.example.com", "ws://:1/ws"],
    ),
    ("STATUS_TTL_SECONDS", "status_ttl_seconds", 60, "120", 120, ["0", "-5", "abc", "nan"]),
    ("HOOK_FRESH_WINDOW_SECONDS", "hook_fresh_window_seconds", 30, "2.5", 2.5, ["0", "x"]),
    ("MAX_CONNECTIONS_PER_MESH", "max_connections_per_mesh", 100, "5", 5, ["0", "1.5", "ten"]),
    ("MAX_MESSAGE_BYTES", "max_message_bytes", 65536, "1024", 1024, ["0", "-1", "64k"]),
    ("HOOK_RATE_LIMIT_PER_MIN", "hook_rate_limit_per_min", 30, "60", 60, ["0", "many"]),
    ("NODE_ENV", "node_env", NodeEnv.DEVELOPMENT, "test", NodeEnv.TEST, ["prod", "staging"]),
    ("GIT_SHA", "git_sha_env", None, "84e14ff", "84e14ff", ["not-hex", "xyz1234", "abc"]),
    ("HELLO_AUTH", "hello_auth", HelloAuth.STRICT, "legacy", HelloAuth.LEGACY, ["none"]),
    ("HELLO_MAX_SKEW_SECONDS", "hello_max_skew_seconds", 60, "5", 5, ["0", "-1"]),
    ("HELLO_TIMEOUT_SECONDS", "hello_timeout_seconds", 10, "0.5", 0.5, ["0", "inf"]),
    ("HOOK_AUTH", "hook_auth", HookAuth.OPEN, "token", HookAuth.TOKEN, ["closed", "yes"]),
    ("SEND_RATE_LIMIT_PER_MIN", "send_rate_limit_per_min", 1200, "10", 10, ["0", "1.0"]),
    ("SEND_RATE_BURST", "send_rate_burst", 200, "1", 1, ["0", "-3"]),
    ("ACK_TIMEOUT_SECONDS", "ack_timeout_seconds", 30, "3", 3, ["0", "soon"]),
    ("MESSAGE_TTL_SECONDS", "message_ttl_seconds", 604800, "3600", 3600, ["0", "1d"]),
    ("RECONNECT_GRACE_SECONDS", "reconnect_grace_seconds", 90, "0", 0, ["-1", "later"]),
    ("WS_PING_INTERVAL_SECONDS", "ws_ping_interval_seconds", 30, "10", 10, ["0", "x"]),
    ("WS_PONG_TIMEOUT_SECONDS", "ws_pong_timeout_seconds", 45, "15", 15, ["0", "-45"]),
    ("MEMBER_CACHE_SECONDS", "member_cache_seconds", 5, "0", 0, ["-1", "off"]),
    ("BROKER_WORKERS", "workers", 1, "4", 4, ["0", "many"]),
    ("BROKER_REUSE_PORT", "reuse_port", False, "1", True, ["2", "maybe"]),
    ("BROKER_WORKER_PORT_BASE", "worker_port_base", 0, "9100", 9100, ["-1", "70000"]),
    ("WS_WRITE_TIMEOUT_SECONDS", "ws_write_timeout_seconds", 5, "0.5", 0.5, ["0", "never"]),
    ("MAX_PENDING_CONNECTIONS", "max_pending_connections", 1024, "10", 10, ["0", "lots"]),
    (
        "MAX_PENDING_CONNECTIONS_PER_IP",
        "max_pending_connections_per_ip",
        128,
        "4",
        4,
        ["0", "-1"],
    ),
    ("BROKER_DATA_DIR", "data_dir", Path(".meshbroker"), "/var/lib/mb", Path("/var/lib/mb"), []),
    ("BROKER_SKIP_MIGRATE", "skip_migrate", False, "1", True, ["2", "yes", "maybe"]),
    ("LOG_LEVEL", "log_level", "info", "debug", "debug", ["verbose", "trace"]),
    ("DATABASE_URL", "database_url", None, "postgres://u@h/db", "postgres://u@h/db", ["x"]),
]
IDS = [row[0] for row in VARIABLES]


@pytest.mark.parametrize(("var", "attr", "default", "_raw", "_value", "_bad"), VARIABLES, ids=IDS)
def test_default(
    var: str, attr: str, default: Any, _raw: str, _value: Any, _bad: list[str]
) -> None:
    assert getattr(Settings.from_env({}), attr) == default


@pytest.mark.parametrize(("var", "attr", "_default", "raw", "value", "_bad"), VARIABLES, ids=IDS)
def test_good_value(
    var: str, attr: str, _default: Any, raw: str, value: Any, _bad: list[str]
) -> None:
    assert getattr(Settings.from_env({var: raw}), attr) == value


@pytest.mark.parametrize(
    ("var", "bad"),
    [pytest.param(row[0], bad, id=f"{row[0]}={bad}") for row in VARIABLES for bad in row[5]],
)
def test_bad_value_names_the_variable(var: str, bad: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({var: bad})
    message = str(caught.value)
    assert message.startswith(f"{var} must be")
    if var != "DATABASE_URL":
        assert repr(bad) in message


def test_every_variable_has_at_least_one_bad_value_except_free_text() -> None:
    free_text = {"BROKER_HOST", "BROKER_DATA_DIR"}
    assert {row[0] for row in VARIABLES if not row[5]} == free_text


def test_port_message_says_what_it_accepts() -> None:
    with pytest.raises(ConfigError, match="BROKER_PORT must be an integer from 1 to 65535"):
        Settings.from_env({"BROKER_PORT": "abc"})


@pytest.mark.parametrize("port", ["0", "1", "65535"])
def test_port_bounds_and_zero_for_any_free_port(port: str) -> None:
    assert Settings.from_env({"BROKER_PORT": port}).port == int(port)


def test_unset_and_empty_take_the_default() -> None:
    assert Settings.from_env({"BROKER_PORT": "", "LOG_LEVEL": "  "}) == Settings.from_env({})


def test_surrounding_whitespace_and_case_are_tolerated() -> None:
    settings = Settings.from_env(
        {
            "BROKER_PORT": " 8080 ",
            "NODE_ENV": "Test",
            "LOG_LEVEL": "DEBUG",
            "BROKER_SKIP_MIGRATE": "TRUE",
        }
    )
    assert (settings.port, settings.node_env, settings.log_level) == (8080, NodeEnv.TEST, "debug")
    assert settings.skip_migrate is True


@pytest.mark.parametrize(
    ("raw", "value"), [("0", False), ("1", True), ("true", True), ("false", False)]
)
def test_skip_migrate_accepts_0_1_true_false(raw: str, value: bool) -> None:
    assert Settings.from_env({"BROKER_SKIP_MIGRATE": raw}).skip_migrate is value


def test_every_bad_variable_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"BROKER_PORT": "abc", "HOOK_AUTH": "nope", "LOG_LEVEL": "loud"})
    assert [e.split(" ")[0] for e in caught.value.errors] == [
        "BROKER_PORT",
        "HOOK_AUTH",
        "LOG_LEVEL",
    ]


# ---------------------------------------------------------------- DATABASE_URL


@pytest.mark.parametrize("url", ["postgres://u:p@db:5432/mesh", "postgresql://u:p@db/mesh"])
def test_database_url_accepts_both_postgres_schemes(url: str) -> None:
    assert Settings.from_env({"DATABASE_URL": url}).database_url == url


def test_database_url_refuses_other_schemes_without_echoing_the_password() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"DATABASE_URL": "mysql://root:hunter2@db/mesh"})
    message = str(caught.value)
    assert "DATABASE_URL must be a postgres:// or postgresql:// URL" in message
    assert "'mysql'" in message
    assert "hunter2" not in message


def test_production_requires_a_database_url() -> None:
    with pytest.raises(ConfigError, match="DATABASE_URL is required when NODE_ENV=production"):
        Settings.from_env({"NODE_ENV": "production"})


def test_production_with_a_database_url_starts() -> None:
    settings = Settings.from_env({"NODE_ENV": "production", "DATABASE_URL": "postgres://h/db"})
    assert settings.production
    assert settings.database_url == "postgres://h/db"


def test_summary_masks_the_password() -> None:
    settings = Settings.from_env({"DATABASE_URL": "postgresql://mesh:s3cret@db:5432/mesh"})
    summary = settings.summary()
    assert summary["database_url"] == "postgresql://mesh:***@db:5432/mesh"
    assert "s3cret" not in repr(summary)
    assert summary["port"] == 7900


# ---------------------------------------------------------------- HOOK_AUTH follows NODE_ENV


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, HookAuth.OPEN),
        ({"NODE_ENV": "development"}, HookAuth.OPEN),
        ({"NODE_ENV": "test"}, HookAuth.OPEN),
        ({"NODE_ENV": "production", "DATABASE_URL": "postgres://h/db"}, HookAuth.TOKEN),
        (
            {"NODE_ENV": "production", "DATABASE_URL": "postgres://h/db", "HOOK_AUTH": "open"},
            HookAuth.OPEN,
        ),
        ({"NODE_ENV": "development", "HOOK_AUTH": "token"}, HookAuth.TOKEN),
    ],
)
def test_hook_auth_default_depends_on_node_env(env: dict[str, str], expected: HookAuth) -> None:
    assert Settings.from_env(env).hook_auth is expected


# ---------------------------------------------------------------- the domain Policy


def test_default_policy_matches_the_domain_defaults() -> None:
    assert Settings.from_env({}).policy() == Policy()


def test_policy_carries_every_number() -> None:
    env = {
        "STATUS_TTL_SECONDS": "61",
        "HOOK_FRESH_WINDOW_SECONDS": "31",
        "MAX_CONNECTIONS_PER_MESH": "7",
        "MAX_MESSAGE_BYTES": "2048",
        "HOOK_RATE_LIMIT_PER_MIN": "9",
        "SEND_RATE_LIMIT_PER_MIN": "99",
        "SEND_RATE_BURST": "11",
        "ACK_TIMEOUT_SECONDS": "0.25",
        "MESSAGE_TTL_SECONDS": "3600",
        "RECONNECT_GRACE_SECONDS": "0",
        "HELLO_MAX_SKEW_SECONDS": "5",
        "HELLO_AUTH": "legacy",
        "HOOK_AUTH": "token",
        "WS_PING_INTERVAL_SECONDS": "10",
        "WS_PONG_TIMEOUT_SECONDS": "5",
    }
    policy = Settings.from_env(env).policy()
    assert policy.status_ttl == timedelta(seconds=61)
    assert policy.hook_fresh_window == timedelta(seconds=31)
    assert policy.status_rules.ttl == timedelta(seconds=61)
    assert policy.max_connections_per_mesh == 7
    assert policy.max_message_bytes == 2048
    assert policy.hook_rate_per_min == 9
    assert policy.send_rate_per_min == 99
    assert policy.send_burst == 11
    assert policy.ack_timeout == timedelta(milliseconds=250)
    assert policy.message_ttl == timedelta(hours=1)
    assert policy.max_message_ttl == Policy().max_message_ttl
    assert policy.reconnect_grace == timedelta(0)
    assert policy.hello_max_skew == timedelta(seconds=5)
    assert policy.hello_auth is HelloAuth.LEGACY
    assert policy.admission.mode is HelloAuth.LEGACY
    assert policy.hook_auth is HookAuth.TOKEN
    assert policy.presence_stale_after == timedelta(seconds=15)


def test_presence_is_stale_after_ping_interval_plus_pong_timeout() -> None:
    assert Settings.from_env({}).policy().presence_stale_after == timedelta(seconds=75)


def test_a_default_message_ttl_above_the_ceiling_raises_the_ceiling() -> None:
    policy = Settings.from_env({"MESSAGE_TTL_SECONDS": str(90 * 86400)}).policy()
    assert policy.message_ttl == policy.max_message_ttl == timedelta(days=90)


# ---------------------------------------------------------------- version and git sha


def test_version() -> None:
    assert VERSION == "0.1.0"
    assert Settings().version == "0.1.0"


def test_git_sha_prefers_the_variable() -> None:
    assert Settings.from_env({"GIT_SHA": "84e14ff"}).git_sha() == "84e14ff"


def test_git_sha_falls_back_to_git_or_unknown() -> None:
    sha = Settings.from_env({}).git_sha()
    assert sha == "unknown" or all(c in "0123456789abcdef" for c in sha)


def test_git_sha_is_unknown_without_git(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_git(*args: Any, **kwargs: Any) -> Any:
        raise FileNotFoundError("git")

    build_info._rev_parse.cache_clear()
    monkeypatch.setattr(subprocess, "run", no_git)
    try:
        assert config.git_sha(None) == "unknown"
    finally:
        build_info._rev_parse.cache_clear()


def test_git_sha_is_unknown_when_git_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    def slow_git(*args: Any, **kwargs: Any) -> Any:
        assert kwargs["timeout"] == 2
        raise subprocess.TimeoutExpired(args[0], 2)

    build_info._rev_parse.cache_clear()
    monkeypatch.setattr(subprocess, "run", slow_git)
    try:
        assert config.git_sha(None) == "unknown"
    finally:
        build_info._rev_parse.cache_clear()


def test_from_env_reads_only_the_mapping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BROKER_PORT", "not-a-port")
    assert Settings.from_env({}).port == 7900


@pytest.mark.parametrize(
    ("env", "host"),
    [
        ({}, "127.0.0.1"),
        ({"HOOK_AUTH": "open"}, "127.0.0.1"),
        ({"HOOK_AUTH": "token"}, "0.0.0.0"),
        ({"NODE_ENV": "production", "DATABASE_URL": "postgresql://db/x"}, "0.0.0.0"),
        ({"HOOK_AUTH": "open", "BROKER_HOST": "0.0.0.0"}, "0.0.0.0"),
    ],
)
def test_the_broker_listens_on_loopback_while_hooks_are_unauthenticated(
    env: dict[str, str], host: str
) -> None:
    assert Settings.from_env(env).host == host


def test_invites_carry_the_public_url_else_this_machines_port() -> None:
    assert Settings.from_env({"BROKER_PORT": "7911"}).invite_url() == "ws://127.0.0.1:7911/ws"
    public = {"BROKER_PUBLIC_URL": "wss://mesh.example.com/ws"}
    assert Settings.from_env(public).invite_url() == "wss://mesh.example.com/ws"


def test_each_container_is_an_instance_of_its_own() -> None:
    """The instance id is made per container, not once at import (issue 18: workers)."""
    from app.container import Container

    first, second = Container(), Container()

    assert first.instance() == first.instance()
    assert first.instance() != second.instance()


def test_the_pending_bound_stays_under_half_the_file_descriptor_limit() -> None:
    from app.limits import pending_bound

    assert pending_bound(1024, 20000) == 1024
    assert pending_bound(1024, 300) == 150
    assert pending_bound(1024, 0) == 1024  # the limit is unknown: as configured
