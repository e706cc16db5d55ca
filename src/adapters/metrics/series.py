"""The broker's metric series on one OpenTelemetry meter: each instrument with its
name and description (docs/adr/0008-observability.md), the attribute sets the port's
calls pass, built once, and every series of the contract written at 0 so it exists
from the first scrape. OtelMetrics (otel.py) is built on it."""

from __future__ import annotations

from types import MappingProxyType

from opentelemetry.metrics import Meter

from adapters.metrics.labels import (
    CONNECTION_REJECT_REASONS,
    JOIN_RESULTS,
    MESSAGE_REJECT_REASONS,
    PUSH_LATENCY_BUCKETS,
    RECEIPT_STATES,
    labels_of,
)
from domain.model import Priority, Status


class Series:
    """The instruments and attribute sets, as attributes of the metrics adapter."""

    def __init__(self, meter: Meter) -> None:
        self._connections_active = meter.create_up_down_counter(
            "broker_connections_active", description="Open WebSocket connections on this instance."
        )
        self._connections = meter.create_counter(
            "broker_connections", description="WebSocket connections accepted (hello ok)."
        )
        self._connections_rejected = meter.create_counter(
            "broker_connections_rejected", description="Connections refused, by reason."
        )
        self._routed = meter.create_counter(
            "broker_messages_routed", description="Messages queued, by priority."
        )
        self._rejected = meter.create_counter(
            "broker_messages_rejected", description="Sends refused, by reason."
        )
        self._pushed = meter.create_counter(
            "broker_messages_pushed", description="Messages written to a recipient's socket."
        )
        self._push_latency = meter.create_histogram(
            "broker_push_latency_seconds",
            description="Seconds from a message's acceptance to its push to a recipient.",
            explicit_bucket_boundaries_advisory=PUSH_LATENCY_BUCKETS,
        )
        self._queue_depth = meter.create_gauge(
            "broker_queue_depth", description="Undelivered deliveries in the whole database."
        )
        self._ttl_sweeps = meter.create_counter(
            "broker_ttl_sweeps", description="Status TTL sweeps, by whether one flipped a session."
        )
        self._hook_requests = meter.create_counter(
            "broker_hook_requests", description="Requests to /hook/set-status."
        )
        self._hook_rate_limited = meter.create_counter(
            "broker_hook_requests_rate_limited",
            description="Hook requests refused with 429.",
        )
        self._joins = meter.create_counter(
            "broker_joins", description="POST /join attempts, by result."
        )
        self._listen_lost = meter.create_counter(
            "broker_listen_connection_lost",
            description="Times the LISTEN connection (cross-instance wake-ups) was lost.",
        )
        self._receipts = meter.create_counter(
            "broker_receipts",
            description="Delivery states recorded for senders (receipts), by state.",
        )
        self._escalated = meter.create_counter(
            "broker_messages_escalated",
            description="Pushes of next/low messages as now after escalateAfterSeconds.",
        )
        self._watches_active = meter.create_up_down_counter(
            "broker_watches_active", description="Open watches on this instance's sessions."
        )
        self._db_healthy = meter.create_gauge(
            "broker_db_healthy", description="1 while Postgres answers, else 0."
        )
        self._sessions = meter.create_gauge(
            "broker_sessions", description="Open sessions of this instance, by status."
        )

        self._connection_reasons = labels_of("reason", CONNECTION_REJECT_REASONS)
        self._message_reasons = labels_of("reason", MESSAGE_REJECT_REASONS)
        self._priorities = {p: MappingProxyType({"priority": p.value}) for p in Priority}
        self._receipt_states = labels_of("state", RECEIPT_STATES)
        self._statuses = {s: MappingProxyType({"status": s.value}) for s in Status}
        self._join_results = labels_of("result", JOIN_RESULTS)
        self._flipped = {
            True: MappingProxyType({"flipped": "true"}),
            False: MappingProxyType({"flipped": "false"}),
        }

        # Every series exists from the first scrape.
        for counter in (
            self._connections,
            self._hook_requests,
            self._hook_rate_limited,
            self._pushed,
            self._listen_lost,
            self._escalated,
        ):
            counter.add(0)
        self._connections_active.add(0)
        self._watches_active.add(0)
        for attributes in self._receipt_states.values():
            self._receipts.add(0, attributes)
        for attributes in self._connection_reasons.values():
            self._connections_rejected.add(0, attributes)
        for attributes in self._message_reasons.values():
            self._rejected.add(0, attributes)
        for attributes in self._priorities.values():
            self._routed.add(0, attributes)
        for attributes in self._flipped.values():
            self._ttl_sweeps.add(0, attributes)
        for attributes in self._join_results.values():
            self._joins.add(0, attributes)
        self._queue_depth.set(0)
        self._db_healthy.set(0)
        for attributes in self._statuses.values():
            self._sessions.set(0, attributes)
