"""Encoding a log line as JSON that never raises: values JSON cannot carry are
written as `str(value)`, and a value whose `str()` fails as `<unprintable Type>`."""

from __future__ import annotations

from typing import Any

import msgspec


def _fallback(value: Any) -> Any:
    return str(value)


_encoder = msgspec.json.Encoder(enc_hook=_fallback)


def encode(line: dict[str, Any]) -> str:
    """`line` as JSON; whatever cannot be encoded as is goes in as its `str()`."""
    try:
        return _encoder.encode(line).decode()
    except Exception:
        safe = {str(k): _plain(v) for k, v in line.items()}
        return _encoder.encode(safe).decode()


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return (
            value if value == value and value not in (float("inf"), float("-inf")) else str(value)
        )
    try:
        return str(value)
    except Exception:
        return f"<unprintable {type(value).__name__}>"
