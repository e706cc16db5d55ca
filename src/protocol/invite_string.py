"""The invite string a member receives: `mbi1.` and the base64url (unpadded) of a JSON
object `{"url", "meshId", "mesh", "token"}` (docs/adr/0026-invite-string.md).

Shared by `meshbroker invite create` (which writes it) and `meshpeer join` (which reads
it); standard library only."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from urllib.parse import urlsplit

PREFIX = "mbi1."
MAX_LENGTH = 4096


class BadInvite(ValueError):
    """A string that is not an invite this version can read."""


@dataclass(frozen=True, slots=True)
class InviteString:
    url: str  # the broker's WebSocket URL, ws:// or wss://
    mesh_id: str
    mesh_slug: str  # names the member's profile; the broker goes by the id
    token: str

    def encode(self) -> str:
        body = {
            "url": self.url,
            "meshId": self.mesh_id,
            "mesh": self.mesh_slug,
            "token": self.token,
        }
        raw = json.dumps(body, separators=(",", ":")).encode()
        return PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def check_url(url: str) -> str:
    """`url` if it is a ws:// or wss:// URL with a host; ValueError naming it otherwise."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"must be a ws:// or wss:// URL, got {url!r}") from exc
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"must be a ws:// or wss:// URL with a host, got {url!r}")
    if not parts.path.rstrip("/").endswith("/ws"):
        raise ValueError(f"must end with the broker's WebSocket path /ws, got {url!r}")
    return url


def decode(text: str) -> InviteString:
    text = text.strip()
    if not text.startswith(PREFIX) or len(text) > MAX_LENGTH:
        raise BadInvite("not an invite: it starts with `mbi1.` (from `meshbroker invite create`)")
    payload = text[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        body = json.loads(raw)
    except (binascii.Error, ValueError) as exc:
        raise BadInvite("the invite is damaged (copied in part?)") from exc
    fields = ("url", "meshId", "token")
    if not isinstance(body, dict) or not all(
        isinstance(body.get(k), str) and body[k] for k in fields
    ):
        raise BadInvite("the invite is damaged: it lacks the url, meshId or token")
    url = body["url"]
    try:
        check_url(url)
    except ValueError as exc:
        raise BadInvite(f"the invite's broker URL {exc.args[0]}") from None
    slug = body.get("mesh")
    return InviteString(url, body["meshId"], slug if isinstance(slug, str) else "", body["token"])
