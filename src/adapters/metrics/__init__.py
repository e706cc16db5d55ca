"""Metrics: the domain's `Metrics` port on OpenTelemetry, exposed for Prometheus."""

from adapters.metrics.otel import OtelMetrics

__all__ = ["OtelMetrics"]
