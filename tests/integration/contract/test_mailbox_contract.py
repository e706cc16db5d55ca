"""Mailbox contract: queue order, gating, leases, acks, pruning, depth."""

from __future__ import annotations

from datetime import timedelta

from domain.model import Priority
from domain.ports import Mailbox
from tests.integration.contract.support import at, message, new_id

ALL = frozenset(Priority)
NOW_ONLY = frozenset({Priority.NOW})
LEASE = 30


async def claim(
    mailbox: Mailbox,
    member_id: str,
    *,
    presence_id: str = "claiming-presence",
    connection_id: str = "claiming-connection",
    priorities: frozenset[Priority] = ALL,
    now: float = 0,
    limit: int = 100,
) -> list[str]:
    """The ids claimed, in the order returned."""
    messages = await mailbox.claim(
        member_id, presence_id, connection_id, priorities, at(now), at(now + LEASE), limit
    )
    return [m.id for m in messages]


async def test_claim_returns_whole_messages_in_queue_order(mailbox: Mailbox) -> None:
    member = new_id("member-")
    sent = [message(created=i) for i in range(3)]
    for m in sent:
        await mailbox.enqueue(m, [member])

    claimed = await mailbox.claim(member, "p", "c", ALL, at(10), at(10 + LEASE), 100)

    assert claimed == sent


async def test_claim_takes_at_most_limit_and_the_rest_next_time(mailbox: Mailbox) -> None:
    member = new_id("member-")
    sent = [message(created=i) for i in range(5)]
    for m in sent:
        await mailbox.enqueue(m, [member])

    first = await claim(mailbox, member, limit=2)
    rest = await claim(mailbox, member, limit=10)

    assert first == [sent[0].id, sent[1].id]
    assert rest == [m.id for m in sent[2:]]
    assert await claim(mailbox, member) == []


async def test_claim_with_no_room_or_no_priority_claims_nothing(mailbox: Mailbox) -> None:
    member = new_id("member-")
    m = message()
    await mailbox.enqueue(m, [member])

    assert await claim(mailbox, member, limit=0) == []
    assert await claim(mailbox, member, priorities=frozenset()) == []
    assert await claim(mailbox, member) == [m.id]


async def test_claim_only_admitted_priorities_and_keeps_the_rest_in_order(
    mailbox: Mailbox,
) -> None:
    member = new_id("member-")
    low = message(priority=Priority.LOW, created=0)
    now1 = message(priority=Priority.NOW, created=1)
    nxt = message(priority=Priority.NEXT, created=2)
    now2 = message(priority=Priority.NOW, created=3)
    for m in (low, now1, nxt, now2):
        await mailbox.enqueue(m, [member])

    assert await claim(mailbox, member, priorities=NOW_ONLY) == [now1.id, now2.id]
    assert await claim(mailbox, member, priorities=NOW_ONLY) == []
    assert await claim(mailbox, member) == [low.id, nxt.id]


async def test_claim_never_returns_mail_sent_by_the_claiming_presence(mailbox: Mailbox) -> None:
    member = new_id("member-")
    sender_presence = new_id("presence-")
    own = message(sender_presence_id=sender_presence)
    await mailbox.enqueue(own, [member])

    assert await claim(mailbox, member, presence_id=sender_presence) == []
    assert await claim(mailbox, member, presence_id=new_id("other-session-")) == [own.id]


async def test_claim_skips_expired_mail(mailbox: Mailbox) -> None:
    member = new_id("member-")
    short = message(ttl=5)
    long = message(ttl=3600)
    await mailbox.enqueue(short, [member])
    await mailbox.enqueue(long, [member])

    assert await claim(mailbox, member, now=5) == [long.id]  # expires_at == now: expired


async def test_claims_are_per_member(mailbox: Mailbox) -> None:
    ada, bob = new_id("ada-"), new_id("bob-")
    for_ada, for_bob = message(), message()
    await mailbox.enqueue(for_ada, [ada])
    await mailbox.enqueue(for_bob, [bob])

    assert await claim(mailbox, ada) == [for_ada.id]
    assert await claim(mailbox, bob) == [for_bob.id]


