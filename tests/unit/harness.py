"""A whole broker in memory, and peers that talk to it through the use cases."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from nacl.signing import SigningKey

from adapters.memory import FakeClock, RecordingMetrics, memory_context
from domain.admission import Hello, canonical
from domain.model import Member, Mesh, Message, Priority, Status
from domain.policy import Policy
from domain.ports import ConnectionGone
from domain.receipts import Receipt
from domain.sessions import Session
from domain.usecases import admin, connect, send
from domain.usecases.context import Context
from domain.watches import PeerIdle

_ids = itertools.count(1)


class FakeConnection:
    """A socket that records what the broker wrote to it."""

    def __init__(self) -> None:
        self._id = f"conn-{next(_ids)}"
        self.pushed: list[Message] = []
        self.events: list[Receipt | PeerIdle] = []
        self.closed: tuple[int, str] | None = None

    @property
    def id(self) -> str:
        return self._id

    async def push(self, messages: Sequence[Message]) -> None:
        if self.closed is not None:
            raise ConnectionGone(self.id)
        self.pushed.extend(messages)

    async def notify(self, event: Receipt | PeerIdle) -> None:
        if self.closed is not None:
            raise ConnectionGone(self.id)
        self.events.append(event)

    async def close(self, code: int, reason: str) -> None:
        self.closed = (code, reason)

    @property
    def texts(self) -> list[str]:
        return [m.ciphertext for m in self.pushed]


@dataclass
class Peer:
    member: Member
    key: SigningKey

    @property
    def pubkey(self) -> str:
        return self.member.pubkey


@dataclass
class Client:
    peer: Peer
    session: Session
    connection: FakeConnection
    presence_id: str
    hook_token: str


@dataclass
class Harness:
    policy: Policy = field(default_factory=Policy)
    clock: FakeClock = field(default_factory=FakeClock)
    ctx: Context = field(init=False)
    mesh: Mesh = field(init=False)

    def __post_init__(self) -> None:
        self.ctx = memory_context(self.policy, self.clock)

    @property
    def metrics(self) -> RecordingMetrics:
        assert isinstance(self.ctx.metrics, RecordingMetrics)
        return self.ctx.metrics

    async def start(self, name: str = "team") -> Harness:
        self.mesh = await admin.create_mesh(self.ctx, name)
        return self

    async def peer(self, name: str, mesh: Mesh | None = None) -> Peer:
        key = SigningKey.generate()
        pubkey = key.verify_key.encode().hex()
        member = await admin.add_member(self.ctx, (mesh or self.mesh).id, pubkey, name)
        return Peer(member, key)

    def hello_for(
        self,
        peer: Peer,
        session_id: str | None = None,
        *,
        acks: bool = True,
        receipts: bool = False,
        transient: bool = False,
        pid: int | None = 4242,
        cwd: str = "/home/ada/proj",
        skew_ms: int = 0,
    ) -> Hello:
        unsigned = Hello(
            mesh_id=peer.member.mesh_id,
            member_id=peer.member.id,
            pubkey=peer.pubkey,
            session_id=session_id or str(uuid.uuid4()),
            pid=pid,
            cwd=cwd,
            timestamp_ms=int(self.clock.now().timestamp() * 1000) + skew_ms,
            signature="",
            capabilities=frozenset({"ack"} if acks else ())
            | ({"receipts"} if receipts else set())
            | ({"transient"} if transient else set()),
        )
        signature = peer.key.sign(canonical(unsigned)).signature.hex()
        return replace(unsigned, signature=signature)

    async def connect(self, peer: Peer, session_id: str | None = None, **kw: object) -> Client:
        self.clock.advance(0.001)  # a real client signs each hello at a new millisecond
        connection = FakeConnection()
        hello = self.hello_for(peer, session_id, **kw)  # type: ignore[arg-type]
        welcome = await connect.hello(self.ctx, connection, hello)
        await self.ctx.notifier.wake([peer.member.id])
        return Client(peer, welcome.session, connection, welcome.presence.id, welcome.hook_token)

    async def send(
        self,
        client: Client,
        to: Peer | str,
        text: str = "hi",
        priority: Priority = Priority.NEXT,
        **kw: object,
    ) -> str:
        target = to if isinstance(to, str) else to.pubkey
        request = send.SendRequest(
            target_spec=target,
            nonce="bm9uY2U=",
            ciphertext=text,
            priority=priority,
            **kw,  # type: ignore[arg-type]
        )
        return await send.send(self.ctx, client.session, request)

    async def drop(self, client: Client) -> None:
        """The client's socket closes."""
        await client.connection.close(1006, "gone")
        await connect.disconnect(self.ctx, client.session)

    async def status_of(self, client: Client) -> Status:
        presence = await self.ctx.presences.get(client.presence_id)
        assert presence is not None
        return presence.status.status
