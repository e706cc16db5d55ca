"""The session's link to the broker, held for as long as Claude Code runs the server.

It never fails the MCP handshake: a missing identity or a broker that is down is a
`problem` the tools report (with what to do), while the connection is retried in the
background and the identity looked up again on the next tool call. Every pushed
message is stored in the local inbox before the broker gets its `client_ack`."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from client.errors import Fatal, MeshpeerError
from client.inbox import Inbox
from client.inbox_message import Stored
from client.model import Incoming, PeerConfig
from client.names import Names
from client.peer import Peer

log = logging.getLogger("meshpeer")


class Unavailable(Exception):
    """The mesh cannot be reached now; the text says why and what to do."""


@dataclass(frozen=True, slots=True)
class Connected:
    peer: Peer
    names: Names
    config: PeerConfig


def session_id_from(env: Mapping[str, str], flag: str | None = None) -> str:
    """CLAUDE_CODE_SESSION_ID (equal to the hook events' session_id), else
    MESHPEER_SESSION, else a random one."""
    return (
        flag
        or env.get("CLAUDE_CODE_SESSION_ID")
        or env.get("MESHPEER_SESSION")
        or f"meshpeer-{secrets.token_hex(8)}"
    )


Configure = Callable[[str], PeerConfig]  # session id -> config, or raises with advice
OnStored = Callable[[Stored], None]


class Link:
    def __init__(self, configure: Configure, session_id: str, inbox: Inbox, cwd: str) -> None:
        self._configure = configure
        self.session_id = session_id
        self.inbox = inbox
        self.cwd = cwd
        self.on_stored: list[OnStored] = []
        self.arrived = asyncio.Event()
        self._connected: Connected | None = None
        self._problem: str | None = None
        self._fatal: str | None = None
        self._task: asyncio.Task[None] | None = None

    # ---- lifecycle

    def start(self) -> None:
        """Resolve the identity and start connecting in the background."""
        try:
            config = self._configure(self.session_id)
        except Exception as exc:  # any resolution failure: reported by the tools
            self._problem = str(exc)
            log.warning("not connecting: %s", exc)
            return
        self._problem = None
        peer = Peer(config)
        self._connected = Connected(peer, Names(peer), config)
        self._task = asyncio.create_task(self._run(self._connected), name="meshpeer-link")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._connected is not None:
            await self._connected.peer.close()

    # ---- what the tools use

    def require(self) -> Connected:
        """The live connection, or Unavailable saying what is wrong and what to do."""
        if self._connected is None:
            self.start()  # the identity may have been set up since
        connected = self._connected
        if connected is None:
            raise Unavailable(
                f"meshpeer is not set up for this session: {self._problem}. Set the identity "
                "(MESHPEER_URL, MESHPEER_MESH, MESHPEER_MEMBER, MESHPEER_KEY) or join a mesh "
                "with `meshpeer join`, then restart Claude Code."
            )
        if self._fatal is not None:
            raise Unavailable(
                f"the broker refused this identity ({self._fatal}). Check the mesh id, member "
                "id and key file meshpeer uses (or whether the member was revoked), then "
                "restart Claude Code."
            )
        if not connected.peer.connected:
            raise Unavailable(
                f"not connected to the broker at {connected.config.url} "
                f"({connected.peer.last_error}). meshpeer keeps retrying in the background: "
                "try again in a few seconds; if it lasts, the broker is not running there."
            )
        return connected

    @property
    def pubkey(self) -> str | None:
        return None if self._connected is None else self._connected.config.identity.pubkey

    # ---- receiving

    async def _run(self, connected: Connected) -> None:
        from client.session_record import record_session

        peer = connected.peer
        peer.on_hello.append(lambda ok: record_session(connected.config, ok))
        try:
            await peer.start(within=None)
            async with contextlib.aclosing(peer.messages()) as messages:
                async for incoming in messages:
                    await self._keep(connected, incoming)
        except Fatal as exc:
            self._fatal = str(exc)
            log.error("the broker refused this identity: %s", exc)
        except MeshpeerError as exc:
            self._fatal = str(exc)
            log.error("the connection loop ended: %s", exc)

    async def _keep(self, connected: Connected, incoming: Incoming) -> None:
        """Store one message; only then may it be acknowledged (the caller asks for the
        next message, which acks this one)."""
        name = await connected.names.name_of(incoming.sender)
        message = Stored(
            message_id=incoming.message_id,
            from_name=name,
            from_pubkey=incoming.sender,
            priority=incoming.priority,
            text=incoming.text,
            sent_at=incoming.created_at,
            encrypted=incoming.encrypted,
        )
        new = self.inbox.store(
            recipient=connected.config.identity.pubkey,
            session_id=self.session_id,
            cwd=self.cwd,
            message=message,
        )
        if not new:
            log.info("dropped a duplicate of %s", incoming.message_id)
            return
        log.info("stored %s from %s", incoming.message_id, name)
        self.arrived.set()
        for callback in self.on_stored:
            callback(message)
