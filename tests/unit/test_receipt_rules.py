"""The sender's-view rules on their own: receipt state order, who may ask, what a
status reports, where receipts go, escalation deadlines and watch limits."""

from __future__ import annotations

from datetime import timedelta

import pytest

from adapters.memory import FakeClock
from domain import escalation
from domain.errors import Rejected
from domain.message_status import may_ask, recipient_status
from domain.model import Message, PeerView, Priority, Status
from domain.receipts import (
    DeliveryState,
    KeptReceipt,
    MessageFacts,
    QueuedDelivery,
    RecipientFacts,
    advances,
    receipt_targets,
)
from domain.watches import WatchTable

S = DeliveryState
clock = FakeClock()
NOW = clock.now()


@pytest.mark.parametrize(
    ("current", "new", "moves"),
    [
        (None, S.PUSHED, True),
        (None, S.ACKED, True),
        (None, S.EXPIRED, True),
        (S.PUSHED, S.PUSHED, True),  # a redelivery says pushed again
        (S.PUSHED, S.ACKED, True),
        (S.PUSHED, S.EXPIRED, True),
        (S.ACKED, S.PUSHED, False),
        (S.ACKED, S.EXPIRED, False),
        (S.ACKED, S.ACKED, False),
        (S.EXPIRED, S.ACKED, False),
        (S.EXPIRED, S.PUSHED, False),
    ],
)
def test_receipt_states_only_move_forward(
    current: DeliveryState | None, new: DeliveryState, moves: bool
) -> None:
    assert advances(current, new) is moves


def test_queued_and_held_are_never_receipts() -> None:
    with pytest.raises(ValueError, match="not a receipt state"):
        advances(None, S.HELD)


def _facts(sender: str = "ada", mesh: str = "m1") -> MessageFacts:
    return MessageFacts("msg", mesh, sender, NOW, ())


def test_only_the_sender_may_ask() -> None:
    assert may_ask(_facts(), "m1", "ada")
    assert not may_ask(_facts(), "m1", "bob")
    assert not may_ask(_facts(), "m2", "ada")  # same member id, another mesh
    assert not may_ask(None, "m1", "ada")


def _peer(member: str, status: Status, online: bool = True, age: float = 0) -> PeerView:
    return PeerView(
        member_id=member,
        pubkey="ab" * 32,
        display_name=member,
        presence_id=f"p-{member}-{age}",
        session_id=f"s-{age}",
        status=status,
        online=online,
        connected_at=NOW - timedelta(seconds=age),
    )


def _queued(priority: Priority = Priority.NEXT, lease_until=None, ttl: float = 60):  # type: ignore[no-untyped-def]
    return RecipientFacts(
        "bob", None, QueuedDelivery(priority, NOW + timedelta(seconds=ttl), lease_until)
    )


def test_a_recipient_without_a_live_session_is_queued_offline() -> None:
    got = recipient_status(_queued(), [_peer("bob", Status.IDLE, online=False)], NOW, NOW)
    assert (got.state, got.reason, got.at) == (S.QUEUED, "offline", NOW)


def test_a_recipient_whose_newest_session_is_busy_is_held_with_its_status() -> None:
    peers = [_peer("bob", Status.DND, age=50), _peer("bob", Status.WORKING, age=5)]
    got = recipient_status(_queued(), peers, NOW, NOW)
    assert (got.state, got.reason) == (S.HELD, "working")


def test_a_session_that_admits_the_priority_means_queued_not_held() -> None:
    peers = [_peer("bob", Status.WORKING, age=1), _peer("bob", Status.IDLE, age=9)]
    assert recipient_status(_queued(), peers, NOW, NOW).state is S.QUEUED
    busy = [_peer("bob", Status.WORKING)]
    assert recipient_status(_queued(Priority.NOW), busy, NOW, NOW).state is S.QUEUED


