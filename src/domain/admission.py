"""Who may connect: the hello checks, in the order that rejects cheapest first."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from domain.errors import Unauthorized
from domain.model import Member

_PUBKEY = re.compile(r"[0-9a-f]{64}")
_SIGNATURE = re.compile(r"[0-9a-fA-F]{128}")


class HelloAuth(StrEnum):
    STRICT = "strict"
    LEGACY = "legacy"


@dataclass(frozen=True, slots=True)
class Hello:
    mesh_id: str
    member_id: str
    pubkey: str
    session_id: str
    pid: int | None
    cwd: str
    timestamp_ms: int
    signature: str
    capabilities: frozenset[str] = frozenset()


def canonical(hello: Hello) -> bytes:
    """The bytes a hello signature covers."""
    fields = (hello.mesh_id, hello.member_id, hello.pubkey, hello.session_id)
    return f"claudemesh/hello/v1|{'|'.join(fields)}|{hello.timestamp_ms}".encode()


def is_pubkey(text: str) -> bool:
    return _PUBKEY.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Admission:
    mode: HelloAuth
    max_skew: timedelta

    def check(self, hello: Hello, member: Member | None, now: datetime) -> None:
        """Raise Unauthorized unless `member` may open this session. The replay guard
        is the caller's last step, so that a refused hello does not burn its signature."""
        if member is None or member.mesh_id != hello.mesh_id or member.revoked:
            raise Unauthorized("unknown or revoked member")
        if member.pubkey != hello.pubkey:
            raise Unauthorized("pubkey does not belong to this member")
        if self.mode is HelloAuth.LEGACY:
            return
        if not self._timely(hello.timestamp_ms, now):
            raise Unauthorized("timestamp outside the allowed skew")
        if not verify(hello.pubkey, canonical(hello), hello.signature):
            raise Unauthorized("bad signature")

    def _timely(self, timestamp_ms: int, now: datetime) -> bool:
        try:
            sent = datetime.fromtimestamp(timestamp_ms / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            return False
        return abs(now - sent) <= self.max_skew

    def replay_window(self, now: datetime) -> datetime:
        """A used signature must be remembered until its timestamp can no longer pass."""
        return now + 2 * self.max_skew


def replay_key(signature: str) -> str:
    """What the replay guard records of a signature: its hex in one case, so one
    signature written in either case is used once."""
    return signature.lower()


def verify(pubkey: str, message: bytes, signature: str) -> bool:
    if not is_pubkey(pubkey) or _SIGNATURE.fullmatch(signature) is None:
        return False
    try:
        VerifyKey(bytes.fromhex(pubkey)).verify(message, bytes.fromhex(signature))
    except BadSignatureError:
        return False
    return True
