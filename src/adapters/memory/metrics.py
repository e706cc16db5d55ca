from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from domain.model import Priority, Status
from domain.ports import Metrics


class RecordingMetrics(Metrics):
    """Counts what the core reports, for tests to assert on."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.latencies: list[float] = []
        self.depth: int | None = None
        self.healthy: bool | None = None
        self.watches = 0
        self.by_status: dict[Status, int] = {}

    def connection_opened(self) -> None:
        self.counts["connections_opened"] += 1

    def connection_closed(self) -> None:
        self.counts["connections_closed"] += 1

    def connection_rejected(self, reason: str) -> None:
        self.counts[f"connection_rejected:{reason}"] += 1

    def message_routed(self, priority: Priority) -> None:
        self.counts[f"routed:{priority}"] += 1

    def message_rejected(self, reason: str) -> None:
        self.counts[f"rejected:{reason}"] += 1

    def messages_pushed(self, latencies: Sequence[float]) -> None:
        self.latencies.extend(latencies)

    def ttl_sweep(self, flipped: bool) -> None:
        self.counts[f"ttl_sweep:{str(flipped).lower()}"] += 1

    def hook_request(self) -> None:
        self.counts["hook_requests"] += 1

    def hook_rate_limited(self) -> None:
        self.counts["hook_rate_limited"] += 1

    def join_attempt(self, result: str) -> None:
        self.counts[f"join:{result}"] += 1

    def queue_depth(self, depth: int) -> None:
        self.depth = depth

    def db_healthy(self, healthy: bool) -> None:
        self.healthy = healthy

    def receipts_recorded(self, state: str, count: int) -> None:
        self.counts[f"receipts:{state}"] += count

    def message_escalated(self) -> None:
        self.counts["escalated"] += 1

    def watches_changed(self, delta: int) -> None:
        self.watches += delta

    def sessions(self, by_status: Mapping[Status, int]) -> None:
        self.by_status = dict(by_status)

    def listen_lost(self) -> None:
        self.counts["listen_lost"] += 1
