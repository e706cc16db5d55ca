"""Sends and pushes: who receives what, when, in which order, and how often."""

from __future__ import annotations

from dataclasses import replace

import pytest

from domain.errors import Rejected
from domain.model import Priority, Status
from domain.policy import Policy
from domain.usecases import admin, deliver, status, sweeps
from domain.usecases.status import HookReport, hook_set_status
from tests.unit.harness import Harness


async def _pair(broker: Harness, *, acks: bool = True):  # type: ignore[no-untyped-def]
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    return ada, bob, await broker.connect(ada), await broker.connect(bob, acks=acks)


async def test_a_direct_message_reaches_an_idle_recipient_at_once(broker: Harness) -> None:
    ada, bob, sender, recipient = await _pair(broker)

    message_id = await broker.send(sender, bob, "hello bob")

    assert [m.id for m in recipient.connection.pushed] == [message_id]
    assert recipient.connection.pushed[0].sender_pubkey == ada.pubkey
    assert broker.metrics.counts["routed:next"] == 1


@pytest.mark.parametrize(
    ("state", "delivered_now"),
    [
        pytest.param(Status.IDLE, ["now", "next", "low"], id="idle-gets-all"),
        pytest.param(Status.WORKING, ["now"], id="working-gets-now-only"),
        pytest.param(Status.DND, ["now"], id="dnd-gets-now-only"),
        pytest.param(Status.WAITING, ["now"], id="waiting-gets-now-only"),
    ],
)
async def test_the_recipient_status_gates_priorities(
    broker: Harness, state: Status, delivered_now: list[str]
) -> None:
    _ada, bob, sender, recipient = await _pair(broker)
    await status.set_status(broker.ctx, recipient.session, state)

    for priority in Priority:
        await broker.send(sender, bob, priority.value, priority)

    assert recipient.connection.texts == delivered_now


@pytest.mark.parametrize(
    "make_idle",
    [
        pytest.param("set_status", id="by-set-status"),
        pytest.param("hook", id="by-hook"),
        pytest.param("ttl_sweep", id="by-ttl-sweep"),
    ],
)
async def test_held_mail_goes_out_the_moment_the_session_becomes_idle(
    broker: Harness, make_idle: str
) -> None:
    _ada, bob, sender, recipient = await _pair(broker)
    await status.set_status(broker.ctx, recipient.session, Status.WORKING)
    await broker.send(sender, bob, "first", Priority.LOW)
    await broker.send(sender, bob, "second", Priority.NEXT)
    assert recipient.connection.texts == []

    if make_idle == "set_status":
        await status.set_status(broker.ctx, recipient.session, Status.IDLE)
    elif make_idle == "hook":
        report = HookReport("/home/ada/proj", 4242, Status.IDLE, recipient.session.session_id)
        await hook_set_status(broker.ctx, report, recipient.hook_token)
    else:
        broker.clock.advance(61)
        await sweeps.sweep_stuck_working(broker.ctx)

    assert recipient.connection.texts == ["first", "second"]


@pytest.mark.parametrize(
    "make_idle",
    [pytest.param("set_status", id="by-set-status"), pytest.param("hook", id="by-hook")],
)
async def test_mail_held_while_waiting_on_a_person_goes_out_when_idle(
    broker: Harness, make_idle: str
) -> None:
    _ada, bob, sender, recipient = await _pair(broker)
    report = HookReport("/home/ada/proj", 4242, Status.WAITING, recipient.session.session_id)
    await hook_set_status(broker.ctx, report, recipient.hook_token)
    await broker.send(sender, bob, "later", Priority.NEXT)
    await broker.send(sender, bob, "urgent", Priority.NOW)
    assert recipient.connection.texts == ["urgent"]

    if make_idle == "set_status":
        await status.set_status(broker.ctx, recipient.session, Status.IDLE)
    else:
        await hook_set_status(broker.ctx, replace(report, status=Status.IDLE), None)

    assert recipient.connection.texts == ["urgent", "later"]


async def test_leaving_waiting_for_working_still_holds_next_mail(broker: Harness) -> None:
    _ada, bob, sender, recipient = await _pair(broker)
    await status.set_status(broker.ctx, recipient.session, Status.WAITING)
    await broker.send(sender, bob, "later", Priority.NEXT)

    await status.set_status(broker.ctx, recipient.session, Status.WORKING)

    assert recipient.connection.texts == []


