"""Invites: a bearer token that lets a new key join a mesh, a bounded number of times,
until it expires or is revoked (docs/adr/0026-invite-string.md).

The broker keeps only the token's sha256: a leaked table admits nobody."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.admission import is_pubkey, verify
from domain.errors import InvalidInput
from domain.model import Role

TOKEN_BYTES = 32  # 256 random bits; the contract asks for at least 128
DEFAULT_USES = 1
MAX_USES = 10_000
DEFAULT_EXPIRY = timedelta(hours=24)
MAX_EXPIRY = timedelta(days=30)
MAX_NAME = 64
_DURATION = re.compile(r"([1-9][0-9]{0,6})([mhd])")
_UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}


@dataclass(frozen=True, slots=True)
class Invite:
    id: str
    mesh_id: str
    token_hash: str
    role: Role
    uses: int
    used: int
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None = None

    def usable(self, now: datetime) -> bool:
        """Whether a join may count a use now: not revoked, not expired, uses left."""
        return self.revoked_at is None and now < self.expires_at and self.used < self.uses


@dataclass(frozen=True, slots=True)
class JoinRequest:
    """`POST /join`: the new key, its name, and its signature over `join_canonical`."""

    token: str
    pubkey: str
    name: str
    signature: str


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_expiry(text: str) -> timedelta:
    """`30m`, `24h`, `7d`: a positive duration of at most 30 days."""
    found = _DURATION.fullmatch(text.strip())
    if found is None:
        raise InvalidInput(f"--expires takes a duration like 30m, 24h or 7d, got {text!r}")
    duration = int(found.group(1)) * _UNITS[found.group(2)]
    if duration > MAX_EXPIRY:
        raise InvalidInput(f"--expires is at most 30d, got {text!r}")
    return duration


def check_uses(uses: int) -> int:
    if not 1 <= uses <= MAX_USES:
        raise InvalidInput(f"--uses takes a whole number from 1 to {MAX_USES}, got {uses}")
    return uses


def join_canonical(token: str, pubkey: str, name: str) -> bytes:
    """The bytes a join signature covers: proof that the joiner holds the key."""
    return f"claudemesh/join/v1|{token}|{pubkey}|{name}".encode()


def check_join(request: JoinRequest) -> None:
    """Raise InvalidInput for a request that could never join: a bad pubkey, name or
    signature. Checked before the invite is looked up, so it costs no use."""
    if not is_pubkey(request.pubkey):
        raise InvalidInput("pubkey must be 64 lowercase hex characters")
    name = request.name
    if not name.strip() or len(name) > MAX_NAME or name != name.strip():
        raise InvalidInput(f"name must be 1 to {MAX_NAME} characters, no outer spaces")
    if not request.token or len(request.token) > 256:
        raise InvalidInput("token must be 1 to 256 characters")
    canonical = join_canonical(request.token, request.pubkey, request.name)
    if not verify(request.pubkey, canonical, request.signature):
        raise InvalidInput("signature does not verify for this pubkey")
