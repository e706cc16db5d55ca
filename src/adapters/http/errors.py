"""The edge's tables: domain errors to WebSocket error codes and close codes, domain
errors to HTTP statuses, and the domain's close reasons to close codes. The domain
names what happened; only this module picks numbers (ADR 0029)."""

from __future__ import annotations

from typing import TypeVar

from domain.errors import (
    CapacityExceeded,
    CloseReason,
    Conflict,
    DomainError,
    InvalidInput,
    InvalidInvite,
    RateLimited,
    Rejected,
    StoreUnavailable,
    Unauthorized,
)

Close = tuple[int, str]  # (close code, close reason text)

# reason -> the close frame the peer reads (protocol.md: close codes)
CLOSES: dict[CloseReason, Close] = {
    CloseReason.REPLACED: (4000, "replaced"),
    CloseReason.REVOKED: (1008, "revoked"),
    CloseReason.SHUTDOWN: (1001, "server shutting down"),
    CloseReason.SESSION_ENDED: (1001, "session ended; reconnect"),
    CloseReason.STORE_LOST: (1012, "broker lost its database; reconnect"),
}
HELLO_TIMEOUT: Close = (1008, "hello timeout")
INTERNAL: Close = (1011, "internal error")

# A refused hello: error -> (ws error code, the close that follows)
HELLO_REFUSALS: dict[type[DomainError], tuple[str, Close]] = {
    Unauthorized: ("unauthorized", (1008, "unauthorized")),
    CapacityExceeded: ("capacity", (1008, "capacity")),
    StoreUnavailable: ("unavailable", (1013, "try again later")),
    InvalidInput: ("invalid", (1008, "invalid hello")),
}
HELLO_INTERNAL: tuple[str, Close] = ("internal", (1011, "internal"))

# A failure after hello: error -> `error` frame code (the socket stays open)
WS_ERRORS: dict[type[DomainError], str] = {
    StoreUnavailable: "unavailable",
    Unauthorized: "unauthorized",
    InvalidInput: "invalid",
    RateLimited: "rate_limited",
}

# error -> (HTTP status, body error text), for POST /hook/set-status and POST /join.
# The four ways an invite token can be wrong share one answer (InvalidInvite), so that
# a token cannot be probed.
HTTP_ERRORS: dict[type[DomainError], tuple[int, str]] = {
    InvalidInput: (400, "invalid input"),
    Unauthorized: (401, "unauthorized"),
    InvalidInvite: (401, "invalid invite"),
    Conflict: (409, "already a member of this mesh"),
    RateLimited: (429, "rate limited"),
    StoreUnavailable: (503, "unavailable"),
}


_V = TypeVar("_V")


def _lookup(table: dict[type[DomainError], _V], error: DomainError, default: _V) -> _V:
    for kind in type(error).__mro__:
        if kind in table:
            return table[kind]
    return default


def hello_refusal(error: DomainError) -> tuple[str, Close]:
    return _lookup(HELLO_REFUSALS, error, HELLO_INTERNAL)


def ws_code(error: DomainError) -> str:
    """The `error` frame code for a failure after hello."""
    if isinstance(error, Rejected):  # a refusal carries its own code (too_large, ...)
        return error.code
    return _lookup(WS_ERRORS, error, "internal")


def ack_code(error: DomainError) -> str:
    """The `error` of a refused send's ack: a Rejected send's own code (too_large,
    rate_limited, ...), else `unavailable` (nothing was queued; the client may retry)."""
    return error.code if isinstance(error, Rejected) else "unavailable"


def http_error(error: DomainError) -> tuple[int, str]:
    return _lookup(HTTP_ERRORS, error, (500, "internal"))
