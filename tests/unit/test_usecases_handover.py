"""A delivery leased in its own enqueue (ADR 0031): pushed from memory with no claim,
after the mail leased to the session before it, and to another session when its own
went away meanwhile."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from domain.model import Message, Priority, Status
from domain.usecases import connect, status
from tests.unit.harness import Harness
from tests.unit.test_hostile import WAIT, BlockedConnection


@dataclass
class Spy:
    """Counts the mailbox's claims; `after_enqueue` runs as an enqueue returns."""

    claims: int = 0
    after_enqueue: Callable[[], object] = lambda: None


@pytest.fixture
def spy(broker: Harness, monkeypatch: pytest.MonkeyPatch) -> Spy:
    mailbox, found = broker.ctx.mailbox, Spy()
    claim, enqueue = mailbox.claim, mailbox.enqueue

    async def counted(*args: Any, **kwargs: Any) -> list[Message]:
        found.claims += 1
        return await claim(*args, **kwargs)

    async def enqueued(*args: Any, **kwargs: Any) -> frozenset[str]:
        leased = await enqueue(*args, **kwargs)
        found.after_enqueue()
        return leased

    monkeypatch.setattr(mailbox, "claim", counted)
    monkeypatch.setattr(mailbox, "enqueue", enqueued)
    return found


async def test_a_message_to_a_session_that_takes_it_at_once_is_pushed_with_no_claim(
    broker: Harness, spy: Spy
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender, recipient = await broker.connect(ada), await broker.connect(bob)
    claims_at_hello = spy.claims

    await broker.send(sender, bob, "one")
    await broker.send(sender, bob, "two", Priority.NOW)

    assert recipient.connection.texts == ["one", "two"]
    assert spy.claims == claims_at_hello


async def test_held_mail_is_not_leased_and_waits_for_the_claim(broker: Harness, spy: Spy) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender, recipient = await broker.connect(ada), await broker.connect(bob)
    await status.set_status(broker.ctx, recipient.session, Status.WORKING)

    await broker.send(sender, bob, "held")
    await broker.send(sender, bob, "urgent", Priority.NOW)  # leased: `held` is not claimable
    assert recipient.connection.texts == ["urgent"]
    await status.set_status(broker.ctx, recipient.session, Status.IDLE)

    assert recipient.connection.texts == ["urgent", "held"]


async def test_mail_leased_in_the_enqueue_is_pushed_after_the_claimed_mail_in_flight(
    broker: Harness, spy: Spy
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    gate = asyncio.Event()
    slow = BlockedConnection(gate)
    welcome = await connect.hello(broker.ctx, slow, broker.hello_for(bob))
    await status.set_status(broker.ctx, welcome.session, Status.WORKING)
    await broker.send(sender, bob, "first")  # held while working
    waking = asyncio.create_task(status.set_status(broker.ctx, welcome.session, Status.IDLE))
    await asyncio.wait_for(slow.started.wait(), WAIT)  # `first` claimed, its push under way

    # `first` is leased to this very session, so `second` is leased in its enqueue.
    await broker.send(sender, bob, "second")
    gate.set()
    await asyncio.wait_for(waking, WAIT)

    assert slow.texts == ["first", "second"]


async def test_a_message_leased_to_a_session_gone_meanwhile_goes_to_another_session(
    broker: Harness, spy: Spy
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    older = await broker.connect(bob)
    newest = await broker.connect(bob)  # offered the message first
    # Its socket closes while the commit is in flight: the session leaves the registry
    # (the close's own release may have run before the lease was written).
    spy.after_enqueue = lambda: broker.ctx.sessions.remove(newest.session)

    await broker.send(sender, bob, "for bob")

    assert newest.connection.texts == []
    assert older.connection.texts == ["for bob"]
