"""Real brokers in subprocesses, and a plain WebSocket peer that speaks protocol.md."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nacl.signing import SigningKey
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from adapters.postgres.database import Database
from domain.model import Member, Mesh, Role

WAIT = 30.0  # generous: these tests wait on real sockets and processes


class BrokerProcess:
    """`meshbroker serve` in a subprocess; its JSON log lines are collected as they come."""

    def __init__(self, database_url: str, **env: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "BROKER_PORT": "0",
            "BROKER_HOST": "127.0.0.1",
            "NODE_ENV": "test",
            **env,
        }
        self.logs: list[dict[str, Any]] = []
        self.port: int | None = None
        self.proc: subprocess.Popen[str] | None = None
        self._changed = threading.Condition()

    def start(self) -> BrokerProcess:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_log(lambda e: e.get("msg") == "broker listening")
        self.port = int(line["port"])
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = {"msg": raw.rstrip(), "raw": True}
            with self._changed:
                self.logs.append(entry)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_log(
        self, match: Callable[[dict[str, Any]], bool], timeout: float = WAIT
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = next((e for e in self.logs if match(e)), None)
                if found is not None:
                    return found
                exited = self.proc is not None and self.proc.poll() is not None
                left = deadline - time.monotonic()
                if left <= 0 or exited:
                    tail = "\n".join(json.dumps(e) for e in self.logs[-15:])
                    raise AssertionError(f"no such log line (exited={exited}); last lines:\n{tail}")
                self._changed.wait(min(left, 0.5))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def terminate(self, sig: int = signal.SIGTERM, timeout: float = WAIT) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)


@dataclass
class Identity:
    mesh: Mesh
    member: Member
    key: SigningKey

    @property
    def pubkey(self) -> str:
        return self.member.pubkey


async def new_mesh(database: Database, name: str = "team") -> Mesh:
    from adapters.postgres.stores import PostgresDirectory

    mesh_id = str(uuid.uuid4())
    slug = f"{name}-{mesh_id[:8]}"
    return await PostgresDirectory(database).create_mesh(Mesh(mesh_id, name, slug))


async def new_member(database: Database, mesh: Mesh, name: str = "ada") -> Identity:
    from adapters.postgres.stores import PostgresDirectory

    key = SigningKey.generate()
    member = Member(str(uuid.uuid4()), mesh.id, key.verify_key.encode().hex(), name, Role.MEMBER)
    return Identity(mesh, await PostgresDirectory(database).add_member(member), key)


def signed_hello(who: Identity, session_id: str, **overrides: Any) -> dict[str, Any]:
    timestamp = overrides.pop("timestamp", int(time.time() * 1000))
    parts = [who.mesh.id, who.member.id, who.pubkey, session_id, str(timestamp)]
    text = "claudemesh/hello/v1|" + "|".join(parts)
    frame = {
        "type": "hello",
        "meshId": who.mesh.id,
        "memberId": who.member.id,
        "pubkey": who.pubkey,
        "sessionId": session_id,
        "pid": 4242,
        "cwd": "/home/ada/proj",
        "timestamp": timestamp,
        "signature": who.key.sign(text.encode()).signature.hex(),
        "capabilities": ["ack"],
    }
    return {**frame, **overrides}


@dataclass
class WsPeer:
    """One socket; frames it received wait in `inbox` until a test takes them."""

    socket: ClientConnection
    inbox: list[dict[str, Any]] = field(default_factory=list)
    hello_ok: dict[str, Any] | None = None

    @classmethod
    async def open(cls, url: str) -> WsPeer:
        return cls(await connect(url, open_timeout=WAIT, max_size=None))

    @classmethod
    async def join(
        cls, url: str, who: Identity, session_id: str | None = None, **kw: Any
    ) -> WsPeer:
        peer = await cls.open(url)
        await peer.send(signed_hello(who, session_id or str(uuid.uuid4()), **kw))
        peer.hello_ok = await peer.expect("hello_ok")
        return peer

    async def send(self, frame: dict[str, Any] | str | bytes) -> None:
        await self.socket.send(frame if isinstance(frame, str | bytes) else json.dumps(frame))

    async def expect(self, kind: str, timeout: float = WAIT, **fields: Any) -> dict[str, Any]:
        """The first frame of this type (and these field values), waiting for it."""
        async with asyncio.timeout(timeout):
            while True:
                for frame in self.inbox:
                    if frame.get("type") == kind and all(
                        frame.get(k) == v for k, v in fields.items()
                    ):
                        self.inbox.remove(frame)
                        return frame
                self.inbox.append(json.loads(await self.socket.recv()))

    async def request(self, frame: dict[str, Any], kind: str) -> dict[str, Any]:
        await self.send(frame)
        return await self.expect(kind, **({"id": frame["id"]} if "id" in frame else {}))

    async def closed(self, timeout: float = WAIT) -> tuple[int | None, str | None]:
        """Wait for the broker to close the socket; its close code and reason."""
        async with asyncio.timeout(timeout):
            try:
                while True:
                    self.inbox.append(json.loads(await self.socket.recv()))
            except ConnectionClosed as closed:
                received = closed.rcvd
                return (received.code, received.reason) if received else (None, None)

    async def close(self) -> None:
        await self.socket.close()