async def test_a_recipients_messages_go_out_in_queue_order(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    for n in range(10):
        await broker.send(sender, bob, f"m{n}", Priority.NOW if n % 3 else Priority.LOW)

    recipient = await broker.connect(bob)

    assert recipient.connection.texts == [f"m{n}" for n in range(10)]


async def test_a_broadcast_reaches_every_other_member_once_under_one_id(broker: Harness) -> None:
    ada, bob, cy = await broker.peer("ada"), await broker.peer("bob"), await broker.peer("cy")
    ada_one, ada_two = await broker.connect(ada), await broker.connect(ada)
    bob_c, cy_c = await broker.connect(bob), await broker.connect(cy)

    message_id = await broker.send(ada_one, "*", "all hands")

    assert [m.id for m in bob_c.connection.pushed] == [message_id]
    assert [m.id for m in cy_c.connection.pushed] == [message_id]
    assert ada_one.connection.pushed == ada_two.connection.pushed == []


async def test_a_message_to_ones_own_pubkey_reaches_ones_other_session(broker: Harness) -> None:
    ada = await broker.peer("ada")
    here, there = await broker.connect(ada), await broker.connect(ada)

    await broker.send(here, ada, "note to self")

    assert here.connection.texts == []
    assert there.connection.texts == ["note to self"]


async def test_a_message_goes_to_the_most_recently_connected_session(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    older, newer = await broker.connect(bob), await broker.connect(bob)

    await broker.send(sender, bob, "once")

    assert (older.connection.texts, newer.connection.texts) == ([], ["once"])


async def test_a_busy_newest_session_leaves_next_mail_to_an_idle_older_one(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    older, newer = await broker.connect(bob), await broker.connect(bob)
    await status.set_status(broker.ctx, newer.session, Status.WORKING)

    await broker.send(sender, bob, "later", Priority.NEXT)
    await broker.send(sender, bob, "urgent", Priority.NOW)

    assert (older.connection.texts, newer.connection.texts) == (["later"], ["urgent"])


@pytest.mark.parametrize(
    ("target", "code"),
    [
        pytest.param("bob@example", "unsupported_target", id="not-a-pubkey"),
        pytest.param("AB" * 32, "unsupported_target", id="uppercase-hex"),
        pytest.param("ab" * 32, "no_recipient", id="unknown-pubkey"),
    ],
)
async def test_a_send_to_a_bad_target_is_refused(broker: Harness, target: str, code: str) -> None:
    ada = await broker.peer("ada")
    sender = await broker.connect(ada)

    with pytest.raises(Rejected) as refused:
        await broker.send(sender, target)

    assert refused.value.code == code
    assert broker.metrics.counts[f"rejected:{code}"] == 1
    assert await broker.ctx.mailbox.depth(broker.clock.now()) == 0


async def test_a_send_to_a_revoked_member_is_refused(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    await admin.revoke_member(broker.ctx, broker.mesh.slug, bob.member.id)

    with pytest.raises(Rejected) as refused:
        await broker.send(sender, bob)

    assert refused.value.code == "no_recipient"


async def test_a_broadcast_with_nobody_else_in_the_mesh_is_refused(broker: Harness) -> None:
    ada = await broker.peer("ada")
    sender = await broker.connect(ada)

    with pytest.raises(Rejected) as refused:
        await broker.send(sender, "*")

    assert refused.value.code == "no_recipient"


async def test_a_frame_over_the_size_cap_is_refused_as_too_large() -> None:
    broker = await Harness(Policy(max_message_bytes=100)).start()
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)

    with pytest.raises(Rejected) as refused:
        await broker.send(sender, bob, frame_bytes=101)
    await broker.send(sender, bob, frame_bytes=100)

    assert refused.value.code == "too_large"


async def test_sends_beyond_the_members_budget_are_rate_limited() -> None:
    broker = await Harness(Policy(send_rate_per_min=60, send_burst=3)).start()
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    for _ in range(3):
        await broker.send(sender, bob)

    with pytest.raises(Rejected) as refused:
        await broker.send(sender, bob)
    broker.clock.advance(1)
    await broker.send(sender, bob)

    assert refused.value.code == "rate_limited"


async def test_an_unacked_push_comes_again_after_its_lease(broker: Harness) -> None:
    _ada, bob, sender, recipient = await _pair(broker)
    message_id = await broker.send(sender, bob)

    broker.clock.advance(29)
    await sweeps.sweep_leases(broker.ctx)
    assert len(recipient.connection.pushed) == 1
    broker.clock.advance(2)
    await sweeps.sweep_leases(broker.ctx)

    assert [m.id for m in recipient.connection.pushed] == [message_id, message_id]


async def test_an_acked_push_never_comes_again(broker: Harness) -> None:
    _ada, bob, sender, recipient = await _pair(broker)
    message_id = await broker.send(sender, bob)

    acked = await deliver.client_ack(broker.ctx, recipient.session, [message_id])
    broker.clock.advance(60)
    await sweeps.sweep_leases(broker.ctx)

    assert acked == 1
    assert len(recipient.connection.pushed) == 1
    assert await broker.ctx.mailbox.depth(broker.clock.now()) == 0


async def test_a_peer_cannot_ack_another_members_mail(broker: Harness) -> None:
    _ada, bob, sender, recipient = await _pair(broker)
    message_id = await broker.send(sender, bob)

    acked = await deliver.client_ack(broker.ctx, sender.session, [message_id])
    broker.clock.advance(31)
    await sweeps.sweep_leases(broker.ctx)

    assert acked == 0
    assert len(recipient.connection.pushed) == 2


async def test_without_ack_a_message_counts_as_delivered_once_written(broker: Harness) -> None:
    _ada, bob, sender, recipient = await _pair(broker, acks=False)

    await broker.send(sender, bob)
    broker.clock.advance(60)
    await sweeps.sweep_leases(broker.ctx)

    assert len(recipient.connection.pushed) == 1
    assert await broker.ctx.mailbox.depth(broker.clock.now()) == 0


async def test_unacked_mail_of_a_dropped_socket_comes_again_on_reconnect(broker: Harness) -> None:
    _ada, bob, sender, recipient = await _pair(broker)
    message_id = await broker.send(sender, bob)

    await broker.drop(recipient)
    again = await broker.connect(bob, recipient.session.session_id)

    assert [m.id for m in again.connection.pushed] == [message_id]


async def test_mail_leased_to_a_socket_lost_with_its_instance_comes_on_reconnect(
    broker: Harness,
) -> None:
    _ada, bob, sender, recipient = await _pair(broker)
    message_id = await broker.send(sender, bob)
    broker.ctx.sessions.remove(recipient.session)  # its instance crashed: no disconnect
    await broker.ctx.presences.end([recipient.presence_id], broker.clock.now())

    again = await broker.connect(bob)

    assert [m.id for m in again.connection.pushed] == [message_id]


async def test_a_push_to_a_socket_that_just_closed_is_not_lost(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    recipient = await broker.connect(bob)
    await recipient.connection.close(1006, "vanished")  # closed, not yet noticed

    await broker.send(sender, bob, "kept")
    again = await broker.connect(bob)

    assert again.connection.texts == ["kept"]


async def test_undelivered_mail_expires_after_its_ttl(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    await broker.send(sender, bob, "short", ttl_seconds=10)
    await broker.send(sender, bob, "long", ttl_seconds=100)

    broker.clock.advance(11)
    pruned = await sweeps.sweep_mailbox(broker.ctx)
    recipient = await broker.connect(bob)

    assert recipient.connection.texts == ["long"]
    assert pruned == 1
    assert broker.metrics.depth == 1


@pytest.mark.parametrize("ttl", [0, -5, 31 * 86400], ids=["zero", "negative", "over-max"])
async def test_a_ttl_outside_its_range_is_invalid(broker: Harness, ttl: int) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)

    with pytest.raises(Rejected) as refused:
        await broker.send(sender, bob, ttl_seconds=ttl)

    assert refused.value.code == "invalid"


async def test_push_latency_is_reported_from_send_to_push(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    await broker.send(sender, bob)
    broker.clock.advance(5)

    await broker.connect(bob)

    assert broker.metrics.latencies == [pytest.approx(5.001)]


async def test_content_the_store_cannot_hold_is_refused_as_invalid(broker: Harness) -> None:
    from domain.errors import InvalidInput

    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)

    async def refuse(*_: object) -> None:
        raise InvalidInput("text contains a NUL")

    broker.ctx.mailbox.enqueue = refuse  # type: ignore[method-assign]
    with pytest.raises(Rejected) as refused:
        await broker.send(sender, bob, "nul\x00")

    assert refused.value.code == "invalid"
    assert broker.metrics.counts["rejected:invalid"] == 1
