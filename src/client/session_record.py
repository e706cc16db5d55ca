"""The session record: while a session is connected, its hook token and where it runs
are kept on file (client/sessions.py) for `meshpeer hook` to find."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from client.peer import PeerConfig
from client.sessions import write_session
from protocol import wire

log = logging.getLogger("meshpeer")


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
