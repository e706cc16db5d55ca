"""The numbers that tune the rules, with the runtime contract's defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from domain.admission import Admission, HelloAuth
from domain.status import StatusRules


class HookAuth(StrEnum):
    TOKEN = "token"
    OPEN = "open"


def default_hook_auth(production: bool) -> HookAuth:
    """A production broker asks hooks for their token unless told otherwise
    (`HOOK_AUTH`); elsewhere a hook is trusted by its pid and cwd."""
    return HookAuth.TOKEN if production else HookAuth.OPEN


LONGEST_MESSAGE_TTL = timedelta(days=30)


def ttl_ceiling(message_ttl: timedelta) -> timedelta:
    """The longest TTL a send may ask for: 30 days, or the default TTL when that is
    longer, so the default is always a TTL a client may ask for."""
    return max(LONGEST_MESSAGE_TTL, message_ttl)


def stale_after(ping_interval: timedelta, pong_timeout: timedelta) -> timedelta:
    """A presence whose heartbeat is older than this is ended: a dead peer is presumed
    gone once the transport would have dropped it (one ping, then the pong timeout)."""
    return ping_interval + pong_timeout


HEARTBEAT_AT_LEAST_EVERY = timedelta(seconds=10)


def heartbeat_interval(ping_interval: timedelta) -> timedelta:
    """How often an instance touches its presences: every 10 s, or every ping interval
    when that is shorter, so a live presence is never older than `stale_after`."""
    return min(HEARTBEAT_AT_LEAST_EVERY, ping_interval)


@dataclass(frozen=True, slots=True)
class Policy:
    status_ttl: timedelta = timedelta(seconds=60)
    hook_fresh_window: timedelta = timedelta(seconds=30)
    max_connections_per_mesh: int = 100
    max_message_bytes: int = 65536
    hook_rate_per_min: int = 30
    join_rate_per_min: int = 10
    send_rate_per_min: int = 1200
    send_burst: int = 200
    ack_timeout: timedelta = timedelta(seconds=30)
    message_ttl: timedelta = timedelta(days=7)
    max_message_ttl: timedelta = LONGEST_MESSAGE_TTL
    reconnect_grace: timedelta = timedelta(seconds=90)
    hello_max_skew: timedelta = timedelta(seconds=60)
    # A socket that has not said hello within this is closed (adapters/http/ws.py).
    hello_timeout: timedelta = timedelta(seconds=10)
    hello_auth: HelloAuth = HelloAuth.STRICT
    hook_auth: HookAuth = HookAuth.OPEN
    pending_signal_ttl: timedelta = timedelta(seconds=10)
    presence_stale_after: timedelta = timedelta(seconds=75)
    # A broker instance whose liveness lock stays free this long is dead (ADR 0025):
    # time for a living one to take its lock back after a blip of its connection.
    dead_instance_after: timedelta = timedelta(seconds=2)
    # A session's manual status outlives its presence this long: a restart, a crash
    # or a move to another instance keeps `dnd` (ADR 0025).
    manual_status_kept: timedelta = timedelta(hours=12)
    claim_batch: int = 256
    # Frames a socket may have in flight (sends committing, client_acks deleting); the
    # replies go out in frame order, and at this many the socket is not read until the
    # oldest is answered: a sender's backlog stays in its own TCP buffers (ADR 0017).
    pipeline_depth: int = 64
    receipt_retention: timedelta = timedelta(seconds=86400)
    status_rules: StatusRules = field(init=False)
    admission: Admission = field(init=False)

    @property
    def transport_frame_limit(self) -> int:
        """The transport drops a frame over this (WebSocket close 1009). Below it, a
        send over `max_message_bytes` is refused with `too_large`, and so is any other
        frame over it (adapters/http/ws_pipeline.py): a send's JSON envelope may carry
        its ciphertext's base64 and still get a clear refusal."""
        return 4 * self.max_message_bytes

    def __post_init__(self) -> None:
        rules = StatusRules(fresh_window=self.hook_fresh_window, ttl=self.status_ttl)
        object.__setattr__(self, "status_rules", rules)
        admission = Admission(mode=self.hello_auth, max_skew=self.hello_max_skew)
        object.__setattr__(self, "admission", admission)
