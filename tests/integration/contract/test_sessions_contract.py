"""Claude Code sessions as peers, over the stores: a message for one session of a
member (`<pubkey>/<sessionId>`) is claimable by that session while its presence has
not ended, and by any session of the member once it has (domain.delivery.claimable_by);
a transient presence is marked so, in the store and in peers."""

from __future__ import annotations

from dataclasses import replace

from domain.model import Message, Priority
from domain.ports import Mailbox, PresenceStore
from tests.integration.contract.conftest import Directory
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh, message

LEASE = 30
ALL = frozenset(Priority)


async def _member(directory: Directory) -> tuple[str, str]:
    m = await directory.create_mesh(mesh())
    ada = await directory.add_member(member(m.id))
    return m.id, ada.id


async def _open(presences: PresenceStore, mesh_id: str, member_id: str, session: str) -> str:
    a = arrival(mesh_id, member_id, session)
    admitted = await presences.connect(a, capacity=100, grace_cutoff=at(-90), initial=INITIAL)
    return admitted.presence.id


async def _claim(
    mailbox: Mailbox, member_id: str, session: str | None, *, now: float = 0
) -> list[Message]:
    return await mailbox.claim(
        member_id,
        f"presence-of-{session}",
        f"conn-of-{session}",
        ALL,
        at(now),
        at(now + LEASE),
        100,
        session,
    )


async def test_a_message_for_a_live_session_goes_to_that_session_only(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    await _open(presences, mesh_id, ada, "s1")
    await _open(presences, mesh_id, ada, "s2")
    targeted = replace(message(), target_session_id="s1")
    anyone = message(created=1)
    await mailbox.enqueue(targeted, [ada])
    await mailbox.enqueue(anyone, [ada])

    by_other = await _claim(mailbox, ada, "s2")
    by_target = await _claim(mailbox, ada, "s1")

    assert by_other == [anyone]
    assert by_target == [targeted]


async def test_a_message_for_a_session_in_its_grace_window_still_waits_for_it(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    a = arrival(mesh_id, ada, "s1")
    await presences.connect(a, capacity=100, grace_cutoff=at(-90), initial=INITIAL)
    await presences.disconnect(a.connection_id, at(1))
    targeted = replace(message(), target_session_id="s1")
    await mailbox.enqueue(targeted, [ada])

    assert await _claim(mailbox, ada, "s2") == []


async def test_once_the_target_session_ends_any_session_of_the_member_takes_it(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    s1 = await _open(presences, mesh_id, ada, "s1")
    targeted = replace(message(), target_session_id="s1")
    await mailbox.enqueue(targeted, [ada])
    assert await _claim(mailbox, ada, "s2") == []

    await presences.end([s1], at(2))

    assert await _claim(mailbox, ada, "s2", now=3) == [targeted]


async def test_a_message_for_a_session_that_never_connected_goes_to_any_session(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    await _open(presences, mesh_id, ada, "s2")
    targeted = replace(message(), target_session_id="never-seen")
    await mailbox.enqueue(targeted, [ada])

    assert await _claim(mailbox, ada, "s2") == [targeted]


async def test_a_session_of_another_member_with_the_same_id_does_not_hold_it(
    directory: Directory, presences: PresenceStore, mailbox: Mailbox
) -> None:
    mesh_id, ada = await _member(directory)
    bob = (await directory.add_member(member(mesh_id, "Bob"))).id
    await _open(presences, mesh_id, bob, "s1")
    targeted = replace(message(), target_session_id="s1")
    await mailbox.enqueue(targeted, [ada])

    assert await _claim(mailbox, ada, "s2") == [targeted]


async def test_a_transient_arrival_makes_a_transient_presence_shown_so_in_peers(
    directory: Directory, presences: PresenceStore
) -> None:
    mesh_id, ada = await _member(directory)
    lasting = arrival(mesh_id, ada, "s1")
    one_shot = replace(arrival(mesh_id, ada, "s2", now=1), transient=True)

    kept = await presences.connect(lasting, capacity=100, grace_cutoff=at(-90), initial=INITIAL)
    gone = await presences.connect(one_shot, capacity=100, grace_cutoff=at(-89), initial=INITIAL)

    assert (kept.presence.transient, gone.presence.transient) == (False, True)
    assert await presences.get(gone.presence.id) == gone.presence
    assert [(p.session_id, p.transient) for p in await presences.peers(mesh_id)] == [
        ("s1", False),
        ("s2", True),
    ]


async def test_the_latest_hello_of_a_session_says_whether_it_is_transient(
    directory: Directory, presences: PresenceStore
) -> None:
    mesh_id, ada = await _member(directory)
    first = replace(arrival(mesh_id, ada, "s1"), transient=True)
    await presences.connect(first, capacity=100, grace_cutoff=at(-90), initial=INITIAL)

    again = await presences.connect(
        arrival(mesh_id, ada, "s1", now=1), capacity=100, grace_cutoff=at(-89), initial=INITIAL
    )

    assert again.replaced_connection_id == first.connection_id
    assert again.presence.transient is False
