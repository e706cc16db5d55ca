"""Domain errors. Each edge maps them to its own codes in one place."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a use case reports."""


class StoreUnavailable(DomainError):
    """The state store cannot be reached: nothing was written, the caller may retry."""


class Unauthorized(DomainError):
    """A hello or a hook that does not prove who it claims to be."""


class CapacityExceeded(DomainError):
    """The mesh already holds its maximum of open, accepted connections."""


class Rejected(DomainError):
    """A send the broker refuses; `code` is the wire error (too_large, rate_limited, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class Revoked(Rejected):
    """A send from a member revoked (or removed) since its hello: refused, and its
    socket is closed as a revocation closes it."""

    def __init__(self, message: str = "this member has been revoked") -> None:
        super().__init__("unauthorized", message)


class RateLimited(DomainError):
    """A hook report over its `(pid, cwd)` budget."""


class NotFound(DomainError):
    """An admin command named a mesh or member that does not exist."""


class Conflict(DomainError):
    """An admin command would create a duplicate (slug, pubkey)."""


class InvalidInput(DomainError):
    """An argument that breaks a rule of the domain (names the argument)."""


class InvalidInvite(DomainError):
    """A join whose token is unknown, expired, used up or revoked: one error for all
    four, so that a token cannot be probed."""
