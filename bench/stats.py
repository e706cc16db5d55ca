"""Pure statistics of a run: percentiles, and what a recipient saw (loss, duplicates,
reordering). No I/O, no clock: the load generator feeds these and the unit tests
pin them down (tests/unit/test_bench_stats.py)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum


def percentile(ordered: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0..100) of ascending `ordered`, interpolating linearly
    between the two closest ranks (numpy's default); None when there is no value."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    if not ordered:
        return None
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def latency_summary(values_ms: Iterable[float], prefix: str = "") -> dict[str, float | None]:
    """p50, p95, p99 and max of `values_ms`, rounded to microseconds; None when empty."""
    ordered = sorted(values_ms)

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 3)

    return {
        f"{prefix}p50_ms": rounded(percentile(ordered, 50)),
        f"{prefix}p95_ms": rounded(percentile(ordered, 95)),
        f"{prefix}p99_ms": rounded(percentile(ordered, 99)),
        f"{prefix}max_ms": rounded(ordered[-1] if ordered else None),
    }


class Seen(Enum):
    NEW = "new"  # first push of this message id
    REDELIVERED = "redelivered"  # pushed again before we acked it: at-least-once, allowed
    DUPLICATE = "duplicate"  # pushed again after we acked it: a broker fault


class DeliveryLog:
    """What one recipient received. Senders number their messages 0, 1, 2, ...;
    a first push whose number is below one already received from the same sender is
    a reordering (per sender -> recipient pair)."""

    def __init__(self) -> None:
        self.received: dict[int, set[int]] = {}  # sender -> sequence numbers
        self._highest: dict[int, int] = {}
        self._seen: set[str] = set()
        self._acked: set[str] = set()
        self.unique = 0
        self.redelivered = 0
        self.duplicates = 0
        self.reordered = 0

    def push(self, sender: int, seq: int, message_id: str) -> Seen:
        if message_id in self._seen:
            if message_id in self._acked:
                self.duplicates += 1
                return Seen.DUPLICATE
            self.redelivered += 1
            return Seen.REDELIVERED
        self._seen.add(message_id)
        self.unique += 1
        self.received.setdefault(sender, set()).add(seq)
        highest = self._highest.get(sender, -1)
        if seq < highest:
            self.reordered += 1
        else:
            self._highest[sender] = seq
        return Seen.NEW

    def acked(self, message_ids: Iterable[str]) -> None:
        """We sent a client_ack for these: a later push of one is a duplicate."""
        self._acked.update(message_ids)

    def missing(self, expected: Mapping[int, Iterable[int]]) -> int:
        """How many of `expected` (sender -> sequence numbers) never arrived."""
        return count_lost(expected, self.received)


def count_lost(expected: Mapping[int, Iterable[int]], received: Mapping[int, set[int]]) -> int:
    """Messages in `expected` (sender -> sequence numbers) absent from `received`."""
    lost = 0
    for sender, seqs in expected.items():
        got = received.get(sender, set())
        lost += sum(1 for seq in seqs if seq not in got)
    return lost


def rate(count: int, seconds: float) -> float:
    """count / seconds, rounded to 0.1; 0 for an empty interval."""
    return round(count / seconds, 1) if seconds > 0 else 0.0
