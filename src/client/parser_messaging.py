"""The meshpeer commands that talk to the broker, as the parser declares them: send,
listen, status, peers, status-of (what they do: client/commands.py)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from client.arguments import positive_int, positive_seconds, target, text

PRIORITIES = ("now", "next", "low")
STATUSES = ("idle", "working", "dnd")


def send(commands: Any, identity: Sequence[argparse.ArgumentParser]) -> None:
    send = commands.add_parser(
        "send", parents=identity, help="send one message; prints the ack (exit 0 if queued)"
    )
    send.add_argument("--to", required=True, type=target, help="recipient pubkey, or * for all")
    send.add_argument("--priority", choices=PRIORITIES, default="next")
    send.add_argument(
        "--wait",
        choices=("pushed", "acked"),
        help="then wait for that receipt from every recipient (exit 0 only when it came)",
    )
    send.add_argument(
        "--timeout", type=positive_seconds, help="with --wait: give up after S seconds"
    )
    send.add_argument(
        "--escalate-after",
        type=positive_int,
        metavar="S",
        help="next/low only: push it as `now` if not pushed within S seconds",
    )
    send.add_argument("text", type=text, help="the message (direct messages are encrypted)")


def listen(commands: Any, identity: Sequence[argparse.ArgumentParser]) -> None:
    listen = commands.add_parser(
        "listen",
        parents=identity,
        help="print received messages, one JSON object a line",
        description="Print each received message as a JSON line and acknowledge it. Stops "
        "after --count messages or --timeout seconds (exit 1 if --count was not reached).",
    )
    listen.add_argument("--count", type=positive_int, help="stop after N messages")
    listen.add_argument("--timeout", type=positive_seconds, help="stop after S seconds")


def status(commands: Any, identity: Sequence[argparse.ArgumentParser]) -> None:
    status = commands.add_parser(
        "status",
        parents=identity,
        help="set a manual status",
        description="Set a session's manual status. Without --session/MESHPEER_SESSION, the "
        "session `meshpeer listen` keeps connected in this directory (exit 1 if none runs).",
    )
    status.add_argument("status", choices=STATUSES)


def peers(commands: Any, identity: Sequence[argparse.ArgumentParser]) -> None:
    commands.add_parser("peers", parents=identity, help="list the mesh's live sessions")


def status_of(commands: Any, identity: Sequence[argparse.ArgumentParser]) -> None:
    status_of = commands.add_parser(
        "status-of",
        parents=identity,
        help="print what became of a message you sent, per recipient",
    )
    status_of.add_argument("message_id", metavar="MESSAGE_ID")
