"""`meshpeer send`, `status-of`, `status` and `peers`: one request on a connected
session, its reply printed as JSON; `send --wait` then waits for the receipts."""

from __future__ import annotations

import argparse
import sys

import msgspec

from client.peer import Peer
from client.receipts import failed, reached
from client.usage import print_json
from protocol import wire


async def one_shot(peer: Peer, args: argparse.Namespace) -> int:
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
