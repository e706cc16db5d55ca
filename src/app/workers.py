"""`meshbroker serve --workers N`: N broker processes on one port (issue 18).

The supervisor (this module, in the process the operator started) migrates once, binds
the port with SO_REUSEPORT (so that BROKER_PORT=0 and a taken port are settled once,
before any worker starts), then starts N `meshbroker serve` processes with
BROKER_PORT set to that port and BROKER_REUSE_PORT=1: each binds its own listening
socket on it and the kernel spreads new connections across them. Each worker is a
full instance (its own instance id, liveness lock, pool, LISTEN connection, sweeps
and metrics), exactly like one broker of a multi-instance deployment (ADR 0015), so
no state is shared between them but through Postgres.

The supervisor's socket is bound, never listening, so it gets no connections. It logs
`broker listening` once every worker said it listens (each writes a byte to the pipe
named by MESHBROKER_READY_FD). SIGTERM or SIGINT to the supervisor is passed once to
every worker, which shuts down as a single broker does; the supervisor exits when all
have, with 0 if all exited 0. Workers run in a session of their own, so a terminal's
Ctrl-C reaches them only through the supervisor (once). A worker that exits while the
others serve is reported and the supervisor stops the rest and exits 1: the
orchestrator restarts the whole, as it would a single broker."""

from __future__ import annotations

import contextlib
import logging
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from types import FrameType

from app.config import Settings
from app.listen import cannot_listen

log = logging.getLogger("meshbroker.workers")

READY_WAIT_SECONDS = 120.0


def reserve_port(settings: Settings) -> socket.socket:
    """A socket bound (not listening) to the broker's address with SO_REUSEPORT: it
    settles the port (0 becomes a free one) and reports a taken port at once."""
    host, port = settings.host, settings.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise cannot_listen(host, port, exc) from None
    return sock


def supervise(settings: Settings, workers: int, env: Mapping[str, str]) -> int:
    reserved = reserve_port(settings)
    port = reserved.getsockname()[1]
    ready_read, ready_write = os.pipe()
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        log.info("shutdown signal", extra={"ctx": {"signal": signal.Signals(signum).name}})
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        for index in range(workers):
            child_env = {
                **env,
                "BROKER_PORT": str(port),
                "BROKER_REUSE_PORT": "1",
                "BROKER_SKIP_MIGRATE": "1",
                "BROKER_WORKERS": "1",
                "MESHBROKER_WORKER": str(index),
                "MESHBROKER_READY_FD": str(ready_write),
            }
            children.append(
                subprocess.Popen(
                    [sys.executable, "-m", "app.cli", "serve"],
                    env=child_env,
                    pass_fds=(ready_write,),
                    start_new_session=True,
                )
            )
        os.close(ready_write)
        if _await_ready(ready_read, workers, children):
            log.info(
                "broker listening",
                extra={
                    "ctx": {
                        "host": settings.host,
                        "port": port,
                        "gitSha": settings.git_sha(),
                        "workers": workers,
                        "pids": [c.pid for c in children],
                    }
                },
            )
        return _wait(children, lambda: stopping, forward)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        os.close(ready_read)
        reserved.close()


def _await_ready(fd: int, workers: int, children: list[subprocess.Popen[bytes]]) -> bool:
    """True once every worker wrote its byte; False if one exited first or time ran out."""
    seen = 0
    deadline = time.monotonic() + READY_WAIT_SECONDS
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while seen < workers and time.monotonic() < deadline:
            if any(c.poll() is not None for c in children):
                return False
            if sel.select(timeout=0.2):
                chunk = os.read(fd, workers)
                if not chunk:
                    return False
                seen += len(chunk)
    return seen >= workers


def _wait(
    children: list[subprocess.Popen[bytes]],
    stopping: Callable[[], bool],
    stop: Callable[[int, FrameType | None], None],
) -> int:
    """Until every worker exited. One exiting on its own stops the others (exit 1)."""
    codes: dict[int, int] = {}
    unexpected = False
    while len(codes) < len(children):
        for index, child in enumerate(children):
            if index in codes or (code := child.poll()) is None:
                continue
            codes[index] = code
            if not stopping():
                unexpected = True
                log.error(
                    "worker exited; stopping the others",
                    extra={"ctx": {"worker": index, "pid": child.pid, "code": code}},
                )
                stop(signal.SIGTERM, None)
        time.sleep(0.1)
    log.info("workers stopped", extra={"ctx": {"codes": [codes[i] for i in sorted(codes)]}})
    return 1 if unexpected or any(code != 0 for code in codes.values()) else 0


def signal_ready() -> None:
    """In a worker: tell the supervisor this process listens (no-op otherwise)."""
    fd = os.environ.get("MESHBROKER_READY_FD")
    if fd is None:
        return
    with contextlib.suppress(OSError, ValueError):
        os.write(int(fd), b"1")
        os.close(int(fd))
