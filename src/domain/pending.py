"""Connections that have not yet proved anything: an HTTP request not yet complete, a
WebSocket that has not said hello. Anyone who reaches the port can open them, so their
number is bounded per address and in all (issue 15; docs/adr/0024). The transport
adapter asks `admit` when a connection opens and calls `release` once it is either
authenticated (hello accepted), served, or gone."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum


class Refusal(StrEnum):
    """Why a connection was not let in."""

    PER_ADDRESS = "per_address"
    TOTAL = "total"


@dataclass(slots=True)
class PendingLimits:
    """At most `per_address` pending connections from one address and `total` in all."""

    total: int
    per_address: int
    _by_address: Counter[str] = field(default_factory=Counter)
    _count: int = 0

    def admit(self, address: str) -> Refusal | None:
        """Take a slot for a new connection from `address`; the refusal when none is left."""
        if self._count >= self.total:
            return Refusal.TOTAL
        if self._by_address[address] >= self.per_address:
            return Refusal.PER_ADDRESS
        self._by_address[address] += 1
        self._count += 1
        return None

    def release(self, address: str) -> None:
        """Give back the slot of a connection admitted from `address` (once per admit)."""
        held = self._by_address[address]
        if held <= 0:
            return
        if held == 1:
            del self._by_address[address]
        else:
            self._by_address[address] = held - 1
        self._count -= 1

    def __len__(self) -> int:
        return self._count

    def held_by(self, address: str) -> int:
        return self._by_address.get(address, 0)
