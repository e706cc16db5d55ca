"""`meshpeer mcp`: wire the stdio transport, the MCP protocol, the tools, the inbox and
the broker link together, and run until Claude Code closes stdin or sends SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Mapping
from typing import Any

from client.inbox import Inbox
from client.inbox_message import Stored
from client.mcp.instructions import INSTRUCTIONS
from client.mcp.link import Link, session_id_from
from client.mcp.protocol import Server
from client.mcp.schemas import tools
from client.mcp.stdio import Stdio
from client.mcp.tools import Tools
from client.model import PeerConfig
from client.sessions import remove_session

log = logging.getLogger("meshpeer")
CHANNEL_METHOD = "notifications/claude/channel"


def channel_params(message: Stored) -> dict[str, Any]:
    """A channel event: `content` and `meta` of string values under [A-Za-z0-9_] keys
    (Claude Code drops other keys and rejects the event for a non-string value)."""
    return {
        "content": message.text,
        "meta": {
            "from_name": message.from_name,
            "from_pubkey": message.from_pubkey,
            "message_id": message.message_id,
            "priority": message.priority,
            "sent_at": message.sent_at,
            "encrypted": "true" if message.encrypted else "false",
        },
    }


class Channel:
    """Channel mode: each stored message goes out as a channel event once the client
    is initialized; claiming it first makes sure a hook or mesh_inbox never shows it too."""

    def __init__(self, server: Server, link: Link) -> None:
        self._server = server
        self._link = link
        server.on_initialized.append(self.flush)
        link.on_stored.append(self.offer)

    def offer(self, message: Stored) -> None:
        if not self._server.initialized:
            return  # flushed at notifications/initialized
        claimed = self._link.inbox.claim(self._link.session_id, message.message_id, "channel")
        if claimed is not None:
            self._server.notify(CHANNEL_METHOD, channel_params(claimed))

    def flush(self) -> None:
        while batch := self._link.inbox.claim_unread(self._link.session_id, "channel"):
            for message in batch:
                self._server.notify(CHANNEL_METHOD, channel_params(message))


def _configure(args: argparse.Namespace, env: Mapping[str, str]) -> Any:
    def configure(session_id: str) -> PeerConfig:
        from client.session_config import peer_config
        from client.usage import resolve

        return peer_config(resolve(args, env), session_id)

    return configure


async def serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    io = Stdio()
    server = Server(io, INSTRUCTIONS)
    session_id = session_id_from(env, getattr(args, "session", None))
    inbox = Inbox.open(env)
    pruned = inbox.prune()
    link = Link(_configure(args, env), session_id, inbox, os.getcwd())
    listed = {"tools": tools()}

    async def list_tools(params: dict[str, Any]) -> dict[str, Any]:
        return listed

    server.handle("tools/list", list_tools)
    server.handle("tools/call", Tools(link).call)
    if env.get("MESHPEER_CHANNEL") == "1":
        Channel(server, link)
    io.start()
    link.start()
    log.info(
        "meshpeer mcp: session %s, inbox %s (%d shown messages forgotten)",
        session_id,
        inbox.path,
        pruned,
    )
    serving = asyncio.create_task(server.serve())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (serving, stopped):
            task.cancel()
        with contextlib.suppress(Exception):
            await link.close()
        remove_session(session_id, env)
        inbox.close()
    return 0


def main(args: argparse.Namespace) -> int:
    level = os.environ.get("MESHPEER_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        stream=sys.stderr,
        level=level if level in ("DEBUG", "INFO", "WARNING", "ERROR") else "INFO",
        format="%(asctime)s meshpeer mcp %(levelname)s %(message)s",
    )
    return asyncio.run(serve(args, os.environ))
