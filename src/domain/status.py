"""Status policy: source ranking, freshness, DND, the TTL flip and the delivery gate."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.model import Priority, Source, Status, StatusRecord

_ADMITTED: dict[Status, frozenset[Priority]] = {
    Status.IDLE: frozenset(Priority),
    Status.WORKING: frozenset({Priority.NOW}),
    Status.DND: frozenset({Priority.NOW}),
    # Blocked on a person: only what cannot wait interrupts; the rest follows idle.
    Status.WAITING: frozenset({Priority.NOW}),
}


def admitted(status: Status) -> frozenset[Priority]:
    """The priorities a session with this status receives; `next`/`low` wait while busy."""
    return _ADMITTED[status]


@dataclass(frozen=True, slots=True)
class StatusRules:
    fresh_window: timedelta
    ttl: timedelta

    def is_fresh(self, record: StatusRecord, now: datetime) -> bool:
        return now - record.since < self.fresh_window

    def apply(
        self, current: StatusRecord, status: Status, source: Source, now: datetime
    ) -> StatusRecord:
        """The record after `source` reports `status`; `current` when the report loses."""
        reported = StatusRecord(status, source, now)
        if status != current.status:
            return current if self._defends(current, source, now) else reported
        if source.rank >= current.source.rank or not self.is_fresh(current, now):
            return reported
        return current

    def _defends(self, current: StatusRecord, source: Source, now: datetime) -> bool:
        # DND is sacred: only the person (a manual status) leaves it.
        if current.status is Status.DND and source is not Source.MANUAL:
            return True
        # A fresh hook signal always wins over transcript inference.
        return (
            source is Source.JSONL and current.source is Source.HOOK and self.is_fresh(current, now)
        )

    def ttl_cutoff(self, now: datetime) -> datetime:
        """`working` confirmed before this instant is stuck and flips to idle."""
        return now - self.ttl

    def is_stuck(self, record: StatusRecord, now: datetime) -> bool:
        # Only `working` is swept: `waiting` may last hours (a person is away), and
        # says so; `dnd` is the person's own choice.
        return record.status is Status.WORKING and record.since < self.ttl_cutoff(now)

    @staticmethod
    def flipped(now: datetime) -> StatusRecord:
        return StatusRecord(Status.IDLE, Source.JSONL, now)

    @staticmethod
    def initial(now: datetime) -> StatusRecord:
        return StatusRecord(Status.IDLE, Source.MANUAL, now)
