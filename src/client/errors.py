"""What the client raises. `Fatal` errors stop reconnecting; the others are retried or
reported to the one request they concern."""

from __future__ import annotations


class MeshpeerError(Exception):
    """Base of the client's errors."""


class Fatal(MeshpeerError):
    """The broker refused this identity (unauthorized, revoked): retrying cannot help."""


class TryAgain(MeshpeerError):
    """The broker could not take the connection now (capacity, unavailable)."""


class NotConnected(MeshpeerError):
    """No accepted connection to the broker within the time allowed."""


class Disconnected(MeshpeerError):
    """The connection dropped before the broker answered this request."""


class BrokerError(MeshpeerError):
    """The broker answered a request with an `error` frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Replaced(TryAgain):
    """Another connection said hello with this sessionId (close 4000 `replaced`)."""


class NoSession(Exception):
    """`meshpeer status` with no session to apply it to."""


class JoinFailed(Exception):
    """The join did not happen; the message is the one line to print."""
