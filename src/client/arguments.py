"""The values meshpeer's arguments take, each checked as it is read: a recipient
pubkey, a positive count, a positive number of seconds, non-empty text."""

from __future__ import annotations

import argparse


def target(value: str) -> str:
    if value == "*":
        return value
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise argparse.ArgumentTypeError("must be a member pubkey (64 lowercase hex) or '*'")
    from client.crypto import OpenError, x25519_public

    try:
        x25519_public(value)
    except OpenError:
        raise argparse.ArgumentTypeError("is not a valid ed25519 public key") from None
    return value


def positive_int(value: str) -> int:
    if value.isdigit() and int(value) > 0:
        return int(value)
    raise argparse.ArgumentTypeError(f"must be a positive integer, got {value!r}")


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if 0 < seconds < float("inf"):
        return seconds
    raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {value!r}")


def text(value: str) -> str:
    if value:
        return value
    raise argparse.ArgumentTypeError("must not be empty")
