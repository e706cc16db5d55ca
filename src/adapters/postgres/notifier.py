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
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from adapters.local import TaskNotifier
from adapters.postgres.database import Database
from domain.errors import StoreUnavailable
from domain.model import Priority, Status
from domain.ports import Notifier
from domain.receipts import DeliveryState, Transition
from domain.sessions import Session
from domain.status import admitted

log = logging.getLogger("meshbroker.notify")

StatusHandler = Callable[[str, str, Status], Coroutine[Any, Any, object]]

ALL_PRIORITIES = frozenset(Priority)
CHANNEL = "meshbroker"
MAX_PAYLOAD = 7000  # bytes; Postgres refuses NOTIFY payloads of 8000 and more


def _chunks(ids: list[str], prefix: int) -> list[list[str]]:
    chunks: list[list[str]] = [[]]
    size = prefix
    for member_id in ids:
        cost = len(member_id) + 3
        if chunks[-1] and size + cost > MAX_PAYLOAD:
            chunks.append([])
            size = prefix
        chunks[-1].append(member_id)
        size += cost
    return [c for c in chunks if c]


class PostgresNotifier(Notifier):
    def __init__(self, local: TaskNotifier, database: Database, dsn: str, instance: str) -> None:
        self.local = local
        self.database = database
        self.dsn = dsn
        self.instance = instance
        self._away: set[str] = set()
        self._flush: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[object]] = set()
        self.on_status: StatusHandler | None = None
        self.listening = asyncio.Event()  # set while the LISTEN connection is up
        self.on_lost: Callable[[], None] | None = None  # counts each lost LISTEN connection
        self._idles: list[list[str]] = []

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

    def _sessions_here(self, member_id: str) -> list[Session]:
        # A transient (one-shot) session is pushed no mail: it does not count.
        return [s for s in self.local.sessions.of_member(member_id) if not s.transient]

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

    async def kick(self, connection_id: str, code: int, reason: str) -> None:
        if self.local.sessions.get(connection_id) is not None:
            await self.local.kick(connection_id, code, reason)
            return
        await self._notify({"i": self.instance, "k": [connection_id, code, reason]})

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
        chunk: list[list[str]] = []
        size = len(self.instance) + 20
        for notice in idles:
            cost = sum(len(x) + 3 for x in notice) + 3
            if chunk and size + cost > MAX_PAYLOAD:
                await self._announce({"i": self.instance, "d": chunk})
                chunk, size = [], len(self.instance) + 20
            chunk.append(notice)
            size += cost
        if chunk:
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
        rows = [_receipt_row(t) for t in transitions]
        chunk: list[list[object]] = []
        size = len(self.instance) + 20
        for row in rows:
            cost = len(json.dumps(row, separators=(",", ":"))) + 1
            if chunk and size + cost > MAX_PAYLOAD:
                await self._announce({"i": self.instance, "r": chunk})
                chunk, size = [], len(self.instance) + 20
            chunk.append(row)
            size += cost
        if chunk:
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
            for chunk in _chunks(ids, prefix):
                await self._notify({"i": self.instance, "w": chunk})
        except StoreUnavailable as exc:
            # Listeners rescan when their connection comes back; leases sweep too.
            log.warning("wake-up not published", extra={"ctx": {"error": str(exc)}})

    async def _notify(self, payload: dict[str, Any]) -> None:
        text = json.dumps(payload, separators=(",", ":"))
        await self.database.execute("SELECT pg_notify($1, $2)", CHANNEL, text)

    # ---- the listening side

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
                for t in map(_receipt_from, message["r"])
                if self.local.sessions.of_member(t.sender_member_id)
            ]
            if mine:
                self._spawn(self.local.receipts(mine))
        elif "m" in message:
            mesh_id, member_id = message["m"]
            self.local.forget(str(mesh_id), None if member_id is None else str(member_id))
        elif "k" in message:
            connection_id, code, reason = message["k"]
            if self.local.sessions.get(connection_id) is not None:
                self._spawn(self.local.kick(connection_id, int(code), str(reason)))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _receipt_row(t: Transition) -> list[object]:
    return [
        t.message_id,
        t.mesh_id,
        t.sender_member_id,
        t.sender_presence_id,
        t.recipient_member_id,
        t.state.value,
        t.at.isoformat(),
        int(t.escalated),
    ]


def _receipt_from(row: list[Any]) -> Transition:
    message_id, mesh_id, sender, presence, recipient, state, at, escalated = row
    return Transition(
        message_id=str(message_id),
        mesh_id=str(mesh_id),
        sender_member_id=str(sender),
        sender_presence_id=str(presence),
        recipient_member_id=str(recipient),
        state=DeliveryState(state),
        at=datetime.fromisoformat(at),
        escalated=bool(escalated),
    )
