"""A delivery leased in its own enqueue (ADR 0031, domain/mailbox_rules.py leasable):
the enqueue leases a new delivery to the session offered for it only while that
session's presence is live on that connection and none of the member's older
deliveries is claimable by it; everything else stays for the claim."""

from __future__ import annotations

from dataclasses import replace

from domain.mailbox_rules import LeaseOffer
from domain.model import Priority
from domain.ports import Mailbox, PresenceStore
from tests.integration.contract.conftest import Directory
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh, message

LEASE = 30
ALL = frozenset(Priority)
NOW_ONLY = frozenset({Priority.NOW})


async def _member(directory: Directory) -> tuple[str, str]:
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))
    return m.id, ada.id


async def _online(
    presences: PresenceStore, mesh_id: str, member_id: str, session: str
) -> LeaseOffer:
    """Open a session; the offer of a new delivery to it, one second later."""
    a = arrival(mesh_id, member_id, session)
    admitted = await presences.connect(a, capacity=100, grace_cutoff=at(-90), initial=INITIAL)
    return LeaseOffer(
        member_id=member_id,
        presence_id=admitted.presence.id,
        connection_id=a.connection_id,
        session_id=session,
        priorities=ALL,
        now=at(1),
        lease_until=at(1 + LEASE),
    )


async def _claim(mailbox: Mailbox, member_id: str, connection: str, now: float = 2) -> list[str]:
    claimed = await mailbox.claim(
        member_id, "other-presence", connection, ALL, at(now), at(now + LEASE), 100
    )
    return [m.id for m in claimed]


async def test_a_delivery_offered_to_a_live_session_with_nothing_older_is_leased_to_it(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    s1 = await _online(presences, mesh_id, ada, "s1")
    m = message(created=1)

    assert await mailbox.enqueue(m, [ada], [s1]) == frozenset({ada})
    assert await _claim(mailbox, ada, "another-connection") == []  # under its lease

    await mailbox.release(s1.connection_id)  # the socket closed before its push
    assert await _claim(mailbox, ada, "another-connection") == [m.id]


async def test_an_older_claimable_delivery_keeps_the_new_one_for_the_claim(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    s1 = await _online(presences, mesh_id, ada, "s1")
    older, newer = message(created=0), message(created=1)
    await mailbox.enqueue(older, [ada])

    assert await mailbox.enqueue(newer, [ada], [s1]) == frozenset()
    assert await _claim(mailbox, ada, s1.connection_id) == [older.id, newer.id]


async def test_older_mail_in_flight_to_the_same_session_does_not_hold_the_new_one(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    s1 = await _online(presences, mesh_id, ada, "s1")
    first, second = message(created=0), message(created=1)
    assert await mailbox.enqueue(first, [ada], [s1]) == frozenset({ada})

    assert await mailbox.enqueue(second, [ada], [s1]) == frozenset({ada})


async def test_older_mail_the_session_does_not_admit_does_not_hold_the_new_one(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    s1 = await _online(presences, mesh_id, ada, "s1")  # working: `now` only
    held, urgent = message(created=0), message(priority=Priority.NOW, created=1)
    await mailbox.enqueue(held, [ada])

    leased = await mailbox.enqueue(urgent, [ada], [replace(s1, priorities=NOW_ONLY)])

    assert leased == frozenset({ada})
    assert await _claim(mailbox, ada, "another-connection") == [held.id]


async def test_older_mail_for_another_live_session_does_not_hold_the_new_one(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    s1 = await _online(presences, mesh_id, ada, "s1")
    await _online(presences, mesh_id, ada, "s2")
    await mailbox.enqueue(replace(message(created=0), target_session_id="s2"), [ada])

    assert await mailbox.enqueue(message(created=1), [ada], [s1]) == frozenset({ada})


async def test_no_lease_for_a_session_whose_socket_is_gone(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    s1 = await _online(presences, mesh_id, ada, "s1")
    await presences.disconnect(s1.connection_id, at(0.5))  # in its grace window
    m = message(created=1)

    assert await mailbox.enqueue(m, [ada], [s1]) == frozenset()
    assert await _claim(mailbox, ada, "a-new-connection") == [m.id]


async def test_a_broadcast_leases_only_the_deliveries_offered(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    bob = (await directory.add_member(member(mesh_id, "Bob"))).id
    s1 = await _online(presences, mesh_id, ada, "s1")
    m = message(created=1)

    assert await mailbox.enqueue(m, [ada, bob], [s1]) == frozenset({ada})
    assert await _claim(mailbox, bob, "bobs-connection") == [m.id]
    assert await _claim(mailbox, ada, "another-connection") == []


async def test_older_mail_under_a_lease_that_ran_out_keeps_the_new_one_for_the_claim(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    """A lease can be written without its push (a claim whose answer was lost): once it
    ran out, that mail goes first, as the claim would take it."""
    mesh_id, ada = await _member(directory)
    s1 = await _online(presences, mesh_id, ada, "s1")
    older, newer = message(created=0), message(created=1)
    await mailbox.enqueue(older, [ada])
    await mailbox.claim(ada, "lost", "lost-connection", ALL, at(-40), at(-10), 10)

    assert await mailbox.enqueue(newer, [ada], [s1]) == frozenset()
    assert await _claim(mailbox, ada, s1.connection_id) == [older.id, newer.id]
