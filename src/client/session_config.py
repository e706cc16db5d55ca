"""The connection settings of a meshpeer command: its key, mesh, member and broker,
and the session it speaks as (a fresh one, or the listening session it acts for)."""

from __future__ import annotations

import argparse
import os
import secrets
from pathlib import Path

from client.errors import NoSession
from client.hello import CAPABILITIES, TRANSIENT
from client.identity import KeyFileError, load_key
from client.peer import PeerConfig
from client.session_lookup import find_session
from client.usage import UsageError


def config_for(args: argparse.Namespace, settings: dict[str, str | None]) -> PeerConfig:
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
