"""Receipt store and the mailbox's escalation and acknowledge: states move forward
only, expiry, facts for message_status, retention (fake and Postgres alike)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

from domain.model import Priority
from domain.ports import Mailbox, ReceiptStore
from domain.receipts import DeliveryState, SentBy, Transition, sent_by, transition
from tests.integration.contract.support import at, message, new_id

S = DeliveryState
ALL = frozenset(Priority)
NOW_ONLY = frozenset({Priority.NOW})


def _t(m_id: str, recipient: str, state: DeliveryState, when: float, **kw: bool) -> Transition:
    sent = SentBy(m_id, "mesh", "sender", "presence-of-sender")
    return transition(sent, recipient, state, at(when), **kw)


def _states(ts: list[Transition]) -> list[tuple[str, DeliveryState]]:
    return [(t.recipient_member_id, t.state) for t in ts]


async def test_states_only_move_forward(receipts: ReceiptStore) -> None:
    m, bob = new_id("msg-"), new_id("bob-")

    assert _states(await receipts.record([_t(m, bob, S.PUSHED, 1)])) == [(bob, S.PUSHED)]
    assert _states(await receipts.record([_t(m, bob, S.PUSHED, 2)])) == [(bob, S.PUSHED)]
    acked = await receipts.record([_t(m, bob, S.ACKED, 3)])
    assert acked == [_t(m, bob, S.ACKED, 3)]
    assert await receipts.record([_t(m, bob, S.PUSHED, 4)]) == []
    assert await receipts.record([_t(m, bob, S.EXPIRED, 5)]) == []


async def test_one_call_may_move_a_recipient_twice_in_order(receipts: ReceiptStore) -> None:
    m, bob, carol = new_id("msg-"), new_id("bob-"), new_id("carol-")
    batch = [
        _t(m, bob, S.PUSHED, 1, escalated=True),
        _t(m, carol, S.PUSHED, 1),
        _t(m, bob, S.ACKED, 1),
    ]

    advanced = await receipts.record(batch)

    assert _states(advanced) == [(bob, S.PUSHED), (carol, S.PUSHED), (bob, S.ACKED)]
    assert advanced[2].escalated  # once escalated, the later states say so too


async def test_concurrent_records_all_land(receipts: ReceiptStore) -> None:
    m = new_id("msg-")
    members = [new_id("r-") for _ in range(20)]

    results = await asyncio.gather(*(receipts.record([_t(m, r, S.PUSHED, 1)]) for r in members))

    assert [len(r) for r in results] == [1] * 20
    facts = await receipts.facts(m)
    assert facts is not None
    assert sorted(r.member_id for r in facts.recipients) == sorted(members)


async def test_expire_records_deliveries_whose_ttl_passed_once(
    mailbox: Mailbox, receipts: ReceiptStore
) -> None:
    bob, carol = new_id("bob-"), new_id("carol-")
    sent = message(ttl=10)
    await mailbox.enqueue(sent, [bob, carol])
    await mailbox.claim(bob, "p", "c", ALL, at(1), at(31), 10)
    await receipts.record([transition(sent_by(sent), bob, S.PUSHED, at(1))])

    assert all(t.message_id != sent.id for t in await receipts.expire(at(9)))
    expired = [t for t in await receipts.expire(at(10)) if t.message_id == sent.id]

    assert sorted(_states(expired)) == sorted([(bob, S.EXPIRED), (carol, S.EXPIRED)])
    assert all(t.sender_member_id == "sender" and t.at == at(10) for t in expired)
    assert [t for t in await receipts.expire(at(11)) if t.message_id == sent.id] == []


async def test_facts_of_an_unknown_message_are_none(receipts: ReceiptStore) -> None:
    assert await receipts.facts(new_id("msg-")) is None


async def test_facts_follow_a_message_from_queue_to_ack(
    mailbox: Mailbox, receipts: ReceiptStore
) -> None:
    bob, carol = new_id("bob-"), new_id("carol-")
    sent = message(created=0, ttl=100)
    await mailbox.enqueue(sent, [bob, carol])

    facts = await receipts.facts(sent.id)
    assert facts is not None
    assert (facts.mesh_id, facts.sender_member_id, facts.created_at) == ("mesh", "sender", at(0))
    queued = {r.member_id: r for r in facts.recipients}
    assert set(queued) == {bob, carol}
    assert queued[bob].receipt is None and queued[bob].queued is not None
    assert (queued[bob].queued.priority, queued[bob].queued.lease_until) == (Priority.NEXT, None)
    assert queued[bob].queued.expires_at == at(100)

    await mailbox.claim(bob, "p", "c", ALL, at(1), at(31), 10)
    await receipts.record([transition(sent_by(sent), bob, S.PUSHED, at(1))])
    acked = await mailbox.acknowledge(bob, [sent.id, new_id("other-")], at(2))
    assert acked == [transition(sent_by(sent), bob, S.ACKED, at(2))]
    await mailbox.prune(at(3))

    facts = await receipts.facts(sent.id)
    assert facts is not None and facts.sender_member_id == "sender"
    now = {r.member_id: r for r in facts.recipients}
    assert now[bob].receipt is not None
    assert (now[bob].receipt.state, now[bob].receipt.at) == (S.ACKED, at(2))
    assert now[bob].queued is None
    assert now[carol].receipt is None and now[carol].queued is not None


async def test_escalate_raises_due_deliveries_to_now_once(mailbox: Mailbox) -> None:
    bob = new_id("bob-")
    sent = replace(message(ttl=100), escalate_at=at(5))
    plain = message(ttl=100)
    late = replace(message(ttl=4), escalate_at=at(5))  # expires first: never raised
    for m in (sent, plain, late):
        await mailbox.enqueue(m, [bob])

    assert bob not in await mailbox.escalate(at(4))
    assert await mailbox.claim(bob, "p", "c", NOW_ONLY, at(4), at(34), 10) == []
    assert bob in await mailbox.escalate(at(5))
    assert bob not in await mailbox.escalate(at(6))

    claimed = await mailbox.claim(bob, "p", "c", NOW_ONLY, at(6), at(36), 10)
    assert [m.id for m in claimed] == [sent.id]
    assert (claimed[0].priority, claimed[0].escalate_at) == (Priority.NEXT, at(5))


async def test_prune_forgets_settled_messages_after_the_cutoff_only(
    mailbox: Mailbox, receipts: ReceiptStore
) -> None:
    done, waiting = new_id("msg-"), new_id("msg-")
    bob, carol = new_id("bob-"), new_id("carol-")
    await receipts.record(
        [
            _t(done, bob, S.ACKED, 10),
            _t(done, carol, S.EXPIRED, 20),
            _t(waiting, bob, S.ACKED, 10),
            _t(waiting, carol, S.PUSHED, 10),
        ]
    )

    await receipts.prune(at(20), 1000)  # carol's expiry is not before the cutoff
    assert await receipts.facts(done) is not None
    while await receipts.prune(at(21), 1):
        pass
    assert await receipts.facts(done) is None
    assert await receipts.facts(waiting) is not None  # carol may still ack


async def test_an_ack_keeps_its_receipt_unless_the_message_expired_first(
    mailbox: Mailbox, receipts: ReceiptStore
) -> None:
    bob, carol = new_id("bob-"), new_id("carol-")
    sent = message(ttl=10)
    await mailbox.enqueue(sent, [bob, carol])
    await receipts.record([transition(sent_by(sent), bob, S.PUSHED, at(1), escalated=True)])
    late = [t for t in await receipts.expire(at(10)) if t.message_id == sent.id]
    assert sorted(_states(late)) == sorted([(bob, S.EXPIRED), (carol, S.EXPIRED)])

    assert await mailbox.acknowledge(bob, [sent.id], at(11)) == []  # expired stays
    facts = await receipts.facts(sent.id)
    assert facts is not None
    assert {r.member_id: r.receipt.state for r in facts.recipients if r.receipt} == {
        bob: S.EXPIRED,
        carol: S.EXPIRED,
    }


async def test_an_acked_escalated_push_stays_escalated(
    mailbox: Mailbox, receipts: ReceiptStore
) -> None:
    bob = new_id("bob-")
    sent = message()
    await mailbox.enqueue(sent, [bob])
    await receipts.record([transition(sent_by(sent), bob, S.PUSHED, at(1), escalated=True)])

    (acked,) = await mailbox.acknowledge(bob, [sent.id], at(2))

    assert (acked.state, acked.escalated, acked.at) == (S.ACKED, True, at(2))


async def test_an_escalated_delivery_acked_before_its_push_receipt_is_escalated(
    mailbox: Mailbox, receipts: ReceiptStore
) -> None:
    # The pushed receipt is written off the push path: the recipient's ack may land
    # first. The acked row still says escalated, and the late pushed one moves nothing.
    bob = new_id("bob-")
    sent = replace(message(ttl=100), escalate_at=at(5))
    await mailbox.enqueue(sent, [bob])
    await mailbox.escalate(at(5))
    await mailbox.claim(bob, "p", "c", NOW_ONLY, at(6), at(36), 10)

    (acked,) = await mailbox.acknowledge(bob, [sent.id], at(7))
    late = await receipts.record([transition(sent_by(sent), bob, S.PUSHED, at(6), escalated=True)])

    assert (acked.state, acked.escalated) == (S.ACKED, True)
    assert late == []
    facts = await receipts.facts(sent.id)
    assert facts is not None
    (recipient,) = facts.recipients
    assert recipient.receipt is not None
    assert (recipient.receipt.state, recipient.receipt.escalated) == (S.ACKED, True)


async def test_a_plain_acked_delivery_is_not_escalated(
    mailbox: Mailbox, receipts: ReceiptStore
) -> None:
    bob = new_id("bob-")
    sent = message()
    await mailbox.enqueue(sent, [bob])

    (acked,) = await mailbox.acknowledge(bob, [sent.id], at(2))

    assert (acked.state, acked.escalated) == (S.ACKED, False)


async def test_a_lease_that_ran_out_keeps_its_delivery_pushed_until_acked(
    mailbox: Mailbox, receipts: ReceiptStore
) -> None:
    """receipts.md: states only move forward; a lapsed lease is a push that was not
    acked in time, so `message_status` must not fall back to `queued`."""
    bob, carol = new_id("bob-"), new_id("carol-")
    sent = message(created=0, ttl=100)
    await mailbox.enqueue(sent, [bob, carol])
    await mailbox.claim(bob, "p", "c", ALL, at(1), at(31), 10)  # pushed at 1, never acked

    assert bob in await mailbox.release_expired(at(31), timedelta(seconds=30))

    facts = await receipts.facts(sent.id)
    assert facts is not None
    by_member = {r.member_id: r for r in facts.recipients}
    kept = by_member[bob].receipt
    assert kept is not None and (kept.state, kept.at) == (S.PUSHED, at(1))
    assert by_member[carol].receipt is None  # never leased: nothing kept
    # redelivered and acked: the state moves on to acked
    await mailbox.claim(bob, "p", "c2", ALL, at(32), at(62), 10)
    assert await mailbox.acknowledge(bob, [sent.id], at(33)) == [
        transition(sent_by(sent), bob, S.ACKED, at(33))
    ]


async def test_a_lapsed_lease_leaves_a_kept_receipt_as_it_was(
    mailbox: Mailbox, receipts: ReceiptStore
) -> None:
    bob = new_id("bob-")
    sent = message(created=0, ttl=100)
    await mailbox.enqueue(sent, [bob])
    await mailbox.claim(bob, "p", "c", ALL, at(1), at(31), 10)
    await receipts.record([transition(sent_by(sent), bob, S.PUSHED, at(2), escalated=True)])

    await mailbox.release_expired(at(40), timedelta(seconds=30))

    facts = await receipts.facts(sent.id)
    assert facts is not None
    kept = facts.recipients[0].receipt
    assert kept is not None and (kept.state, kept.at, kept.escalated) == (S.PUSHED, at(2), True)
