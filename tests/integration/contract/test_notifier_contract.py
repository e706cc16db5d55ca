"""Notifier contract: a wake, a kick, a status change and a member change reach the
instance that must act on them, wherever it is (issue 14: race 1 lived where no
contract held the two implementations together).

Two "instances", a and b. In process (LocalNotifier) they are one process: the same
registry, the same notifier. On Postgres each is a PostgresNotifier with its own
sessions, listening on the shared database; what one publishes, the other hears
within a generous bound."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from adapters.http.errors import CLOSES
from adapters.postgres.database import Database
from adapters.postgres.notifier import PostgresNotifier
from adapters.wake import Delivery, LocalNotifier, TaskNotifier
from domain.errors import CloseReason
from domain.model import Message, Status
from domain.ports import Notifier
from domain.sessions import Session, SessionRegistry

WAIT = 10.0


class Socket:
    def __init__(self) -> None:
        self._id = f"conn-{uuid.uuid4()}"
        self.closed: tuple[int, str] | None = None

    @property
    def id(self) -> str:
        return self._id

    async def push(self, messages: Sequence[Message]) -> None:
        pass

    async def close(self, reason: CloseReason) -> None:
        self.closed = CLOSES[reason]


class Cache:
    def __init__(self) -> None:
        self.forgotten: list[tuple[str, str | None]] = []

    def forget(self, mesh_id: str, member_id: str | None = None) -> None:
        self.forgotten.append((mesh_id, member_id))

    def suspend(self) -> None:
        pass

    def resume(self) -> None:
        pass


@dataclass
class Node:
    """One broker instance as the notifier sees it."""

    notifier: Notifier
    sessions: SessionRegistry
    woken: list[str] = field(default_factory=list)
    statuses: list[tuple[str, Status]] = field(default_factory=list)
    cache: Cache = field(default_factory=Cache)

    def connect(self, member_id: str, status: Status = Status.IDLE) -> Session:
        session = Session(
            connection=Socket(),
            presence_id=str(uuid.uuid4()),
            mesh_id="mesh",
            member_id=member_id,
            pubkey="ab" * 32,
            session_id=str(uuid.uuid4()),
            cwd="/",
            acks=True,
            status=status,
            connected_at=datetime.now(UTC),
        )
        self.sessions.add(session)
        return session


def _wire(local: LocalNotifier, node: Node) -> None:
    async def woken(member_ids: list[str]) -> None:
        node.woken.extend(member_ids)

    async def unused(*_args: object) -> None:
        pass

    local.deliver_with(Delivery(woken, idle=unused, receipts=unused, watches_on=lambda _m: True))
    local.cache = node.cache


class Cluster:
    kind: str
    a: Node
    b: Node

    async def stop(self) -> None:
        pass


class InProcess(Cluster):
    kind = "in-process"

    def __init__(self) -> None:
        local = LocalNotifier(SessionRegistry())
        self.a = self.b = Node(local, local.sessions)
        _wire(local, self.a)


class OnPostgres(Cluster):
    kind = "postgres"

    def __init__(self, database: Database, dsn: str) -> None:
        self.database, self.dsn = database, dsn
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> OnPostgres:
        self.a, self.b = await self._node("a"), await self._node("b")
        return self

    async def _node(self, name: str) -> Node:
        local = TaskNotifier(SessionRegistry())
        notifier = PostgresNotifier(local, self.database, self.dsn, f"{name}-{uuid.uuid4().hex}")
        node = Node(notifier, local.sessions)
        _wire(local, node)

        async def on_status(presence_id: str, member_id: str, status: Status) -> None:
            node.statuses.append((presence_id, status))

        notifier.apply_status_with(on_status)
        self.tasks.append(asyncio.get_running_loop().create_task(notifier.listen()))
        await asyncio.wait_for(notifier.listening.wait(), WAIT)
        return node

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


@pytest.fixture(params=["in-process", "postgres"])
def made(request: pytest.FixtureRequest) -> Cluster:
    if request.param == "in-process":
        return InProcess()
    db = request.getfixturevalue("database")
    return OnPostgres(db, request.getfixturevalue("database_url"))


@pytest.fixture
async def cluster(made: Cluster) -> AsyncIterator[Cluster]:
    if isinstance(made, OnPostgres):
        await made.start()
    yield made
    await made.stop()


async def until(condition: Callable[[], bool]) -> None:
    """Postgres delivers notifications asynchronously: wait, with a generous bound."""
    async with asyncio.timeout(WAIT):
        while not condition():
            await asyncio.sleep(0.01)


def member() -> str:
    return f"member-{uuid.uuid4()}"


async def test_a_wake_reaches_a_member_connected_only_on_another_instance(
    cluster: Cluster,
) -> None:
    bob = member()
    cluster.b.connect(bob)

    await cluster.a.notifier.wake([bob])

    await until(lambda: bob in cluster.b.woken)


async def test_a_wake_reaches_the_idle_session_elsewhere_of_a_member_busy_here(
    cluster: Cluster,
) -> None:
    # Race 1: a working (or dnd) session here holds `next` mail back; the member's
    # idle session on another instance must be woken for it, not left waiting.
    bob = member()
    cluster.a.connect(bob, Status.WORKING)
    cluster.b.connect(bob, Status.IDLE)

    await cluster.a.notifier.wake([bob])

    await until(lambda: bob in cluster.b.woken)


async def test_a_wake_reaches_a_member_s_session_here(cluster: Cluster) -> None:
    bob = member()
    cluster.a.connect(bob)

    await cluster.a.notifier.wake([bob])

    await until(lambda: bob in cluster.a.woken)


async def test_a_kick_closes_the_connection_wherever_it_is(cluster: Cluster) -> None:
    session = cluster.b.connect(member())

    await cluster.a.notifier.kick(session.connection_id, CloseReason.REPLACED)

    socket = session.connection
    assert isinstance(socket, Socket)
    await until(lambda: socket.closed == (4000, "replaced"))
    assert cluster.b.sessions.get(session.connection_id) is None


async def test_a_kick_of_an_unknown_connection_closes_nothing(cluster: Cluster) -> None:
    session = cluster.b.connect(member())

    await cluster.a.notifier.kick("conn-nobody", CloseReason.REPLACED)
    await cluster.a.notifier.kick(session.connection_id, CloseReason.REVOKED)  # a marker

    socket = session.connection
    assert isinstance(socket, Socket)
    await until(lambda: socket.closed is not None)
    assert socket.closed == (1008, "revoked")


async def test_a_member_change_is_forgotten_on_every_instance(cluster: Cluster) -> None:
    bob = member()

    await cluster.a.notifier.member_changed("mesh-1", bob)

    assert ("mesh-1", bob) in cluster.a.cache.forgotten  # at once, here
    await until(lambda: ("mesh-1", bob) in cluster.b.cache.forgotten)


async def test_a_status_change_reaches_the_instance_that_holds_the_socket(
    cluster: Cluster,
) -> None:
    if cluster.kind == "in-process":
        pytest.skip("one process holds every socket: the use case applies it itself")
    session = cluster.b.connect(member(), Status.IDLE)

    await cluster.a.notifier.status_changed(session.presence_id, session.member_id, Status.DND)

    await until(lambda: (session.presence_id, Status.DND) in cluster.b.statuses)
