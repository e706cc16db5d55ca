"""Reconnect pacing and duplicate suppression."""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Backoff:
    """Exponential backoff with "equal jitter": attempt n waits a random time in
    [d/2, d], d = min(cap, base * factor**n), so peers that lost the broker together
    do not all come back in the same instant, and none retries in a tight loop."""

    base: float = 0.25
    factor: float = 2.0
    cap: float = 10.0
    rand: Callable[[], float] = field(default=random.random)
    attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap, self.base * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        return ceiling / 2 + self.rand() * ceiling / 2

    def reset(self) -> None:
        self.attempt = 0


class Seen:
    """A bounded set that forgets the oldest entries first (an LRU of message ids)."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ValueError("capacity must be positive")
        self._capacity = capacity
        self._items: OrderedDict[str, None] = OrderedDict()

    def add(self, item: str) -> None:
        self._items[item] = None
        self._items.move_to_end(item)
        while len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def __contains__(self, item: object) -> bool:
        return item in self._items

    def __len__(self) -> int:
        return len(self._items)
