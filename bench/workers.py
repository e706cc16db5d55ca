"""Load-generator processes (multiprocessing, spawn): the orchestrator sends each
worker its share and then phase messages over a pipe; a worker answers each phase
with one report. The broker never shares a process with any of them."""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import time
import traceback
from multiprocessing.connection import Connection, wait
from typing import Any


class WorkerFailed(RuntimeError):
    pass


class Control:
    """A worker's end of the pipe."""

    def __init__(self, conn: Connection, index: int) -> None:
        self.conn = conn
        self.index = index

    async def next(self, expected: str) -> Any:
        """Wait (off the event loop) for the orchestrator's next phase message."""
        kind, data = await asyncio.to_thread(self.conn.recv)
        if kind != expected:
            raise RuntimeError(f"worker {self.index}: expected {expected!r}, got {kind!r}")
        return data

    def report(self, kind: str, data: Any = None) -> None:
        self.conn.send((kind, data))


def _entry(conn: Connection, index: int, target: str, share: Any) -> None:
    from bench.broker import raise_fd_limit

    raise_fd_limit()
    module, name = target.rsplit(":", 1)
    work = getattr(importlib.import_module(module), name)
    ctl = Control(conn, index)
    try:
        asyncio.run(work(ctl, share))
    except BaseException:
        conn.send(("failed", traceback.format_exc()))
        raise
    finally:
        conn.close()


class Pool:
    """`len(shares)` workers, each running `target` ("module:coroutine function")
    with its share."""

    def __init__(self, target: str, shares: list[Any]) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conns: list[Connection] = []
        self.procs: list[Any] = []
        for index, share in enumerate(shares):
            mine, theirs = ctx.Pipe()
            proc = ctx.Process(target=_entry, args=(theirs, index, target, share), daemon=True)
            self.conns.append(mine)
            self.procs.append(proc)

    def start(self) -> Pool:
        for proc in self.procs:
            proc.start()
        return self

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p.pid is not None]

    def send(self, kind: str, data: Any = None) -> None:
        """The next phase, to every worker."""
        for conn in self.conns:
            conn.send((kind, data))

    def gather(self, kind: str, timeout: float) -> list[Any]:
        """Each worker's next report, which must be `kind`."""
        results: dict[int, Any] = {}
        deadline = time.monotonic() + timeout
        pending = dict(enumerate(self.conns))
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                raise WorkerFailed(f"workers {sorted(pending)} sent no {kind!r} in {timeout:.0f} s")
            for conn in wait(list(pending.values()), timeout=min(left, 1.0)):
                index = next(i for i, c in pending.items() if c is conn)
                try:
                    got, data = conn.recv()
                except EOFError:
                    raise WorkerFailed(f"worker {index} exited before {kind!r}") from None
                if got == "failed":
                    raise WorkerFailed(f"worker {index} failed:\n{data}")
                if got != kind:
                    raise WorkerFailed(f"worker {index} sent {got!r}, expected {kind!r}")
                results[index] = data
                del pending[index]
        return [results[i] for i in range(len(self.conns))]

    def stop(self) -> None:
        """Wait for the workers to finish (they exit after their last report)."""
        deadline = time.monotonic() + 15
        for proc in self.procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