async def test_a_broadcast_is_one_message_with_a_delivery_per_member(mailbox: Mailbox) -> None:
    members = [new_id("member-") for _ in range(3)]
    m = message()
    await mailbox.enqueue(m, members)

    for member in members:
        claimed = await mailbox.claim(member, "p", "c", ALL, at(0), at(LEASE), 10)
        assert claimed == [m]


async def test_text_ids_need_not_be_uuids(mailbox: Mailbox) -> None:
    member = "not a uuid: ünï/cødé " + new_id()
    m = message()
    await mailbox.enqueue(m, [member])

    assert await claim(mailbox, member, presence_id="x", connection_id="y") == [m.id]
    assert await mailbox.ack(member, [m.id, "not-a-uuid", ""], at(1)) == 1


async def test_a_lease_is_exclusive_until_it_runs_out(mailbox: Mailbox) -> None:
    member = new_id("member-")
    m = message()
    await mailbox.enqueue(m, [member])

    assert await claim(mailbox, member, connection_id="first", now=0) == [m.id]
    assert await claim(mailbox, member, connection_id="second", now=LEASE - 1) == []
    # lease_until == now: the lease has run out
    assert await claim(mailbox, member, connection_id="second", now=LEASE) == [m.id]
    assert await claim(mailbox, member, connection_id="first", now=LEASE + 1) == []


async def test_release_frees_only_that_connections_leases(mailbox: Mailbox) -> None:
    member = new_id("member-")
    a, b = message(created=0), message(created=1)
    await mailbox.enqueue(a, [member])
    await mailbox.enqueue(b, [member])
    first, second = new_id("conn-"), new_id("conn-")
    assert await claim(mailbox, member, connection_id=first, limit=1) == [a.id]
    assert await claim(mailbox, member, connection_id=second, limit=1) == [b.id]

    await mailbox.release(first)
    await mailbox.release(new_id("unknown-conn-"))

    assert await claim(mailbox, member, connection_id=new_id("conn-"), now=1) == [a.id]


async def test_release_orphans_frees_leases_of_connections_no_longer_live(
    mailbox: Mailbox,
) -> None:
    member, other = new_id("member-"), new_id("other-")
    dead, live = message(created=0), message(created=1)
    theirs = message(created=2)
    for m in (dead, live):
        await mailbox.enqueue(m, [member])
    await mailbox.enqueue(theirs, [other])
    assert await claim(mailbox, member, connection_id="crashed", limit=1) == [dead.id]
    assert await claim(mailbox, member, connection_id="alive", limit=1) == [live.id]
    assert await claim(mailbox, other, connection_id="crashed") == [theirs.id]

    released = await mailbox.release_orphans(member, ["alive"])

    assert released == 1
    assert await claim(mailbox, member, connection_id="new") == [dead.id]
    assert await claim(mailbox, other, connection_id="new") == []


async def test_release_expired_frees_run_out_leases_and_names_their_members(
    mailbox: Mailbox,
) -> None:
    ada, bob = new_id("ada-"), new_id("bob-")
    for_ada, for_bob = message(), message()
    await mailbox.enqueue(for_ada, [ada])
    await mailbox.enqueue(for_bob, [bob])
    await mailbox.claim(ada, "p", "c-ada", ALL, at(0), at(10), 10)
    await mailbox.claim(bob, "p", "c-bob", ALL, at(0), at(100), 10)

    released = await mailbox.release_expired(at(10), timedelta(seconds=10))

    assert ada in released
    assert bob not in released
    assert await claim(mailbox, ada, now=10) == [for_ada.id]
    assert await claim(mailbox, bob, now=10) == []


async def test_release_expired_keeps_delivered_mail_delivered(mailbox: Mailbox) -> None:
    member = new_id("member-")
    m = message()
    await mailbox.enqueue(m, [member])
    await claim(mailbox, member)
    await mailbox.ack(member, [m.id], at(1))

    released = await mailbox.release_expired(at(LEASE + 1), timedelta(seconds=LEASE))

    assert member not in released
    assert await claim(mailbox, member, now=LEASE + 1) == []


