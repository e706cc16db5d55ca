"""The `Metrics` port on an OpenTelemetry MeterProvider, read by a Prometheus reader
into a registry of its own, served from the broker's own port (`render()`).

Series (docs/adr/0008-observability.md): the runtime contract's ten, with exactly its
names and label values, each labelled series present from the start at 0, plus
`broker_messages_pushed_total`, the `broker_push_latency_seconds` histogram and the
`broker_sessions{status}` gauge (ADR 0022).

Instruments carry no unit (the exporter would append it to the name); counters are
named without `_total`, which the exporter adds once. The instruments and attribute
dicts are built once (series.py), so the hot path allocates none of its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.sdk.metrics import AlwaysOffExemplarFilter, MeterProvider
from opentelemetry.sdk.resources import Resource
from prometheus_client import CONTENT_TYPE_PLAIN_0_0_4, CollectorRegistry, generate_latest

from adapters.metrics.labels import Attributes
from adapters.metrics.series import Series
from domain.model import Priority, Status
from domain.ports import Metrics


class OtelMetrics(Series, Metrics):
    """Thread-safe (the SDK locks); one instance per process, or per test."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._reader = PrometheusMetricReader(
            disable_target_info=True, scope_info_enabled=False, registry=self.registry
        )
        self._provider = MeterProvider(
            metric_readers=[self._reader],
            resource=Resource.get_empty(),
            # No exemplars: they are not exported here and cost a context look-up per call.
            exemplar_filter=AlwaysOffExemplarFilter(),
            shutdown_on_exit=False,
        )
        meter = self._provider.get_meter("meshbroker")
        Series.__init__(self, meter)

    # ------------------------------------------------------------ the port

    def connection_opened(self) -> None:
        self._connections_active.add(1)
        self._connections.add(1)

    def connection_closed(self) -> None:
        self._connections_active.add(-1)

    def connection_rejected(self, reason: str) -> None:
        self._connections_rejected.add(1, self._attributes(self._connection_reasons, reason))

    def message_routed(self, priority: Priority) -> None:
        self._routed.add(1, self._priorities[priority])

    def message_rejected(self, reason: str) -> None:
        self._rejected.add(1, self._attributes(self._message_reasons, reason))

    def messages_pushed(self, latencies: Sequence[float]) -> None:
        if not latencies:
            return
        self._pushed.add(len(latencies))
        record = self._push_latency.record
        for seconds in latencies:
            # Instances' clocks may disagree by a little: never record a negative time.
            record(seconds if seconds > 0 else 0.0)

    def ttl_sweep(self, flipped: bool) -> None:
        self._ttl_sweeps.add(1, self._flipped[bool(flipped)])

    def hook_request(self) -> None:
        self._hook_requests.add(1)

    def hook_rate_limited(self) -> None:
        self._hook_rate_limited.add(1)

    def join_attempt(self, result: str) -> None:
        attributes = self._join_results.get(result) or MappingProxyType({"result": result})
        self._joins.add(1, attributes)

    def queue_depth(self, depth: int) -> None:
        self._queue_depth.set(depth)

    def listen_lost(self) -> None:
        self._listen_lost.add(1)

    def db_healthy(self, healthy: bool) -> None:
        self._db_healthy.set(1 if healthy else 0)

    def receipts_recorded(self, state: str, count: int) -> None:
        self._receipts.add(count, self._receipt_states[state])

    def message_escalated(self) -> None:
        self._escalated.add(1)

    def watches_changed(self, delta: int) -> None:
        if delta:
            self._watches_active.add(delta)

    def sessions(self, by_status: Mapping[Status, int]) -> None:
        for status, count in by_status.items():
            self._sessions.set(count, self._statuses[status])

    # ------------------------------------------------------------ exposition

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type, for `GET /metrics`."""
        return generate_latest(self.registry), CONTENT_TYPE_PLAIN_0_0_4

    def shutdown(self) -> None:
        """Stop the provider and detach the reader from the registry."""
        self._provider.shutdown()

    @staticmethod
    def _attributes(known: dict[str, Attributes], reason: str) -> Attributes:
        attributes = known.get(reason)
        if attributes is None:
            # A reason outside the contract's list: kept (it is a code, not user input)
            # and cached so it costs one allocation ever.
            attributes = known[reason] = MappingProxyType({"reason": reason})
        return attributes
