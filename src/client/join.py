"""`meshpeer join INVITE`: a key (new unless --key names one), a signed `POST /join`,
and a profile that every later command uses. Refused: one line, exit 1, nothing
written: a new key is kept in memory until the broker has accepted it.

This module is the command (its arguments, output and exit status); the joining
itself is client/join_mesh.py."""

from __future__ import annotations

import getpass
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from client.errors import JoinFailed
from client.identity import KeyFileError
from client.join_mesh import join
from protocol.invite_string import BadInvite, decode


def run(invite_text: str, name: str | None, key: str | None, env: Mapping[str, str]) -> int:
    try:
        invite = decode(invite_text)
    except BadInvite as exc:
        return _fail(2, f"error: argument invite: {exc}")
    try:
        report = join(invite, name or _login(), Path(key).expanduser() if key else None, env)
    except KeyFileError as exc:
        return _fail(2, f"error: argument --key: {exc}")
    except JoinFailed as exc:
        return _fail(1, str(exc))
    sys.stdout.write(json.dumps(report, separators=(",", ":")) + "\n")
    return 0


def _login() -> str:
    try:
        return getpass.getuser() or "member"
    except (KeyError, OSError):
        return "member"


def _fail(code: int, line: str) -> int:
    print(f"meshpeer join: {line}", file=sys.stderr)
    return code
