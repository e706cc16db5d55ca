"""The meshpeer commands of an identity, as the parser declares them: keygen (a key),
join (a key and profile, with an invite), whoami (the identity a command would use)."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from client.arguments import text


def keygen(commands: Any) -> None:
    keygen = commands.add_parser("keygen", help="write a new ed25519 key file (mode 0600)")
    keygen.add_argument("--out", required=True, help="key file to create (never overwritten)")


def join(commands: Any) -> None:
    join = commands.add_parser(
        "join",
        help="join a mesh with an invite; writes a profile (the first becomes the default)",
        description="Join the mesh an invite (from `meshbroker invite create`) names: make a "
        "key (unless --key names one), prove it to the broker, and write a profile to "
        "$MESHPEER_HOME/profiles/ that every later command uses with no variables set.",
    )
    join.add_argument("invite", help="the invite string, mbi1....")
    join.add_argument("--name", type=text, help="your display name [default: your login]")
    join.add_argument("--key", help="an existing key file to join with [default: a new one]")


def whoami(commands: Any, identity: Sequence[argparse.ArgumentParser]) -> None:
    commands.add_parser(
        "whoami",
        parents=identity,
        help="print the resolved identity (never the key's content)",
    )
