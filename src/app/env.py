"""Reading environment variables (docs/adr/0007-configuration.md): an unset or empty
variable takes its default; counts are decimal integers; durations are decimal seconds,
fractions allowed; enumerated values and booleans are case-insensitive. A bad variable
is reported with what it accepts, and every bad one at once."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from app.env_values import (
    parse_flag,
    parse_hex,
    parse_int_in,
    parse_one_of,
    parse_seconds,
    parse_ws_url,
)

_E = TypeVar("_E", bound=StrEnum)
_POSTGRES_SCHEMES = ("postgres://", "postgresql://")


class Reader:
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
        return int(self._parse(name, default, accepts, lambda s: parse_int_in(s, 0, 65535)))

    def positive_int(self, name: str, default: int) -> int:
        accepts = "a whole number greater than 0"
        return int(self._parse(name, default, accepts, lambda s: parse_int_in(s, 1, None)))

    def seconds(self, name: str, default: float, *, allow_zero: bool = False) -> float:
        if allow_zero:
            accepts = "a number of seconds, 0 or more (decimals allowed)"
        else:
            accepts = "a number of seconds greater than 0 (decimals allowed)"
        return float(self._parse(name, default, accepts, lambda s: parse_seconds(s, allow_zero)))

    def enum(self, name: str, kind: type[_E], default: _E) -> _E:
        accepts = "one of " + ", ".join(member.value for member in kind)
        result: _E = self._parse(name, default, accepts, lambda s: kind(s.lower()))
        return result

    def choice(self, name: str, options: tuple[str, ...], default: str) -> str:
        accepts = "one of " + ", ".join(options)
        return str(self._parse(name, default, accepts, lambda s: parse_one_of(s.lower(), options)))

    def flag(self, name: str, default: bool) -> bool:
        return bool(self._parse(name, default, "one of 0, 1, true, false", parse_flag))

    def hex_or_none(self, name: str) -> str | None:
        accepts = "a hexadecimal commit hash (4 to 64 hex digits)"
        value: str | None = self._parse(name, None, accepts, parse_hex)
        return value

    def ws_url_or_none(self, name: str) -> str | None:
        accepts = "a ws:// or wss:// URL with a host, e.g. wss://mesh.example.com/ws"
        value: str | None = self._parse(name, None, accepts, parse_ws_url)
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
