"""A tool call's arguments, read strictly: a wrong type or a value out of range is
refused with a text that names the argument and what it accepts."""

from __future__ import annotations

from typing import Any

from client.mcp.answers import Refused


def string_arg(args: dict[str, Any], key: str) -> str:
    value = args.get(key)
    if not isinstance(value, str) or not value.strip():
        raise Refused(f"argument {key!r} is required and must be a non-empty string")
    return value


def integer_arg(args: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = args.get(key, default)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise Refused(f"argument {key!r} must be a whole number from {low} to {high}")
    return value


def optional_integer_arg(args: dict[str, Any], key: str, low: int, high: int) -> int | None:
    if args.get(key) is None:
        return None
    return integer_arg(args, key, low, low, high)
