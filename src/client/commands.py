"""The meshpeer commands that talk to the broker: send, listen, status, peers."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import signal
import sys
from pathlib import Path

import msgspec

from adapters import wire
from client.cli import UsageError, print_json
from client.errors import Fatal, MeshpeerError
from client.hello import CAPABILITIES, TRANSIENT
from client.identity import KeyFileError, load_key
from client.names import Names
from client.peer import Peer, PeerConfig
from client.profiles import identity_hint
from client.receipts import failed, reached
from client.sessions import find_session, remove_session, write_session

log = logging.getLogger("meshpeer")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def run(args: argparse.Namespace, settings: dict[str, str | None]) -> int:
    _configure_logging(args.command)
    try:
        config = _config(args, settings)
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


def _config(args: argparse.Namespace, settings: dict[str, str | None]) -> PeerConfig:
    session = settings["session"]
    if session is None and args.command == "status":
        assert settings["mesh"] and settings["member"]
        session = _listening_session(settings["mesh"], settings["member"])
        if session is None:
            raise NoSession(
                f"no `meshpeer listen` session of this mesh and member runs in {os.getcwd()}: "
                "start one here, or name a session with --session"
            )
    # A one-shot command leaves no session behind; one that takes over a named
    # session (status of the listening session) must not end it.
    transient = args.command != "listen" and session is None
    return peer_config(
        settings,
        session or f"meshpeer-{secrets.token_hex(8)}",
        transient=transient,
        fail_fast=args.command != "listen",
    )


def peer_config(
    settings: dict[str, str | None],
    session_id: str,
    *,
    transient: bool = False,
    fail_fast: bool = False,
) -> PeerConfig:
    """The connection settings of a session; UsageError for a bad key file."""
    key, mesh, member, url = settings["key"], settings["mesh"], settings["member"], settings["url"]
    assert key and mesh and member and url
    try:
        identity = load_key(Path(key))
    except KeyFileError as exc:
        raise UsageError("--key", str(exc)) from None
    return PeerConfig(
        url=url,
        mesh_id=mesh,
        member_id=member,
        identity=identity,
        session_id=session_id,
        cwd=os.getcwd(),
        pid=os.getppid(),
        capabilities=(*CAPABILITIES, TRANSIENT) if transient else CAPABILITIES,
        fail_fast=fail_fast,
    )


def _listening_session(mesh: str, member: str) -> str | None:
    """The session `meshpeer listen` keeps connected in this directory, if any."""
    record = find_session(None, os.getcwd())
    if record and record.get("meshId") == mesh and record.get("memberId") == member:
        return str(record["sessionId"])
    return None


class NoSession(Exception):
    """`meshpeer status` with no session to apply it to."""


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
            return await _one_shot(peer, args)
    except asyncio.CancelledError:
        log.info("stopped by a signal")
        return 0


async def _one_shot(peer: Peer, args: argparse.Namespace) -> int:
    if args.command == "send":
        ack = await peer.send(
            args.to, args.text, args.priority, escalate_after_seconds=args.escalate_after
        )
        _print_frame(ack)
        if not ack.queued:
            print(f"meshpeer send: not queued: {ack.error}", file=sys.stderr)
            return 1
        if args.wait is None or ack.message_id is None:
            return 0
        return await _wait(peer, ack.message_id, args.wait, args.timeout)
    if args.command == "status-of":
        _print_frame(await peer.message_status(args.message_id))
        return 0
    if args.command == "status":
        _print_frame(await peer.set_status(args.status))
        return 0
    if args.command == "peers":
        print_json(msgspec.to_builtins(await peer.list_peers()))
        return 0
    raise AssertionError(args.command)


async def _wait(peer: Peer, message_id: str, until: str, within: float | None) -> int:
    """Print each recipient's state once every one has reached `until` (exit 0), or
    one expired or the time ran out (exit 1)."""
    states = await peer.wait_receipts(message_id, until, within)  # type: ignore[arg-type]
    print_json({"messageId": message_id, "recipients": states})
    if reached(states, until):
        return 0
    why = "expired" if failed(states) else "timed out"
    print(f"meshpeer send: {why} waiting for {until}", file=sys.stderr)
    return 1


def _print_frame(frame: wire.Frame) -> None:
    sys.stdout.write(wire.encoder.encode(frame).decode() + "\n")
    sys.stdout.flush()


async def listen(config: PeerConfig, count: int | None, seconds: float | None) -> int:
    """Print messages until `count` arrived or `seconds` passed, keeping the session's
    hook token on file while connected."""
    peer = Peer(config)
    peer.on_hello.append(lambda ok: record_session(config, ok))
    names = Names(peer)
    received = 0
    try:
        async with asyncio.timeout(seconds):
            await peer.start(within=None)
            async with contextlib.aclosing(peer.messages()) as messages:
                async for incoming in messages:
                    sender = await names.name_of(incoming.sender)
                    print_json(incoming.as_json() | {"from": sender, "fromPubkey": incoming.sender})
                    await peer.ack(incoming)
                    received += 1
                    if count is not None and received >= count:
                        return 0
    except TimeoutError:
        if peer.hello_ok is None:
            print(
                f"meshpeer listen: not connected to {config.url} in {seconds:g} s", file=sys.stderr
            )
            return 1
        if count is None:
            return 0
        print(f"meshpeer listen: {received} of {count} messages in {seconds:g} s", file=sys.stderr)
        return 1
    finally:
        await peer.close()
        remove_session(config.session_id)
    return 0


def record_session(config: PeerConfig, ok: wire.HelloOk) -> None:
    """Keep the hook token on file; a failure costs the hooks their token, not the session."""
    try:
        path = _write_record(config, ok)
    except OSError as exc:
        log.warning("hook token not kept (%s): hooks will go unauthenticated", exc)
        return
    log.info("hook token kept in %s", path)


def _write_record(config: PeerConfig, ok: wire.HelloOk) -> Path:
    return write_session(
        {
            "sessionId": config.session_id,
            "cwd": config.cwd,
            "pid": os.getpid(),
            "token": ok.hook_token,
            "url": config.url,
            "meshId": config.mesh_id,
            "memberId": config.member_id,
            "presenceId": ok.presence_id,
        }
    )
