"""File descriptors and pending connections: the process's limit raised, the pending
bound kept under half of it, and running out reported once every 10 s instead of a
traceback per connection."""

from __future__ import annotations

import asyncio
import errno
import logging
import resource
from typing import Any

from adapters.http.guard import Throttled

log = logging.getLogger("meshbroker.server")


def raise_fd_limit() -> int:
    """Let the process open as many files as its hard limit allows; return the limit
    (0 when unknown). The pending-connection bound is kept under half of it, so that
    connections that have proved nothing never take the last file descriptors."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = max(soft, 65536)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        return int(soft)
    except (ValueError, OSError) as exc:
        log.warning("file descriptor limit not raised", extra={"ctx": {"error": str(exc)}})
        return 0


def pending_bound(configured: int, fd_limit: int) -> int:
    """MAX_PENDING_CONNECTIONS, lowered to half the file descriptor limit if above it."""
    if fd_limit <= 0 or configured <= fd_limit // 2:
        return configured
    bound = max(1, fd_limit // 2)
    log.warning(
        "MAX_PENDING_CONNECTIONS lowered to half the file descriptor limit",
        extra={"ctx": {"configured": configured, "used": bound, "fd_limit": fd_limit}},
    )
    return bound


_RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_out_of_resources = Throttled(log, "out of file descriptors: new connections wait", every=10.0)


def quiet_resource_errors(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """asyncio reports each failed accept() with a traceback (once a second per
    listening socket, plus every failure elsewhere): when the process is out of file
    descriptors, one line every 10 s says so instead."""
    exc = context.get("exception")
    if isinstance(exc, OSError) and exc.errno in _RESOURCE_ERRNOS:
        _out_of_resources(error=str(exc))
        return
    loop.default_exception_handler(context)
