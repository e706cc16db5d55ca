"""The `POST /hook/set-status` a hook event makes: its status, the session's hook
token and broker URL from the session on file (else the identity's URL). Standard
library only."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Mapping
from typing import Any

from client.hook_context import text_of
from client.hook_status import status_for
from client.profile_files import ProfileError
from client.profiles import resolve_identity
from client.session_lookup import find_session
from client.urls import DEFAULT_URL, http_base


def session_of(event: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any] | None:
    cwd = text_of(event.get("cwd")) or os.getcwd()
    return find_session(env.get("MESHPEER_SESSION") or text_of(event.get("session_id")), cwd, env)


def build_request(
    event: Mapping[str, Any],
    env: Mapping[str, str],
    ppid: int,
    record: Mapping[str, Any] | None = None,
) -> urllib.request.Request | None:
    """The POST for `event`, with the hook token of the session on file, if any."""
    status = status_for(event)
    if status is None:
        return None
    cwd = text_of(event.get("cwd")) or os.getcwd()
    claude_session = text_of(event.get("session_id"))
    if record is None:
        record = session_of(event, env)
    url = text_of(record.get("url")) if record else None
    url = url or _identity_url(env) or DEFAULT_URL
    body: dict[str, Any] = {"cwd": cwd, "pid": ppid, "status": status}
    session_id = text_of(record.get("sessionId")) if record else claude_session
    if session_id:
        body["session_id"] = session_id
    headers = {"content-type": "application/json"}
    token = text_of(record.get("token")) if record else None
    if token:
        headers["authorization"] = f"Bearer {token}"
    return urllib.request.Request(
        f"{http_base(url)}/hook/set-status",
        data=json.dumps(body).encode(),
        headers=headers,
        method="POST",
    )


def _identity_url(env: Mapping[str, str]) -> str | None:
    """MESHPEER_URL, else the profile's URL (MESHPEER_PROFILE, else the default)."""
    try:
        return resolve_identity({}, env).values["url"]
    except ProfileError:
        return env.get("MESHPEER_URL")
