"""Admissions contract: a hello's writes in one step (ADR 0028), on the fake and on
Postgres (`mesh.enter_presence`)."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import CapacityExceeded, Unauthorized
from domain.model import HookSignal, Priority, Status
from domain.ports import Admissions, Arrival, Entered, Entry, Mailbox, PendingSignals, PresenceStore
from tests.integration.contract.conftest import Directory
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh, message
from tests.integration.contract.test_replay_contract import signature

ALL = frozenset(Priority)


def entry(a: Arrival, sig: str | None = None, *, capacity: int = 100) -> Entry:
    return Entry(
        arrival=a,
        capacity=capacity,
        grace_cutoff=a.now - (at(30) - at(0)),
        initial=INITIAL,
        manual_cutoff=a.now,
        signature=sig,
        keep_until=None if sig is None else at(600),
        signal_since=a.now - (at(10) - at(0)),
    )


async def _member(directory: Directory) -> tuple[str, str]:
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))
    return m.id, ada.id


async def test_a_hello_is_admitted_and_its_signature_refused_the_second_time(
    directory: Directory, admissions: Admissions, presences: PresenceStore
) -> None:
    mesh_id, ada = await _member(directory)
    sig = signature()

    entered = await admissions.enter(entry(arrival(mesh_id, ada, "s1"), sig))
    assert entered.admitted.presence.online
    assert entered.admitted.replaced_connection_id is None
    assert entered.signal is None

    replayed = arrival(mesh_id, ada, "s2")
    with pytest.raises(Unauthorized, match="already used"):
        await admissions.enter(entry(replayed, sig.upper()))
    assert await presences.connections_of(ada) == [entered.admitted.presence.connection_id]


async def test_unguarded_hellos_record_no_signature(
    directory: Directory, admissions: Admissions
) -> None:
    mesh_id, ada = await _member(directory)
    await admissions.enter(entry(arrival(mesh_id, ada, "s1")))
    second = await admissions.enter(entry(arrival(mesh_id, ada, "s2")))
    assert second.admitted.presence.online


async def test_a_refused_connect_keeps_the_signature_used(
    directory: Directory, admissions: Admissions
) -> None:
    mesh_id, ada = await _member(directory)
    await admissions.enter(entry(arrival(mesh_id, ada, "s1")))
    sig = signature()
    with pytest.raises(CapacityExceeded):
        await admissions.enter(entry(arrival(mesh_id, ada, "s2"), sig, capacity=1))
    with pytest.raises(Unauthorized, match="already used"):
        await admissions.enter(entry(arrival(mesh_id, ada, "s3"), sig, capacity=10))


async def test_leases_of_dead_connections_go_back_and_live_ones_stay(
    directory: Directory, admissions: Admissions, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    first = await admissions.enter(entry(arrival(mesh_id, ada, "s1")))
    alive = first.admitted.presence.connection_id
    assert alive is not None
    dead, kept = message(created=0), message(created=1)
    await mailbox.enqueue(dead, [ada])
    await mailbox.enqueue(kept, [ada])
    now, lease = at(1), at(60)
    assert [m.id for m in await mailbox.claim(ada, "p", "crashed", ALL, now, lease, 1)] == [dead.id]
    assert [m.id for m in await mailbox.claim(ada, "p", alive, ALL, now, lease, 1)] == [kept.id]

    second = await admissions.enter(entry(arrival(mesh_id, ada, "s2", now=2)))

    assert second.released == 1
    again = await mailbox.claim(ada, "p", "other", ALL, at(3), lease, 10)
    assert [m.id for m in again] == [dead.id]


async def test_the_sessions_newest_pending_signal_is_taken(
    directory: Directory, admissions: Admissions, signals: PendingSignals
) -> None:
    mesh_id, ada = await _member(directory)
    session = f"s-{mesh_id}"

    def report(status: Status, t: float) -> HookSignal:
        return HookSignal("/elsewhere", None, session, status, at(t))

    await signals.stash(report(Status.IDLE, 1))
    await signals.stash(report(Status.WORKING, 2))

    entered = await admissions.enter(entry(arrival(mesh_id, ada, session, now=3)))

    assert entered.signal is not None
    assert entered.signal.status is Status.WORKING
    assert entered.signal.received_at == at(2)
    assert await signals.take(session, None, "/elsewhere", at(0)) is None  # all taken


async def test_hellos_in_flight_together_each_get_their_own_outcome(
    directory: Directory, admissions: Admissions, presences: PresenceStore
) -> None:
    """On Postgres these share one statement (ADR 0028); each still gets what it would
    have got alone, in the order they came."""
    mesh_id, ada = await _member(directory)
    other_mesh, bob = await _member(directory)
    sig = signature()

    outcomes = await asyncio.gather(
        admissions.enter(entry(arrival(mesh_id, ada, "s1"), sig)),
        admissions.enter(entry(arrival(mesh_id, ada, "s2"), sig)),  # the same signature
        admissions.enter(entry(arrival(mesh_id, ada, "s3"), signature())),
        admissions.enter(entry(arrival(mesh_id, ada, "s4"), capacity=2)),  # the third
        admissions.enter(entry(arrival(other_mesh, bob, "s1"), signature())),
        return_exceptions=True,
    )

    first, replayed, third, full, elsewhere = outcomes
    assert isinstance(first, Entered) and first.admitted.presence.session_id == "s1"
    assert isinstance(replayed, Unauthorized)
    assert isinstance(third, Entered) and third.admitted.presence.online
    assert isinstance(full, CapacityExceeded)
    assert isinstance(elsewhere, Entered) and elsewhere.admitted.presence.mesh_id == other_mesh
    assert sorted(await presences.connections_of(ada)) == sorted(
        [first.admitted.presence.connection_id, third.admitted.presence.connection_id]
    )
