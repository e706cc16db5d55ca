"""Reaching sessions on other broker processes through Postgres LISTEN/NOTIFY.

Payloads carry references only (member ids, a connection id), never message bodies:
NOTIFY caps them at 8000 bytes. Wake-ups are batched per event-loop turn. When the
listening connection drops, it reconnects and rescans this instance's sessions, so a
wake-up missed during an outage leaves no message waiting.

Payload kinds: "w" wake these members, "k" close this connection, "s" a presence's new
status, "d" a member's session went idle (answer watches), "r" receipts for senders
not connected here, "m" a member changed (forget its cached lookups: adapters/cache.py). The cache
is used only while the LISTEN connection is up (`suspend` / `resume`): an invalidation
sent while it is down is never heard, so nothing cached before or during the outage
is trusted after it."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from adapters.postgres.database import Database
from adapters.postgres.notify_listen import Listener
from adapters.postgres.notify_payloads import CHANNEL, chunks, json_size, packs, receipt_row
from adapters.wake import LocalNotifier, StatusHandler
from domain.errors import CloseReason, StoreUnavailable
from domain.model import Priority, Status
from domain.ports import Notifier
from domain.receipts import Transition
from domain.status import admitted

log = logging.getLogger("meshbroker.notify")

ALL_PRIORITIES = frozenset(Priority)


class PostgresNotifier(Listener, Notifier):
    def __init__(
        self,
        local: LocalNotifier,
        database: Database,
        dsn: str,
        instance: str,
        on_lost: Callable[[], None] | None = None,  # counts each lost LISTEN connection
    ) -> None:
        self.local = local
        self.database = database
        self.dsn = dsn
        self.instance = instance
        self._away: set[str] = set()
        self._flush: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self.on_status: StatusHandler | None = None
        self.listening = asyncio.Event()  # set while the LISTEN connection is up
        self.on_lost = on_lost
        self._idles: list[list[str]] = []

    def apply_status_with(self, handler: StatusHandler) -> None:
        self.on_status = handler

    async def wake(self, member_ids: Iterable[str]) -> None:
        ids = set(member_ids)
        await self._wake_here(ids)
        self._publish({m for m in ids if not self._served_here(m)})

    async def wake_everywhere(self, member_ids: Iterable[str]) -> None:
        ids = set(member_ids)
        await self._wake_here(ids)
        self._publish(ids)

    async def _wake_here(self, ids: set[str]) -> None:
        here = [m for m in ids if self._sessions_here(m)]
        if here:
            await self.local.wake(here)

    def _served_here(self, member_id: str) -> bool:
        # Other instances hear of every member whose mail a session here may leave
        # behind: one that has no session here, or only sessions that hold some
        # priorities back (working, waiting, dnd). Its idle session elsewhere must not
        # wait.
        return any(admitted(s.status) == ALL_PRIORITIES for s in self._sessions_here(member_id))

    def _publish(self, away: set[str]) -> None:
        if away:
            self._away |= away
            if self._flush is None:
                self._flush = asyncio.get_running_loop().create_task(self._publish_wakes())

    async def kick(self, connection_id: str, reason: CloseReason) -> None:
        if self.local.sessions.get(connection_id) is not None:
            await self.local.kick(connection_id, reason)
            return
        await self._notify({"i": self.instance, "k": [connection_id, reason.value]})

    async def status_changed(self, presence_id: str, member_id: str, status: Status) -> None:
        await self._notify({"i": self.instance, "s": [presence_id, member_id, status.value]})

    async def went_idle(self, member_id: str, presence_id: str, session_id: str) -> None:
        await self.local.went_idle(member_id, presence_id, session_id)
        # One NOTIFY per event-loop turn carries every idle of that turn (a burst
        # of hellos makes one statement per turn, not one each).
        self._idles.append([member_id, presence_id, session_id])
        if len(self._idles) == 1:
            self._spawn(self._publish_idles())

    async def _publish_idles(self) -> None:
        await asyncio.sleep(0)
        idles, self._idles = self._idles, []
        for chunk in packs(idles, len(self.instance) + 20, json_size):
            await self._announce({"i": self.instance, "d": chunk})

    async def receipts(self, transitions: Sequence[Transition]) -> None:
        """Receipts go to the sender's sessions here at once; those whose sending
        session is not here also travel to the other instances (references and
        states only, no message content)."""
        await self.local.receipts(transitions)
        away = [t for t in transitions if not self.local.sessions.of_presence(t.sender_presence_id)]
        if away:
            self._spawn(self._publish_receipts(away))

    async def _publish_receipts(self, transitions: list[Transition]) -> None:
        rows = [receipt_row(t) for t in transitions]
        for chunk in packs(rows, len(self.instance) + 20, json_size):
            await self._announce({"i": self.instance, "r": chunk})

    async def _announce(self, payload: dict[str, Any]) -> None:
        try:
            await self._notify(payload)
        except StoreUnavailable as exc:
            log.warning("notification not published", extra={"ctx": {"error": str(exc)}})

    async def member_changed(self, mesh_id: str, member_id: str) -> None:
        self.local.forget(mesh_id, member_id)
        await self._notify({"i": self.instance, "m": [mesh_id, member_id]})

    async def _publish_wakes(self) -> None:
        await asyncio.sleep(0)  # let this turn's other sends join the batch
        ids, self._away, self._flush = sorted(self._away), set(), None
        prefix = len(self.instance) + 20
        try:
            for chunk in chunks(ids, prefix):
                await self._notify({"i": self.instance, "w": chunk})
        except StoreUnavailable as exc:
            # Listeners rescan when their connection comes back; leases sweep too.
            log.warning("wake-up not published", extra={"ctx": {"error": str(exc)}})

    async def _notify(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        await self.database.execute("SELECT pg_notify($1, $2)", CHANNEL, text)

    # ---- the listening side
