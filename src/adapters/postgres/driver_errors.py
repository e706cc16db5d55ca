"""The one place where driver errors become domain errors: which exceptions mean "the
store did not do it", and the domain error each stands for. No raw asyncpg exception
leaves the Postgres adapters."""

from __future__ import annotations

import asyncpg  # type: ignore[import-untyped]

from domain.errors import DomainError, InvalidInput, StoreUnavailable

# Everything that means "the store did not do it": server errors, a closed or broken
# pool or connection, refused or dropped sockets, timeouts.
DRIVER_ERRORS: tuple[type[BaseException], ...] = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    OSError,  # ConnectionError, ConnectionRefusedError, socket.gaierror, ...
    TimeoutError,  # asyncio.TimeoutError is TimeoutError on 3.11
)


def store_error(exc: BaseException) -> DomainError:
    """The domain error that a driver error stands for.

    A value Postgres cannot hold (SQLSTATE class 22, e.g. a NUL character in a text,
    a number out of range) is the caller's input, not an outage: retrying cannot
    help, so it is InvalidInput rather than StoreUnavailable.
    """
    if isinstance(exc, asyncpg.DataError):
        return InvalidInput(f"a value the store cannot hold: {exc}")
    detail = str(exc) or type(exc).__name__
    return StoreUnavailable(f"database unavailable: {detail}")
