"""Token buckets, and a table of them keyed by who is limited."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field


@dataclass(slots=True)
class TokenBucket:
    """`capacity` tokens, refilled at `rate` tokens a second; one token per admitted event."""

    capacity: float
    rate: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self._refill(now)
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.updated = max(self.updated, now)


@dataclass(slots=True)
class BucketTable:
    """One bucket per key. A bucket that has refilled completely is dropped: a new one
    would be identical, so memory stays bounded by the keys active in the last refill time."""

    per_minute: float
    burst: float
    evict_every: int = 1024
    _buckets: dict[Hashable, TokenBucket] = field(default_factory=dict)
    _ops: int = 0

    def take(self, key: Hashable, now: float) -> bool:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(self.burst, self.per_minute / 60.0, self.burst, now)
            self._buckets[key] = bucket
        admitted = bucket.take(now)
        self._ops += 1
        if self._ops % self.evict_every == 0:
            self.evict(now)
        return admitted

    def evict(self, now: float) -> int:
        full = [key for key, bucket in self._buckets.items() if bucket.is_full(now)]
        for key in full:
            del self._buckets[key]
        return len(full)

    def __len__(self) -> int:
        return len(self._buckets)
