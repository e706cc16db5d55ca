"""Hearing the other instances: the LISTEN connection (reconnected, with a rescan of this
instance's sessions when it comes back), the member cache trusted only while it is up,
and each payload routed to the sessions here."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from adapters.postgres.notify_payloads import CHANNEL, receipt_from
from adapters.wake import LocalNotifier, StatusHandler
from domain.errors import CloseReason
from domain.model import Status
from domain.sessions import Session

log = logging.getLogger("meshbroker.notify")


class Listener:
    local: LocalNotifier
    dsn: str
    instance: str
    listening: asyncio.Event
    on_lost: Callable[[], None] | None
    on_status: StatusHandler | None
    _tasks: set[asyncio.Task[object]]

    async def listen(self) -> None:
        """Run until cancelled: hold a LISTEN connection, reconnecting after failures.
        Losing it logs a warning and counts (`on_lost`); so does failing to get it back
        at first (later failures of the same outage log at debug level)."""
        failing = False
        while True:
            self._deaf()
            lost = asyncio.Event()
            try:
                conn = await asyncpg.connect(self.dsn, timeout=5)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                level = logging.DEBUG if failing else logging.WARNING
                log.log(level, "listen connect failed", extra={"ctx": {"error": str(exc)}})
                failing = True
                await asyncio.sleep(1)
                continue
            failing = False
            error = "connection closed"
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(CHANNEL, self._received)
                self._hearing()
                log.info("listen connection up", extra={"ctx": {"channel": CHANNEL}})
                await self._rescan()
                while not lost.is_set():
                    try:
                        async with asyncio.timeout(5):
                            await lost.wait()
                    except TimeoutError:
                        await conn.fetchval("SELECT 1", timeout=5)  # notices a dead link
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                error = str(exc) or repr(exc)
            finally:
                self._deaf()
                conn.terminate()
            log.warning("listen connection lost", extra={"ctx": {"error": error}})
            if self.on_lost is not None:
                self.on_lost()
            await asyncio.sleep(1)

    def _deaf(self) -> None:
        """Invalidations from other instances may be missed: cache nothing."""
        self.listening.clear()
        if self.local.cache is not None:
            self.local.cache.suspend()

    def _hearing(self) -> None:
        """Listening again: drop what was cached before (a change may have been missed)
        and cache from now on."""
        if self.local.cache is not None:
            self.local.cache.resume()
        self.listening.set()

    async def _rescan(self) -> None:
        members = {s.member_id for s in self.local.sessions.all()}
        if members:
            await self.local.wake(members)

    def _received(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if message.get("i") == self.instance:
            return
        if "w" in message:
            here = [m for m in message["w"] if self._sessions_here(m)]
            if here:
                self._spawn(self.local.wake(here))
        elif "s" in message and self.on_status is not None:
            presence_id, member_id, status = message["s"]
            self._spawn(self.on_status(presence_id, member_id, Status(status)))
        elif "d" in message:
            for member_id, presence_id, session_id in message["d"]:
                if self.local.watches_on(str(member_id)):
                    self._spawn(
                        self.local.went_idle(str(member_id), str(presence_id), str(session_id))
                    )
        elif "r" in message:
            mine = [
                t
                for t in map(receipt_from, message["r"])
                if self.local.sessions.of_member(t.sender_member_id)
            ]
            if mine:
                self._spawn(self.local.receipts(mine))
        elif "m" in message:
            mesh_id, member_id = message["m"]
            self.local.forget(str(mesh_id), None if member_id is None else str(member_id))
        elif "k" in message:
            # [connection id, reason]; an instance from before ADR 0029 sends
            # [connection id, code, reason text], whose text is the reason's value.
            connection_id, reason = message["k"][0], message["k"][-1]
            if self.local.sessions.get(connection_id) is not None:
                self._spawn(self.local.kick(connection_id, CloseReason(reason)))

    def _sessions_here(self, member_id: str) -> list[Session]:
        # A transient (one-shot) session is pushed no mail: it does not count.
        return [s for s in self.local.sessions.of_member(member_id) if not s.transient]

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