async def test_ack_marks_delivered_once_and_counts(mailbox: Mailbox) -> None:
    member = new_id("member-")
    a, b = message(created=0), message(created=1)
    await mailbox.enqueue(a, [member])
    await mailbox.enqueue(b, [member])
    await claim(mailbox, member)

    assert await mailbox.ack(member, [a.id, b.id, new_id("unknown-")], at(1)) == 2
    assert await mailbox.ack(member, [a.id], at(2)) == 0
    assert await mailbox.ack(member, [], at(2)) == 0
    # even once the lease ran out, delivered mail is not offered again
    assert await claim(mailbox, member, now=LEASE + 1) == []


async def test_ack_of_unleased_mail_still_marks_it_delivered(mailbox: Mailbox) -> None:
    member = new_id("member-")
    m = message()
    await mailbox.enqueue(m, [member])

    assert await mailbox.ack(member, [m.id], at(0)) == 1
    assert await claim(mailbox, member) == []


async def test_ack_is_scoped_to_the_acking_member(mailbox: Mailbox) -> None:
    ada, bob, eve = new_id("ada-"), new_id("bob-"), new_id("eve-")
    broadcast = message()
    only_ada = message()
    await mailbox.enqueue(broadcast, [ada, bob])
    await mailbox.enqueue(only_ada, [ada])

    # eve names mail that is not hers: ignored
    assert await mailbox.ack(eve, [broadcast.id, only_ada.id], at(0)) == 0
    # bob acks his copy of the broadcast, and ada's direct message: only his copy counts
    assert await mailbox.ack(bob, [broadcast.id, only_ada.id], at(0)) == 1

    assert await claim(mailbox, ada) == [broadcast.id, only_ada.id]
    assert await claim(mailbox, bob) == []
    assert await mailbox.ack(ada, [broadcast.id, only_ada.id], at(1)) == 2


async def test_depth_counts_undelivered_unexpired_deliveries(mailbox: Mailbox) -> None:
    # The Postgres store is shared with other tests: compare with a baseline.
    before_0, before_20 = await mailbox.depth(at(0)), await mailbox.depth(at(20))
    ada, bob = new_id("ada-"), new_id("bob-")
    short = message(ttl=10)
    broadcast = message(ttl=3600)
    await mailbox.enqueue(short, [ada])
    await mailbox.enqueue(broadcast, [ada, bob])
    await claim(mailbox, ada, limit=1)  # leased mail is still undelivered

    assert await mailbox.depth(at(0)) - before_0 == 3
    assert await mailbox.depth(at(20)) - before_20 == 2

    await mailbox.ack(bob, [broadcast.id], at(1))

    assert await mailbox.depth(at(0)) - before_0 == 2
    assert await mailbox.depth(at(20)) - before_20 == 1


async def test_enqueue_to_nobody_stores_nothing(mailbox: Mailbox) -> None:
    before = await mailbox.depth(at(0))

    await mailbox.enqueue(message(), [])

    assert await mailbox.depth(at(0)) == before


async def test_prune_removes_expired_and_delivered_mail_only(mailbox: Mailbox) -> None:
    ada, bob = new_id("ada-"), new_id("bob-")
    expired = message(ttl=10, created=0)
    delivered = message(ttl=3600, created=1)
    waiting = message(ttl=3600, created=2)
    for m in (expired, delivered, waiting):
        await mailbox.enqueue(m, [ada, bob])
    await mailbox.ack(ada, [delivered.id], at(5))
    await mailbox.ack(bob, [delivered.id], at(5))
    before = await mailbox.depth(at(20))

    pruned = await mailbox.prune(at(20))

    # Two expired deliveries at least (other tests' rows may be pruned too in
    # Postgres, and the fake also counts the delivered ones it removes now).
    assert pruned >= 2
    assert await mailbox.depth(at(20)) == before
    assert await claim(mailbox, ada, now=20) == [waiting.id]
    assert await claim(mailbox, bob, now=20) == [waiting.id]
    # acking what was pruned is a no-op, acking what waits still works
    assert await mailbox.ack(ada, [expired.id, delivered.id, waiting.id], at(21)) == 1


async def test_prune_keeps_mail_that_has_not_expired(mailbox: Mailbox) -> None:
    member = new_id("member-")
    m = message(ttl=3600)
    await mailbox.enqueue(m, [member])

    await mailbox.prune(at(3599))

    assert await claim(mailbox, member, now=3599) == [m.id]
