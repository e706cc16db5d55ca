"""uvicorn's server with the contract's signal handling: the first SIGTERM or SIGINT
runs the broker's shutdown steps, a second stops waiting for them; and the port it
listens on, once it does."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import uvicorn

log = logging.getLogger("meshbroker.server")


class BrokerServer(uvicorn.Server):
    """uvicorn, with the contract's signal handling instead of uvicorn's own (which
    closes sockets with 1012 and re-raises the signal, exiting 143)."""

    def __init__(self, config: uvicorn.Config, on_signal: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._on_signal = on_signal
        self._stopping: asyncio.Task[None] | None = None
        self.port: int | None = None
        self.ready = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._signalled, sig)
        try:
            yield
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    def _signalled(self, sig: signal.Signals) -> None:
        if self._stopping is not None:
            # A second signal: stop waiting for the graceful steps.
            self._stopping.cancel()
            self.force_exit = self.should_exit = True
            return
        log.info("shutdown signal", extra={"ctx": {"signal": sig.name}})
        self._stopping = asyncio.get_running_loop().create_task(self._stop())

    async def _stop(self) -> None:
        try:
            await self._on_signal()
        finally:
            self.should_exit = True

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.servers and self.servers[0].sockets:
            self.port = self.servers[0].sockets[0].getsockname()[1]
        if self.started:
            self.ready.set()