def test_a_live_lease_is_pushed_a_lapsed_one_is_not() -> None:
    peers = [_peer("bob", Status.WORKING)]
    leased = _queued(lease_until=NOW + timedelta(seconds=1))
    assert recipient_status(leased, peers, NOW, NOW).state is S.PUSHED
    lapsed = _queued(lease_until=NOW)
    assert recipient_status(lapsed, peers, NOW, NOW).state is S.HELD


def test_a_kept_receipt_wins_and_a_passed_ttl_is_expired() -> None:
    kept = RecipientFacts("bob", KeptReceipt(S.ACKED, NOW, True), None)
    got = recipient_status(kept, [], NOW, NOW)
    assert (got.state, got.at, got.escalated, got.reason) == (S.ACKED, NOW, True, None)
    assert recipient_status(_queued(ttl=0), [], NOW, NOW).state is S.EXPIRED


def test_receipts_go_to_the_sending_session_else_to_the_others_that_asked() -> None:
    here = [("p1", True), ("p2", True), ("p3", False)]
    assert receipt_targets(here, "p1", sender_online_elsewhere=False) == ["p1"]
    assert receipt_targets(here, "gone", sender_online_elsewhere=False) == ["p1", "p2"]
    # the sending session lives on another instance: it gets them there
    assert receipt_targets(here, "away", sender_online_elsewhere=True) == []
    # the sending session did not ask: the others that did
    assert receipt_targets([("p1", False), ("p2", True)], "p1", False) == ["p2"]


def test_escalation_needs_next_or_low_and_a_deadline_within_the_ttl() -> None:
    expires = NOW + timedelta(seconds=300)
    assert escalation.escalate_at(NOW, Priority.NEXT, None, expires) is None
    assert escalation.escalate_at(NOW, Priority.LOW, 1, expires) == NOW + timedelta(seconds=1)
    assert escalation.escalate_at(NOW, Priority.NEXT, 300, expires) == expires
    for bad in (0, -5, 301):
        with pytest.raises(Rejected, match="between 1 and 300") as refused:
            escalation.escalate_at(NOW, Priority.NEXT, bad, expires)
        assert refused.value.code == "invalid"
    with pytest.raises(Rejected, match="next or low"):
        escalation.escalate_at(NOW, Priority.NOW, 10, expires)


def test_a_push_after_the_deadline_is_an_escalated_now() -> None:
    message = Message(
        id="m",
        mesh_id="x",
        sender_member_id="ada",
        sender_pubkey="ab",
        sender_presence_id="p",
        priority=Priority.NEXT,
        nonce="n",
        ciphertext="c",
        created_at=NOW,
        expires_at=NOW + timedelta(seconds=60),
        escalate_at=NOW + timedelta(seconds=10),
    )
    before = escalation.as_pushed(message, NOW + timedelta(seconds=9))
    assert (before.priority, before.escalated) == (Priority.NEXT, False)
    after = escalation.as_pushed(message, NOW + timedelta(seconds=10))
    assert (after.priority, after.escalated) == (Priority.NOW, True)


def test_a_session_holds_at_most_its_limit_of_watches() -> None:
    table = WatchTable(per_session=3)
    assert [table.add("c1", i, "bob") for i in range(3)] == [1, 1, 1]
    with pytest.raises(Rejected) as refused:
        table.add("c1", 3, "bob")
    assert refused.value.code == "rate_limited"
    assert table.add("c1", 2, "carol") == 0  # the same id replaces, within the limit
    assert table.add("c2", "w", "bob") == 1  # the limit is per session
    assert table.remove("c1", 0)
    assert table.add("c1", 9, "bob") == 1


def test_a_watch_fires_once_and_ends_with_its_session() -> None:
    table = WatchTable()
    table.add("c1", "w1", "bob")
    table.add("c2", "w2", "bob")
    table.add("c2", "w3", "carol")
    assert table.take("bob") == [("c1", "w1"), ("c2", "w2")]
    assert table.take("bob") == []
    assert table.end_session("c2") == 1
    assert not table.watched("carol")
    assert len(table) == 0
