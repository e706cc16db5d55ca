"""The OpenTelemetry metrics adapter as Prometheus sees it: exactly the contract's series
and label values from the first scrape, and counts that follow the calls."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families

from adapters.metrics import OtelMetrics
from adapters.metrics.labels import CONNECTION_REJECT_REASONS, MESSAGE_REJECT_REASONS
from domain.model import Priority, Status

CONTRACT_SERIES = [
    "broker_connections_active",
    "broker_connections_total",
    "broker_connections_rejected_total",
    "broker_messages_routed_total",
    "broker_messages_rejected_total",
    "broker_queue_depth",
    "broker_ttl_sweeps_total",
    "broker_hook_requests_total",
    "broker_hook_requests_rate_limited_total",
    "broker_db_healthy",
]
LABELLED = (
    [
        ("broker_connections_rejected_total", "reason", r)
        for r in ("capacity", "unauthorized", "hello_timeout", "unavailable")
    ]
    + [
        ("broker_messages_rejected_total", "reason", r)
        for r in (
            "too_large",
            "rate_limited",
            "no_recipient",
            "unsupported_target",
            "invalid",
            "unavailable",
        )
    ]
    + [("broker_messages_routed_total", "priority", p) for p in ("now", "next", "low")]
    + [("broker_ttl_sweeps_total", "flipped", f) for f in ("true", "false")]
    + [("broker_sessions", "status", s) for s in ("idle", "working", "waiting", "dnd")]
    + [
        ("broker_joins_total", "result", r)
        for r in ("joined", "invalid", "conflict", "rate_limited")
    ]
)


@pytest.fixture
def metrics() -> Iterator[OtelMetrics]:
    m = OtelMetrics()
    yield m
    m.shutdown()


def samples(metrics: OtelMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }


def value(metrics: OtelMetrics, name: str, **labels: str) -> float:
    return samples(metrics)[(name, tuple(sorted(labels.items())))]


def test_every_contract_series_is_there_from_the_start(metrics: OtelMetrics) -> None:
    names = {name for name, _ in samples(metrics)}
    assert set(CONTRACT_SERIES) <= names
    assert names == (
        set(CONTRACT_SERIES)
        | {
            "broker_messages_pushed_total",
            "broker_sessions",
            "broker_joins_total",
            "broker_listen_connection_lost_total",
        }
        | RECEIPT_SERIES
    )


def test_a_lost_listen_connection_is_counted(metrics: OtelMetrics) -> None:
    metrics.listen_lost()
    metrics.listen_lost()
    assert value(metrics, "broker_listen_connection_lost_total") == 2


# spec/receipts.md
RECEIPT_SERIES = {
    "broker_receipts_total",
    "broker_messages_escalated_total",
    "broker_watches_active",
}


def test_receipt_series_count_what_happened(metrics: OtelMetrics) -> None:
    for state in ("pushed", "acked", "expired"):
        assert value(metrics, "broker_receipts_total", state=state) == 0
    metrics.receipts_recorded("pushed", 1)
    metrics.receipts_recorded("acked", 2)
    metrics.message_escalated()
    metrics.watches_changed(3)
    metrics.watches_changed(-1)
    assert value(metrics, "broker_receipts_total", state="pushed") == 1
    assert value(metrics, "broker_receipts_total", state="acked") == 2
    assert value(metrics, "broker_messages_escalated_total") == 1
    assert value(metrics, "broker_watches_active") == 2


@pytest.mark.parametrize(("name", "label", "label_value"), LABELLED, ids=lambda x: str(x))
def test_every_label_value_is_there_at_zero(
    metrics: OtelMetrics, name: str, label: str, label_value: str
) -> None:
    assert value(metrics, name, **{label: label_value}) == 0


def test_label_value_lists_match_the_contract() -> None:
    assert set(CONNECTION_REJECT_REASONS) == {
        r for n, _, r in LABELLED if n.startswith("broker_conn")
    }
    assert set(MESSAGE_REJECT_REASONS) == {
        r for n, _, r in LABELLED if n.startswith("broker_messages_rej")
    }


def test_no_doubled_suffix_no_unit_no_target_info_no_scope_labels(metrics: OtelMetrics) -> None:
    metrics.messages_pushed([0.01])
    text = metrics.render()[0].decode()
    assert "_total_total" not in text
    assert "target_info" not in text
    assert "otel_scope" not in text
    assert "_seconds_seconds" not in text
    for line in text.splitlines():
        if line and not line.startswith("#"):
            assert line.startswith("broker_"), line


def test_render_returns_the_text_exposition_content_type(metrics: OtelMetrics) -> None:
    body, content_type = metrics.render()
    assert isinstance(body, bytes)
    assert content_type.startswith("text/plain; version=0.0.4")


def test_connection_counters(metrics: OtelMetrics) -> None:
    metrics.connection_opened()
    metrics.connection_opened()
    metrics.connection_closed()
    metrics.connection_rejected("capacity")
    metrics.connection_rejected("hello_timeout")
    metrics.connection_rejected("hello_timeout")
    assert value(metrics, "broker_connections_active") == 1
    assert value(metrics, "broker_connections_total") == 2
    assert value(metrics, "broker_connections_rejected_total", reason="capacity") == 1
    assert value(metrics, "broker_connections_rejected_total", reason="hello_timeout") == 2
    assert value(metrics, "broker_connections_rejected_total", reason="unauthorized") == 0


def test_message_counters(metrics: OtelMetrics) -> None:
    metrics.message_routed(Priority.NOW)
    metrics.message_routed(Priority.LOW)
    metrics.message_routed(Priority.LOW)
    metrics.message_rejected("too_large")
    assert value(metrics, "broker_messages_routed_total", priority="now") == 1
    assert value(metrics, "broker_messages_routed_total", priority="next") == 0
    assert value(metrics, "broker_messages_routed_total", priority="low") == 2
    assert value(metrics, "broker_messages_rejected_total", reason="too_large") == 1


def test_an_unlisted_reason_gets_its_own_series(metrics: OtelMetrics) -> None:
    metrics.message_rejected("something_new")
    metrics.message_rejected("something_new")
    assert value(metrics, "broker_messages_rejected_total", reason="something_new") == 2


def test_sweeps_hooks_and_gauges(metrics: OtelMetrics) -> None:
    metrics.ttl_sweep(True)
    metrics.ttl_sweep(False)
    metrics.ttl_sweep(False)
    metrics.hook_request()
    metrics.hook_request()
    metrics.hook_rate_limited()
    metrics.queue_depth(42)
    metrics.db_healthy(True)
    assert value(metrics, "broker_ttl_sweeps_total", flipped="true") == 1
    assert value(metrics, "broker_ttl_sweeps_total", flipped="false") == 2
    assert value(metrics, "broker_hook_requests_total") == 2
    assert value(metrics, "broker_hook_requests_rate_limited_total") == 1
    assert value(metrics, "broker_queue_depth") == 42
    assert value(metrics, "broker_db_healthy") == 1
    # Gauges keep their last value across scrapes, and follow it down.
    assert value(metrics, "broker_queue_depth") == 42
    metrics.queue_depth(0)
    metrics.db_healthy(False)
    assert value(metrics, "broker_queue_depth") == 0
    assert value(metrics, "broker_db_healthy") == 0


def test_push_latency_histogram(metrics: OtelMetrics) -> None:
    metrics.messages_pushed([])
    metrics.messages_pushed([0.0004, 0.003, 20.0, -0.002])
    assert value(metrics, "broker_messages_pushed_total") == 4
    assert value(metrics, "broker_push_latency_seconds_count") == 4
    assert value(metrics, "broker_push_latency_seconds_bucket", le="0.0005") == 2
    assert value(metrics, "broker_push_latency_seconds_bucket", le="0.005") == 3
    assert value(metrics, "broker_push_latency_seconds_bucket", le="10.0") == 3
    assert value(metrics, "broker_push_latency_seconds_bucket", le="+Inf") == 4
    assert value(metrics, "broker_push_latency_seconds_sum") == pytest.approx(20.0034)


def test_instances_are_independent() -> None:
    first, second = OtelMetrics(), OtelMetrics()
    try:
        first.hook_request()
        assert value(first, "broker_hook_requests_total") == 1
        assert value(second, "broker_hook_requests_total") == 0
    finally:
        first.shutdown()
        second.shutdown()


def test_sessions_by_status_follow_the_last_report(metrics: OtelMetrics) -> None:
    metrics.sessions({Status.IDLE: 3, Status.WORKING: 1, Status.WAITING: 2, Status.DND: 0})
    metrics.sessions({Status.IDLE: 4, Status.WORKING: 0, Status.WAITING: 1, Status.DND: 1})

    assert {s.value: value(metrics, "broker_sessions", status=s.value) for s in Status} == {
        "idle": 4,
        "working": 0,
        "waiting": 1,
        "dnd": 1,
    }


def test_joins_are_counted_by_result(metrics: OtelMetrics) -> None:
    metrics.join_attempt("joined")
    metrics.join_attempt("joined")
    metrics.join_attempt("invalid")

    assert value(metrics, "broker_joins_total", result="joined") == 2
    assert value(metrics, "broker_joins_total", result="invalid") == 1
    assert value(metrics, "broker_joins_total", result="conflict") == 0
