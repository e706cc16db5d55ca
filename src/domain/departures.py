"""Disconnects this instance could not record yet (ADR 0019).

A socket that closed is gone from this instance at once, but its presence stays
online in the store until the disconnect is written there. When that write fails
(an outage, or a pool too busy to lend a connection in time), the departure is kept
here and written again by `sweeps.retry_disconnects` until the store takes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Departure:
    """A closed socket whose presence still shows online. The write is keyed by
    `connection_id`, so it leaves alone a presence a newer socket has taken since."""

    connection_id: str
    presence_id: str
    member_id: str
    at: datetime  # when the socket closed: the reconnect grace counts from here
    transient: bool = False  # a one-shot session: it ends at once, no grace window


@dataclass(frozen=True, slots=True)
class Deferrals:
    """Departures deferred since the last look, and the last error that deferred one."""

    count: int
    error: str | None


class Departures:
    """This instance's departures waiting for the store, oldest first."""

    def __init__(self) -> None:
        self._pending: dict[str, Departure] = {}
        self._deferred = 0
        self._error: str | None = None

    def defer(self, departure: Departure, error: str) -> None:
        self._pending[departure.connection_id] = departure
        self._deferred += 1
        self._error = error

    def pending(self) -> list[Departure]:
        return list(self._pending.values())

    def settled(self, departure: Departure) -> None:
        """The store has it (or has nothing left to record for it)."""
        self._pending.pop(departure.connection_id, None)

    def expire(self, closed_before: datetime) -> list[Departure]:
        """Forget departures whose socket closed before `closed_before`, returning them."""
        old = [d for d in self._pending.values() if d.at < closed_before]
        for departure in old:
            del self._pending[departure.connection_id]
        return old

    def news(self) -> Deferrals:
        """What was deferred since the last call (for the log), then start counting anew."""
        news = Deferrals(self._deferred, self._error)
        self._deferred, self._error = 0, None
        return news

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, connection_id: object) -> bool:
        return connection_id in self._pending
