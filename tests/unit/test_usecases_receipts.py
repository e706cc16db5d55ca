"""The sender's view through the use cases on the fake clock: receipts as a message
moves, message_status, escalation and watches (spec/receipts.md)."""

from __future__ import annotations

import pytest

from domain.errors import Rejected
from domain.model import Priority, Status
from domain.receipts import DeliveryState, Receipt
from domain.usecases import deliver, receipts, status, sweeps, watch
from domain.watches import PeerIdle
from tests.unit.harness import Client, Harness

S = DeliveryState


def _receipts(client: Client) -> list[tuple[str, str, DeliveryState]]:
    return [
        (e.message_id, e.recipient_pubkey, e.state)
        for e in client.connection.events
        if isinstance(e, Receipt)
    ]


async def _states(broker: Harness, client: Client, message_id: str) -> list[tuple[str, ...]]:
    reports = await receipts.message_status(broker.ctx, client.session, message_id)
    return [(r.display_name, r.status.state.value, r.status.reason or "") for r in reports]


async def test_the_sender_hears_pushed_then_acked(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada, receipts=True)
    recipient = await broker.connect(bob)

    message_id = await broker.send(sender, bob)
    assert _receipts(sender) == [(message_id, bob.pubkey, S.PUSHED)]
    assert await _states(broker, sender, message_id) == [("bob", "pushed", "")]

    broker.clock.advance(2)
    await deliver.client_ack(broker.ctx, recipient.session, [message_id])
    assert _receipts(sender)[-1] == (message_id, bob.pubkey, S.ACKED)
    assert await _states(broker, sender, message_id) == [("bob", "acked", "")]
    assert broker.metrics.counts["receipts:pushed"] == 1
    assert broker.metrics.counts["receipts:acked"] == 1

    await deliver.client_ack(broker.ctx, recipient.session, [message_id])  # again
    assert len(_receipts(sender)) == 2


async def test_a_recipient_without_ack_acks_on_push(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada, receipts=True)
    await broker.connect(bob, acks=False)

    message_id = await broker.send(sender, bob)

    assert _receipts(sender) == [
        (message_id, bob.pubkey, S.PUSHED),
        (message_id, bob.pubkey, S.ACKED),
    ]


