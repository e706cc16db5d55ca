"""The metrics' vocabularies: every label value a counter may carry (all exported from
the start at 0, so a dashboard sees each series before its first event), and the push
latency buckets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

CONNECTION_REJECT_REASONS = ("capacity", "unauthorized", "hello_timeout", "unavailable")
MESSAGE_REJECT_REASONS = (
    "too_large",
    "rate_limited",
    "no_recipient",
    "unsupported_target",
    "invalid",
    "unavailable",
)
JOIN_RESULTS = ("joined", "invalid", "conflict", "rate_limited")


# Send-to-push latency, 0.5 ms to 10 s; slower pushes (held by status gating, or
# waiting for their recipient to connect) land in +Inf.
PUSH_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
RECEIPT_STATES = ("pushed", "acked", "expired")
Attributes = Mapping[str, str]


def labels_of(key: str, values: Sequence[str]) -> dict[str, Attributes]:
    return {value: MappingProxyType({key: value}) for value in values}
