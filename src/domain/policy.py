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
    max_message_ttl: timedelta = timedelta(days=30)
    reconnect_grace: timedelta = timedelta(seconds=90)
    hello_max_skew: timedelta = timedelta(seconds=60)
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
    receipt_retention: timedelta = timedelta(seconds=86400)
    status_rules: StatusRules = field(init=False)
    admission: Admission = field(init=False)

    def __post_init__(self) -> None:
        rules = StatusRules(fresh_window=self.hook_fresh_window, ttl=self.status_ttl)
        object.__setattr__(self, "status_rules", rules)
        admission = Admission(mode=self.hello_auth, max_skew=self.hello_max_skew)
        object.__setattr__(self, "admission", admission)
