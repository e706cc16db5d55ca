"""How one variable's text becomes a value: each parser raises ValueError on text it
does not accept, and the Reader says what it accepts."""

from __future__ import annotations

import math
import re
from urllib.parse import urlsplit

_INTEGER = re.compile(r"[0-9]+")
_DECIMAL = re.compile(r"[0-9]+(\.[0-9]+)?|\.[0-9]+")
_HEX = re.compile(r"[0-9a-fA-F]{4,64}")
_TRUE = frozenset({"1", "true"})
_FALSE = frozenset({"0", "false"})


def parse_int_in(text: str, low: int, high: int | None) -> int:
    if not _INTEGER.fullmatch(text):
        raise ValueError(text)
    value = int(text)
    if value < low or (high is not None and value > high):
        raise ValueError(text)
    return value


def parse_seconds(text: str, allow_zero: bool) -> float:
    if not _DECIMAL.fullmatch(text):
        raise ValueError(text)
    value = float(text)
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(text)
    return value


def parse_flag(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(text)


def parse_one_of(text: str, options: tuple[str, ...]) -> str:
    if text not in options:
        raise ValueError(text)
    return text


def parse_ws_url(text: str) -> str:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(text) from exc
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(text)
    return text


def parse_hex(text: str) -> str:
    if not _HEX.fullmatch(text):
        raise ValueError(text)
    return text
