"""Backoff with jitter, the bounded dedupe set, and id-less error matching."""

from __future__ import annotations

import pytest

from client.errors import BrokerError
from client.pending import Pending
from client.retry import Backoff, Seen
from protocol import wire


def test_backoff_grows_exponentially_up_to_the_cap() -> None:
    highest = Backoff(base=0.5, factor=2, cap=4, rand=lambda: 1.0)
    assert [highest.next_delay() for _ in range(6)] == [0.5, 1, 2, 4, 4, 4]


def test_backoff_jitter_stays_within_half_to_full_delay() -> None:
    lowest = Backoff(base=0.5, factor=2, cap=4, rand=lambda: 0.0)
    assert [lowest.next_delay() for _ in range(4)] == [0.25, 0.5, 1, 2]
    real = Backoff(base=1, cap=8)
    for ceiling in [1, 2, 4, 8, 8]:
        assert ceiling / 2 <= real.next_delay() <= ceiling


def test_backoff_resets_after_a_success_and_survives_many_attempts() -> None:
    backoff = Backoff(base=1, cap=10, rand=lambda: 1.0)
    for _ in range(2000):
        backoff.next_delay()
    assert backoff.next_delay() == 10
    backoff.reset()
    assert backoff.next_delay() == 1


def test_seen_forgets_the_oldest_first() -> None:
    seen = Seen(capacity=3)
    for item in "abcd":
        seen.add(item)
    assert "a" not in seen and all(x in seen for x in "bcd") and len(seen) == 3
    seen.add("b")  # refreshed: now the newest
    seen.add("e")
    assert "c" not in seen and "b" in seen


async def test_status_replies_and_id_less_errors_settle_status_requests_in_order() -> None:
    pending = Pending()
    first, second = pending.expect_status(), pending.expect_status()
    assert pending.resolve(wire.StatusReply(presence_id="p", status="dnd", source="manual"))
    assert pending.resolve(wire.Error(code="unavailable", message="db down"))
    assert first.result().status == "dnd"  # type: ignore[union-attr]
    with pytest.raises(BrokerError, match="unavailable"):
        second.result()
    assert not pending.resolve(wire.Error(code="invalid", message="stray"))


async def test_replies_are_matched_by_id() -> None:
    pending = Pending()
    one, two = pending.new_id("s"), pending.new_id("s")
    f1, f2 = pending.expect(one), pending.expect(two)
    assert pending.resolve(wire.Ack(queued=True, id=two, message_id="m-2"))
    assert not f1.done() and f2.result().message_id == "m-2"  # type: ignore[union-attr]
    assert not pending.resolve(wire.Ack(queued=True, id="s-99"))
