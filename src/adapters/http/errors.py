"""One table from domain errors to each edge's codes: HTTP statuses, WS errors and closes."""

from __future__ import annotations

from domain.errors import (
    CapacityExceeded,
    Conflict,
    DomainError,
    InvalidInput,
    InvalidInvite,
    RateLimited,
    Rejected,
    StoreUnavailable,
    Unauthorized,
)

# error -> (ws error code, close code or None to keep the socket, close reason)
HELLO_REFUSALS: dict[type[DomainError], tuple[str, int, str]] = {
    Unauthorized: ("unauthorized", 1008, "unauthorized"),
    CapacityExceeded: ("capacity", 1008, "capacity"),
    StoreUnavailable: ("unavailable", 1013, "try again later"),
    InvalidInput: ("invalid", 1008, "invalid hello"),
}

# error -> (HTTP status, body error text)
HOOK_ERRORS: dict[type[DomainError], tuple[int, str]] = {
    Unauthorized: (401, "unauthorized"),
    RateLimited: (429, "rate limited"),
    StoreUnavailable: (503, "unavailable"),
    InvalidInput: (400, "invalid input"),
}

# error -> (HTTP status, body error text) for POST /join. The four ways a token can be
# wrong share one answer (InvalidInvite), so that a token cannot be probed.
JOIN_ERRORS: dict[type[DomainError], tuple[int, str]] = {
    InvalidInvite: (401, "invalid invite"),
    Conflict: (409, "already a member of this mesh"),
    RateLimited: (429, "rate limited"),
    StoreUnavailable: (503, "unavailable"),
}


def ws_code(error: DomainError) -> str:
    """The `error` frame code for a failure after hello."""
    if isinstance(error, StoreUnavailable):
        return "unavailable"
    if isinstance(error, Unauthorized):
        return "unauthorized"
    if isinstance(error, InvalidInput):
        return "invalid"
    if isinstance(error, Rejected):
        return error.code
    if isinstance(error, RateLimited):
        return "rate_limited"
    return "internal"
