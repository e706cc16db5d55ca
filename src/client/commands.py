"""The meshpeer commands that talk to the broker: send, listen, status, peers.

This module runs them: logging, the session's settings, signals and exit codes;
the commands are in client/one_shot.py and client/listen.py."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from client.errors import Fatal, MeshpeerError, NoSession
from client.listen import listen
from client.one_shot import one_shot
from client.peer import Peer, PeerConfig
from client.profiles import identity_hint
from client.session_config import config_for

log = logging.getLogger("meshpeer")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def run(args: argparse.Namespace, settings: dict[str, str | None]) -> int:
    _configure_logging(args.command)
    try:
        config = config_for(args, settings)
    except NoSession as exc:
        print(f"meshpeer {args.command}: {exc}", file=sys.stderr)
        return 1
    try:
        return asyncio.run(_main(args, config))
    except Fatal as exc:
        hint = identity_hint(settings) if "unauthorized" in str(exc) else None
        print(f"meshpeer {args.command}: {exc}{f' ({hint})' if hint else ''}", file=sys.stderr)
        return 1
    except MeshpeerError as exc:
        print(f"meshpeer {args.command}: {exc}", file=sys.stderr)
        return 1


def _configure_logging(command: str) -> None:
    level = os.environ.get("MESHPEER_LOG_LEVEL", "").upper()
    if level not in LOG_LEVELS:
        level = "INFO" if command == "listen" else "WARNING"
    logging.basicConfig(
        stream=sys.stderr, level=level, format="%(asctime)s meshpeer %(levelname)s %(message)s"
    )


async def _main(args: argparse.Namespace, config: PeerConfig) -> int:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        if args.command == "listen":
            return await listen(config, args.count, args.timeout)
        async with Peer(config) as peer:
            return await one_shot(peer, args)
    except asyncio.CancelledError:
        log.info("stopped by a signal")
        return 0
