"""Reconnect supervision: every (re)connection sends a freshly signed hello under the
same sessionId, paced by Backoff; with fail_fast a broker that is not there is
reported at once; frames are routed to the inbox, receipts and pending requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from client import frames
from client.errors import (
    Disconnected,
    Fatal,
    NotConnected,
    Replaced,
    TryAgain,
)
from client.hello import signed_hello
from client.peer_receiving import Receiving
from protocol import wire

log = logging.getLogger("meshpeer")

_RETRYABLE = (OSError, InvalidHandshake, ConnectionClosed, TryAgain, TimeoutError, EOFError)
REPLACED_DELAY = 2.0


class Supervised(Receiving):
    async def _supervise(self) -> None:
        while not self._closed:
            delay: float | None = None
            try:
                await self._session()
            except Fatal:
                raise
            except _RETRYABLE as exc:
                self._last_error = exc
                self._fail_fast(exc)
                delay = self._delay_after(exc)
            finally:
                self._lost()
            if self._closed:
                return
            if delay is None:
                delay = self._backoff.next_delay()
            log.info("reconnecting in %.2f s (%s)", delay, frames.describe(self._last_error))
            await asyncio.sleep(delay)

    def _fail_fast(self, exc: BaseException) -> None:
        """With `fail_fast`, and no hello accepted yet, a broker that is not there (or
        a URL that is not its WebSocket: a 4xx answer) is reported at once, saying what
        to check. A 5xx (a proxy while the broker restarts) is retried as before."""
        if not self.config.fail_fast or self.hello_ok is not None:
            return
        url = self.config.url
        if isinstance(exc, ConnectionRefusedError):
            raise NotConnected(
                f"{url} refused the connection: is `meshbroker serve` running there "
                "(port BROKER_PORT, default 7900)?"
            ) from exc
        if isinstance(exc, InvalidStatus) and exc.response.status_code < 500:
            raise NotConnected(
                f"{url} answered HTTP {exc.response.status_code}, not a WebSocket: "
                "the broker's path is /ws (ws://host:7900/ws)"
            ) from exc

    def _delay_after(self, exc: BaseException) -> float:
        delay = self._backoff.next_delay()
        if isinstance(exc, Replaced):
            log.warning("session %s was taken over by another connection", self.config.session_id)
            return REPLACED_DELAY + delay
        return delay

    async def _session(self) -> None:
        async with connect(self.config.url, open_timeout=self.config.connect_timeout) as ws:
            hello_ok = await self._handshake(ws)
            self._ws = ws
            self.hello_ok = hello_ok
            self._backoff.reset()
            self._ready.set()
            log.info("connected: presence %s, status %s", hello_ok.presence_id, hello_ok.status)
            for callback in self.on_hello:
                callback(hello_ok)
            await self._flush_acks()
            with contextlib.suppress(ConnectionClosed):
                async for raw in ws:
                    await self._dispatch(raw)
            frames.raise_for_close(ws)

    async def _handshake(self, ws: ClientConnection) -> wire.HelloOk:
        config = self.config
        # Strictly increasing: two hellos in one millisecond would carry the same
        # (deterministic) signature, and the broker refuses a replayed one.
        self._last_timestamp = max(int(time.time() * 1000), self._last_timestamp + 1)
        hello = signed_hello(
            config.identity,
            mesh_id=config.mesh_id,
            member_id=config.member_id,
            session_id=config.session_id,
            pid=config.pid,
            cwd=config.cwd,
            timestamp_ms=self._last_timestamp,
            capabilities=config.capabilities,
        )
        await ws.send(wire.encoder.encode(hello).decode())
        async with asyncio.timeout(config.connect_timeout):
            raw = await ws.recv()
        frame = frames.decode(raw)
        if isinstance(frame, wire.HelloOk):
            return frame
        if isinstance(frame, wire.Error) and frame.code == "unauthorized":
            raise Fatal(f"unauthorized: {frame.message}")
        detail = f"{frame.code}: {frame.message}" if isinstance(frame, wire.Error) else str(raw)
        raise TryAgain(f"hello refused ({detail})")

    def _lost(self) -> None:
        self._ready.clear()
        self._ws = None
        self._pending.fail_all(Disconnected("connection to the broker lost"))

    async def _dispatch(self, raw: str | bytes) -> None:
        frame = frames.decode(raw)
        if isinstance(frame, wire.Push):
            self._on_push(frame)
            await self._flush_acks()
        elif isinstance(frame, wire.Receipt):
            self._receipts.arrived(frame)
        elif frame is not None and not self._pending.resolve(frame):
            frames.log_unmatched(frame)
