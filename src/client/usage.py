"""What every meshpeer command shares: the usage error (exit 2, naming the flag), the
identity settings resolved from flags, environment and profile, and JSON on stdout.
Its own module so that `cli` (which dispatches) and the commands it runs never import
each other."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from typing import Any

from client.profile_files import ProfileError
from client.profiles import IDENTITY_ENV, resolve_identity
from client.urls import DEFAULT_URL, check_ws_url


class UsageError(Exception):
    """Bad input: `argument` names the flag to fix."""

    def __init__(self, argument: str, problem: str) -> None:
        super().__init__(f"argument {argument}: {problem}")


def resolve(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, str | None]:
    """The identity settings (client.profiles.resolve_identity); UsageError if missing."""
    flags = {name: getattr(args, name, None) for name in IDENTITY_ENV}
    try:
        resolved = resolve_identity(flags, env, getattr(args, "profile", None))
    except ProfileError as exc:
        raise UsageError(exc.argument, str(exc)) from None
    values = dict(resolved.values)
    values["profile"] = resolved.profile
    values["url"] = url = values["url"] or DEFAULT_URL
    try:
        check_ws_url(url)
    except ValueError as exc:
        raise UsageError("--url", str(exc)) from None
    for name in ("mesh", "member", "key"):
        if not values[name]:
            raise UsageError(
                f"--{name}",
                f"required (or set {IDENTITY_ENV[name]}); or join a mesh: `meshpeer join INVITE`",
            )
    return values


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, separators=(",", ":")) + "\n")
    sys.stdout.flush()