async def test_a_sender_that_did_not_ask_gets_no_receipt_but_may_ask(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    await broker.connect(bob)

    message_id = await broker.send(sender, bob)

    assert sender.connection.events == []
    assert await _states(broker, sender, message_id) == [("bob", "pushed", "")]


async def test_status_says_why_a_message_waits(broker: Harness) -> None:
    ada, bob, _carol = [await broker.peer(n) for n in ("ada", "bob", "carol")]
    sender = await broker.connect(ada)
    busy = await broker.connect(bob)
    await status.set_status(broker.ctx, busy.session, Status.WORKING)

    message_id = await broker.send(sender, "*")

    assert await _states(broker, sender, message_id) == [
        ("bob", "held", "working"),
        ("carol", "queued", "offline"),
    ]
    await status.set_status(broker.ctx, busy.session, Status.IDLE)
    assert ("bob", "pushed", "") in await _states(broker, sender, message_id)


async def test_only_the_sender_may_ask_and_unknown_ids_look_the_same(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender, other = await broker.connect(ada), await broker.connect(bob)
    message_id = await broker.send(sender, bob)

    for who, asked in ((other, message_id), (sender, "no-such-id")):
        with pytest.raises(Rejected) as refused:
            await receipts.message_status(broker.ctx, who.session, asked)
        assert (refused.value.code, str(refused.value)) == ("not_found", "no such message")


async def test_an_unacked_message_expires_and_stays_expired(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada, receipts=True)
    recipient = await broker.connect(bob)
    message_id = await broker.send(sender, bob, ttl_seconds=60)

    broker.clock.advance(61)
    await sweeps.sweep_mailbox(broker.ctx)
    await deliver.client_ack(broker.ctx, recipient.session, [message_id])

    assert [s for _, _, s in _receipts(sender)] == [S.PUSHED, S.EXPIRED]
    assert await _states(broker, sender, message_id) == [("bob", "expired", "")]
    assert broker.metrics.counts["receipts:expired"] == 1


async def test_a_redelivery_says_pushed_again_only_before_acked(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada, receipts=True)
    recipient = await broker.connect(bob)
    message_id = await broker.send(sender, bob)

    broker.clock.advance(31)  # the lease (ACK_TIMEOUT 30 s) lapses
    await sweeps.sweep_leases(broker.ctx)
    await deliver.client_ack(broker.ctx, recipient.session, [message_id])

    assert [s for _, _, s in _receipts(sender)] == [S.PUSHED, S.PUSHED, S.ACKED]
    assert len(recipient.connection.pushed) == 2


async def test_a_lapsed_lease_still_says_pushed_while_the_recipient_is_away(
    broker: Harness,
) -> None:
    """States only move forward: a push not acked in time stays `pushed` in
    message_status, also when no session is there to take the redelivery."""
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    recipient = await broker.connect(bob)
    message_id = await broker.send(sender, bob)
    await status.set_status(broker.ctx, recipient.session, Status.WORKING)

    broker.clock.advance(31)  # the lease (ACK_TIMEOUT 30 s) lapses, not acked
    await sweeps.sweep_leases(broker.ctx)

    assert len(recipient.connection.pushed) == 1  # held now: `next` waits while working
    assert await _states(broker, sender, message_id) == [("bob", "pushed", "")]


async def test_receipts_follow_the_member_when_the_sending_session_is_gone(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sending = await broker.connect(ada, receipts=True)
    other = await broker.connect(ada, receipts=True)
    quiet = await broker.connect(ada)
    recipient = await broker.connect(bob)
    message_id = await broker.send(sending, bob)
    await broker.drop(sending)

    await deliver.client_ack(broker.ctx, recipient.session, [message_id])

    assert [s for _, _, s in _receipts(sending)] == [S.PUSHED]
    assert [s for _, _, s in _receipts(other)] == [S.ACKED]
    assert quiet.connection.events == []


async def test_a_next_message_escalates_to_now_after_its_deadline(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada, receipts=True)
    recipient = await broker.connect(bob)
    await status.set_status(broker.ctx, recipient.session, Status.WORKING)
    message_id = await broker.send(sender, bob, escalate_after_seconds=60)

    broker.clock.advance(59)
    await sweeps.sweep_escalations(broker.ctx)
    assert recipient.connection.pushed == []
    assert await _states(broker, sender, message_id) == [("bob", "held", "working")]

    broker.clock.advance(1)
    await sweeps.sweep_escalations(broker.ctx)

    (pushed,) = recipient.connection.pushed
    assert (pushed.id, pushed.priority, pushed.escalated) == (message_id, Priority.NOW, True)
    (receipt,) = [e for e in sender.connection.events if isinstance(e, Receipt)]
    assert (receipt.state, receipt.escalated) == (S.PUSHED, True)
    reports = await receipts.message_status(broker.ctx, sender.session, message_id)
    assert reports[0].status.escalated
    assert broker.metrics.counts["escalated"] == 1


async def test_a_message_pushed_before_its_deadline_is_not_escalated(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender, recipient = await broker.connect(ada), await broker.connect(bob, acks=False)

    await broker.send(sender, bob, escalate_after_seconds=60)
    broker.clock.advance(61)
    await sweeps.sweep_escalations(broker.ctx)

    (pushed,) = recipient.connection.pushed
    assert (pushed.priority, pushed.escalated) == (Priority.NEXT, False)
    assert broker.metrics.counts["escalated"] == 0


async def test_escalation_is_refused_on_now_and_beyond_the_ttl(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    with pytest.raises(Rejected, match="next or low"):
        await broker.send(sender, bob, priority=Priority.NOW, escalate_after_seconds=5)
    with pytest.raises(Rejected, match="between 1 and 60"):
        await broker.send(sender, bob, ttl_seconds=60, escalate_after_seconds=61)


async def test_kept_state_is_forgotten_after_the_retention(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    recipient = await broker.connect(bob)
    message_id = await broker.send(sender, bob)
    await deliver.client_ack(broker.ctx, recipient.session, [message_id])
    await sweeps.sweep_mailbox(broker.ctx)

    broker.clock.advance(86399)
    assert await sweeps.sweep_receipts(broker.ctx) == 0
    assert await _states(broker, sender, message_id) == [("bob", "acked", "")]
    broker.clock.advance(2)
    assert await sweeps.sweep_receipts(broker.ctx) == 1
    with pytest.raises(Rejected, match="no such message"):
        await receipts.message_status(broker.ctx, sender.session, message_id)


# ---- watch


def _idle_answers(client: Client) -> list[PeerIdle]:
    return [e for e in client.connection.events if isinstance(e, PeerIdle)]


async def test_a_watch_on_an_idle_peer_is_answered_at_once(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    watcher, watched = await broker.connect(ada), await broker.connect(bob)

    answer = await watch.watch(broker.ctx, watcher.session, "w1", bob.pubkey)

    assert answer is not None
    assert (answer.watch_id, answer.member_id, answer.session_id) == (
        "w1",
        bob.member.id,
        watched.session.session_id,
    )
    assert len(broker.ctx.watches) == 0 and broker.metrics.watches == 0


async def test_a_watch_is_answered_once_when_the_peer_goes_idle(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    watcher, watched = await broker.connect(ada), await broker.connect(bob)
    await status.set_status(broker.ctx, watched.session, Status.WORKING)

    assert await watch.watch(broker.ctx, watcher.session, 7, bob.pubkey) is None
    assert broker.metrics.watches == 1
    await status.set_status(broker.ctx, watched.session, Status.DND)
    assert _idle_answers(watcher) == []
    broker.clock.advance(5)
    await status.set_status(broker.ctx, watched.session, Status.IDLE)
    await status.set_status(broker.ctx, watched.session, Status.WORKING)
    await status.set_status(broker.ctx, watched.session, Status.IDLE)

    (answer,) = _idle_answers(watcher)
    assert (answer.watch_id, answer.at) == (7, broker.clock.now())
    assert broker.metrics.watches == 0


async def test_a_peer_that_connects_idle_answers_the_watch(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    watcher = await broker.connect(ada)
    await watch.watch(broker.ctx, watcher.session, "w", bob.pubkey)

    arrived = await broker.connect(bob)

    (answer,) = _idle_answers(watcher)
    assert answer.session_id == arrived.session.session_id


async def test_watch_limits_unknown_peers_unwatch_and_session_end(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    watcher = await broker.connect(ada)
    with pytest.raises(Rejected) as unknown:
        await watch.watch(broker.ctx, watcher.session, "x", "cd" * 32)
    assert unknown.value.code == "no_recipient"

    for i in range(100):
        await watch.watch(broker.ctx, watcher.session, i, bob.pubkey)
    with pytest.raises(Rejected) as limited:
        await watch.watch(broker.ctx, watcher.session, 100, bob.pubkey)
    assert limited.value.code == "rate_limited"
    assert broker.metrics.watches == 100

    assert await watch.unwatch(broker.ctx, watcher.session, 0)
    assert not await watch.unwatch(broker.ctx, watcher.session, 0)
    await broker.drop(watcher)
    assert broker.metrics.watches == 0 and len(broker.ctx.watches) == 0
    await broker.connect(bob)
    assert _idle_answers(watcher) == []


async def test_a_late_idle_notice_does_not_answer_a_watch(broker: Harness) -> None:
    """Notices travel between instances: one that arrives after the peer went back
    to work is not an answer."""
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    watcher, watched = await broker.connect(ada), await broker.connect(bob)
    await status.set_status(broker.ctx, watched.session, Status.WORKING)
    await watch.watch(broker.ctx, watcher.session, "w", bob.pubkey)

    late = await watch.answer_watches(
        broker.ctx, bob.member.id, watched.presence_id, watched.session.session_id
    )

    assert late == 0 and _idle_answers(watcher) == []
    assert len(broker.ctx.watches) == 1
