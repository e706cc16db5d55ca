"""The broker's addresses: the WebSocket URL peers connect to, and the HTTP base derived
from it (`ws://host:7900/ws` -> `http://host:7900`). Standard library only."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

DEFAULT_URL = "ws://127.0.0.1:7900/ws"
_HTTP = {"ws": "http", "wss": "https"}


def check_ws_url(url: str) -> str:
    """`url` if it is a ws:// or wss:// URL with a host; ValueError otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"not a URL: {url!r}") from exc
    if parts.scheme not in _HTTP or not parts.hostname:
        raise ValueError(f"must be a ws:// or wss:// URL with a host, got {url!r}")
    if not parts.path.rstrip("/").endswith("/ws"):
        fixed = urlunsplit(parts._replace(path=parts.path.rstrip("/") + "/ws"))
        raise ValueError(f"the broker's WebSocket path is /ws: use {fixed}, not {url!r}")
    return url


def http_base(ws_url: str) -> str:
    """The HTTP base of the broker that serves `ws_url` (its `/ws` path dropped)."""
    parts = urlsplit(ws_url)
    scheme = _HTTP.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/")
    if path.endswith("/ws"):
        path = path[: -len("/ws")]
    return urlunsplit((scheme, parts.netloc, path, "", ""))
