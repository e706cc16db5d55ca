"""PresenceStore contract: connect (new, replace, resume, lapse, capacity), the
lifecycle, heartbeats, hook lookups, statuses and peers."""

from __future__ import annotations

from dataclasses import replace

import pytest

from domain.errors import CapacityExceeded
from domain.model import Member, Mesh, PeerView, Presence, Source, Status, StatusRecord
from domain.ports import Admitted, Arrival, PresenceStore
from tests.integration.contract.conftest import Directory
from tests.integration.contract.support import INITIAL, arrival, at, member, mesh, new_id

GRACE = 90
CAPACITY = 100


async def setup_mesh(directory: Directory, members: int = 1) -> tuple[Mesh, list[Member]]:
    m = await directory.create_mesh(mesh())
    added = [await directory.add_member(member(m.id, f"Member {i}")) for i in range(members)]
    return m, added


async def connect(
    presences: PresenceStore,
    a: Arrival,
    *,
    capacity: int = CAPACITY,
    initial: StatusRecord = INITIAL,
) -> Admitted:
    grace_cutoff = a.now - (at(GRACE) - at(0))
    return await presences.connect(a, capacity=capacity, grace_cutoff=grace_cutoff, initial=initial)


def ids(presences: list[Presence], mesh_id: str) -> set[str]:
    """The ids among `presences` of this test's mesh (the Postgres store is shared)."""
    return {p.id for p in presences if p.mesh_id == mesh_id}


async def test_connect_starts_a_new_presence(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    a = arrival(m.id, ada.id, "session-1", now=5, connection_id="conn-" + new_id(), pid=None)

    admitted = await connect(presences, a)

    p = admitted.presence
    assert admitted.replaced_connection_id is None
    assert admitted.resumed is False
    assert p == Presence(
        id=p.id,
        mesh_id=m.id,
        member_id=ada.id,
        session_id="session-1",
        pid=None,
        cwd=a.cwd,
        connection_id=a.connection_id,
        status=INITIAL,
        connected_at=at(5),
    )
    assert p.online
    assert await presences.get(p.id) == p


async def test_get_of_unknown_presence_is_none(presences: PresenceStore) -> None:
    assert await presences.get(new_id()) is None
    assert await presences.get("not-a-uuid") is None


async def test_connect_of_a_live_session_replaces_its_connection(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    first = await connect(presences, arrival(m.id, ada.id, "s", now=0, pid=1, cwd="/a"))
    working = StatusRecord(Status.WORKING, Source.HOOK, at(1))
    await presences.set_status(first.presence.id, working)
    second_arrival = arrival(m.id, ada.id, "s", now=5, pid=2, cwd="/b")

    second = await connect(presences, second_arrival)

    assert second.replaced_connection_id == first.presence.connection_id
    assert second.resumed is False
    assert second.presence == replace(
        first.presence,
        pid=2,
        cwd="/b",
        connection_id=second_arrival.connection_id,
        status=working,
        connected_at=at(5),
    )
    assert await presences.get(first.presence.id) == second.presence
    # the replaced connection no longer owns the presence
    assert await presences.disconnect(first.presence.connection_id or "", at(6)) is None
    assert await presences.touch([first.presence.connection_id or ""], at(6)) == [
        first.presence.connection_id
    ]
    assert (await presences.get(first.presence.id)) == second.presence


async def test_replacing_needs_no_capacity(directory: Directory, presences: PresenceStore) -> None:
    m, [ada] = await setup_mesh(directory)
    first = await connect(presences, arrival(m.id, ada.id, "s"), capacity=1)

    second = await connect(presences, arrival(m.id, ada.id, "s", now=1), capacity=1)

    assert second.replaced_connection_id == first.presence.connection_id


async def test_connect_within_grace_resumes_the_presence(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    first = await connect(presences, arrival(m.id, ada.id, "s", now=0))
    dnd = StatusRecord(Status.DND, Source.MANUAL, at(1))
    await presences.set_status(first.presence.id, dnd)
    left = await presences.disconnect(first.presence.connection_id or "", at(10))
    assert left == replace(first.presence, connection_id=None, disconnected_at=at(10), status=dnd)
    assert left is not None and not left.online
    back_arrival = arrival(m.id, ada.id, "s", now=10 + GRACE - 1)

    back = await connect(presences, back_arrival)

    assert back.resumed is True
    assert back.replaced_connection_id is None
    assert back.presence == replace(
        first.presence,
        connection_id=back_arrival.connection_id,
        pid=back_arrival.pid,
        cwd=back_arrival.cwd,
        status=dnd,
        connected_at=at(10 + GRACE - 1),
        disconnected_at=None,
    )


async def test_connect_after_grace_ends_the_old_presence_and_starts_anew(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    first = await connect(presences, arrival(m.id, ada.id, "s", now=0))
    await presences.set_status(first.presence.id, StatusRecord(Status.DND, Source.MANUAL, at(1)))
    await presences.disconnect(first.presence.connection_id or "", at(10))

    # disconnected_at == grace_cutoff: the window has closed
    again = await connect(presences, arrival(m.id, ada.id, "s", now=10 + GRACE))

    assert again.resumed is False
    assert again.replaced_connection_id is None
    assert again.presence.id != first.presence.id
    assert again.presence.status == INITIAL
    assert await presences.get(first.presence.id) is None
    assert [p.presence_id for p in await presences.peers(m.id)] == [again.presence.id]


async def test_connect_refuses_beyond_capacity(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada, bob] = await setup_mesh(directory, members=2)
    await connect(presences, arrival(m.id, ada.id, "s1"), capacity=2)
    b = await connect(presences, arrival(m.id, bob.id, "s2"), capacity=2)

    with pytest.raises(CapacityExceeded):
        await connect(presences, arrival(m.id, ada.id, "s3", now=1), capacity=2)

    # a presence in its grace window does not count ...
    await presences.disconnect(b.presence.connection_id or "", at(2))
    third = await connect(presences, arrival(m.id, ada.id, "s3", now=3), capacity=2)
    assert third.presence.online
    # ... but resuming it needs room again
    with pytest.raises(CapacityExceeded):
        await connect(presences, arrival(m.id, bob.id, "s2", now=4), capacity=2)
    assert await presences.get(b.presence.id) is not None
    assert len(await presences.peers(m.id)) == 3


async def test_capacity_is_per_mesh(directory: Directory, presences: PresenceStore) -> None:
    m1, [ada] = await setup_mesh(directory)
    m2, [bob] = await setup_mesh(directory)
    await connect(presences, arrival(m1.id, ada.id, "s"), capacity=1)

    other = await connect(presences, arrival(m2.id, bob.id, "s"), capacity=1)

    assert other.presence.online


async def test_a_refused_connect_still_ends_a_lapsed_presence(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada, bob] = await setup_mesh(directory, members=2)
    old = await connect(presences, arrival(m.id, ada.id, "s"), capacity=1)
    await presences.disconnect(old.presence.connection_id or "", at(1))
    await connect(presences, arrival(m.id, bob.id, "s", now=2), capacity=1)

    with pytest.raises(CapacityExceeded):
        await connect(presences, arrival(m.id, ada.id, "s", now=1 + GRACE + 1), capacity=1)

    assert await presences.get(old.presence.id) is None


async def test_disconnect_starts_the_grace_window(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    a = await connect(presences, arrival(m.id, ada.id, "s"))

    left = await presences.disconnect(a.presence.connection_id or "", at(3))

    assert left == replace(a.presence, connection_id=None, disconnected_at=at(3))
    assert await presences.get(a.presence.id) == left
    assert await presences.disconnect(a.presence.connection_id or "", at(4)) is None
    assert await presences.disconnect(new_id("unknown-"), at(4)) is None


async def test_end_ends_presences_at_once(directory: Directory, presences: PresenceStore) -> None:
    m, [ada] = await setup_mesh(directory)
    a = await connect(presences, arrival(m.id, ada.id, "s1", token_hash="t-" + new_id()))
    b = await connect(presences, arrival(m.id, ada.id, "s2"))

    await presences.end([a.presence.id, new_id("unknown-")], at(1))
    await presences.end([], at(1))

    assert await presences.get(a.presence.id) is None
    assert await presences.get(b.presence.id) == b.presence
    assert [p.presence_id for p in await presences.peers(m.id)] == [b.presence.id]
    assert await presences.disconnect(a.presence.connection_id or "", at(2)) is None


async def test_end_member_ends_all_of_its_presences_and_returns_them(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada, bob] = await setup_mesh(directory, members=2)
    a1 = await connect(presences, arrival(m.id, ada.id, "s1", now=0))
    a2 = await connect(presences, arrival(m.id, ada.id, "s2", now=1))
    await presences.disconnect(a2.presence.connection_id or "", at(2))
    b = await connect(presences, arrival(m.id, bob.id, "s1", now=0))

    ended = await presences.end_member(ada.id, at(3))

    # returned as they were when they ended (the in-memory store's behaviour)
    assert sorted(ended, key=lambda p: p.session_id) == [
        a1.presence,
        replace(a2.presence, connection_id=None, disconnected_at=at(2)),
    ]
    assert await presences.get(a1.presence.id) is None
    assert await presences.get(a2.presence.id) is None
    assert await presences.get(b.presence.id) == b.presence
    assert await presences.end_member(ada.id, at(4)) == []


async def test_end_lapsed_ends_expired_grace_and_silent_instances(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    lapsed = await connect(presences, arrival(m.id, ada.id, "lapsed", now=0))
    in_grace = await connect(presences, arrival(m.id, ada.id, "in-grace", now=0))
    silent = await connect(presences, arrival(m.id, ada.id, "silent", now=0))
    alive = await connect(presences, arrival(m.id, ada.id, "alive", now=0))
    late = await connect(presences, arrival(m.id, ada.id, "late", now=80))
    await presences.disconnect(lapsed.presence.connection_id or "", at(10))
    await presences.disconnect(in_grace.presence.connection_id or "", at(100))
    gone = await presences.touch([alive.presence.connection_id or ""], at(80))
    assert gone == []

    ended = await presences.end_lapsed(grace_cutoff=at(90), stale_cutoff=at(75), now=at(101))

    assert ids(ended, m.id) == {lapsed.presence.id, silent.presence.id}
    for p in (lapsed, silent):
        assert await presences.get(p.presence.id) is None
    for p in (in_grace, alive, late):
        assert await presences.get(p.presence.id) is not None


async def test_end_lapsed_uses_strict_cutoffs(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    on_the_edge = await connect(presences, arrival(m.id, ada.id, "edge", now=75))
    left = await connect(presences, arrival(m.id, ada.id, "left", now=0))
    await presences.disconnect(left.presence.connection_id or "", at(90))

    ended = await presences.end_lapsed(grace_cutoff=at(90), stale_cutoff=at(75), now=at(100))

    assert ids(ended, m.id) == set()
    assert await presences.get(on_the_edge.presence.id) is not None


async def test_connections_of_names_the_members_online_connections_only(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada, bob] = await setup_mesh(directory, 2)
    online = await connect(presences, arrival(m.id, ada.id, "online", now=0))
    away = await connect(presences, arrival(m.id, ada.id, "away", now=0))
    ended = await connect(presences, arrival(m.id, ada.id, "ended", now=0))
    await connect(presences, arrival(m.id, bob.id, "bobs", now=0))
    await presences.disconnect(away.presence.connection_id or "", at(1))
    await presences.end([ended.presence.id], at(1))

    connections = await presences.connections_of(ada.id)

    assert connections == [online.presence.connection_id]


async def test_touch_refreshes_live_connections_and_returns_the_gone_ones(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    live = await connect(presences, arrival(m.id, ada.id, "live", now=0))
    left = await connect(presences, arrival(m.id, ada.id, "left", now=0))
    ended = await connect(presences, arrival(m.id, ada.id, "ended", now=0))
    await presences.disconnect(left.presence.connection_id or "", at(1))
    await presences.end([ended.presence.id], at(1))
    unknown = new_id("unknown-")
    conns = [
        unknown,
        live.presence.connection_id or "",
        left.presence.connection_id or "",
        ended.presence.connection_id or "",
    ]

    gone = await presences.touch(conns, at(60))

    assert gone == [unknown, conns[2], conns[3]]
    assert await presences.touch([], at(60)) == []
    lapsed = await presences.end_lapsed(grace_cutoff=at(0), stale_cutoff=at(59), now=at(61))
    assert live.presence.id not in ids(lapsed, m.id)


async def test_by_hook_token_finds_the_presence_the_token_was_issued_to(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    first_hash, second_hash = new_id("hash-"), new_id("hash-")
    a = await connect(presences, arrival(m.id, ada.id, "s", token_hash=first_hash))

    assert await presences.by_hook_token(first_hash) == a.presence
    assert await presences.by_hook_token(new_id("hash-")) is None

    # a replacement issues a new token; the old one stops working
    b = await connect(presences, arrival(m.id, ada.id, "s", now=1, token_hash=second_hash))
    assert await presences.by_hook_token(first_hash) is None
    assert await presences.by_hook_token(second_hash) == b.presence

    # a presence in grace still answers to its token; an ended one does not
    await presences.disconnect(b.presence.connection_id or "", at(2))
    found = await presences.by_hook_token(second_hash)
    assert found is not None and found.id == a.presence.id
    await presences.end([a.presence.id], at(3))
    assert await presences.by_hook_token(second_hash) is None


async def test_hook_candidates_match_session_or_cwd_newest_first(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada, bob] = await setup_mesh(directory, members=2)
    session, cwd = new_id("session-"), "/work/" + new_id()
    by_cwd_old = await connect(presences, arrival(m.id, ada.id, new_id(), now=1, cwd=cwd))
    by_session = await connect(presences, arrival(m.id, bob.id, session, now=2, cwd="/x"))
    by_cwd_new = await connect(presences, arrival(m.id, bob.id, new_id(), now=3, cwd=cwd))
    ended = await connect(presences, arrival(m.id, ada.id, new_id(), now=4, cwd=cwd))
    await presences.end([ended.presence.id], at(5))
    in_grace = await connect(presences, arrival(m.id, ada.id, new_id(), now=0, cwd=cwd))
    await presences.disconnect(in_grace.presence.connection_id or "", at(5))
    await connect(presences, arrival(m.id, ada.id, new_id(), now=6, cwd="/elsewhere"))

    found = await presences.hook_candidates(session, cwd)

    assert [p.id for p in found] == [
        by_cwd_new.presence.id,
        by_session.presence.id,
        by_cwd_old.presence.id,
        in_grace.presence.id,
    ]
    without_session = await presences.hook_candidates(None, cwd)
    assert [p.id for p in without_session] == [
        by_cwd_new.presence.id,
        by_cwd_old.presence.id,
        in_grace.presence.id,
    ]
    assert await presences.hook_candidates(new_id(), "/nowhere/" + new_id()) == []


async def test_set_status_records_the_status(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    a = await connect(presences, arrival(m.id, ada.id, "s"))
    record = StatusRecord(Status.WORKING, Source.JSONL, at(7))

    await presences.set_status(a.presence.id, record)

    assert await presences.get(a.presence.id) == replace(a.presence, status=record)


async def test_set_status_records_waiting_and_peers_show_it(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    a = await connect(presences, arrival(m.id, ada.id, "s"))
    record = StatusRecord(Status.WAITING, Source.HOOK, at(7))

    await presences.set_status(a.presence.id, record)

    assert await presences.get(a.presence.id) == replace(a.presence, status=record)
    assert [p.status for p in await presences.peers(m.id)] == [Status.WAITING]


async def test_set_status_of_an_ended_or_unknown_presence_does_nothing(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    a = await connect(presences, arrival(m.id, ada.id, "s"))
    await presences.end([a.presence.id], at(1))

    await presences.set_status(a.presence.id, StatusRecord(Status.DND, Source.MANUAL, at(2)))
    await presences.set_status(new_id(), StatusRecord(Status.DND, Source.MANUAL, at(2)))

    assert await presences.get(a.presence.id) is None


async def test_flip_stuck_flips_only_long_working_sessions(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada] = await setup_mesh(directory)
    statuses = {
        "stuck": StatusRecord(Status.WORKING, Source.HOOK, at(0)),
        "fresh": StatusRecord(Status.WORKING, Source.HOOK, at(50)),
        "edge": StatusRecord(Status.WORKING, Source.MANUAL, at(10)),
        "dnd": StatusRecord(Status.DND, Source.MANUAL, at(0)),
        "idle": StatusRecord(Status.IDLE, Source.HOOK, at(0)),
        "waiting": StatusRecord(Status.WAITING, Source.HOOK, at(0)),
    }
    made = {}
    for name, record in statuses.items():
        a = await connect(presences, arrival(m.id, ada.id, name))
        await presences.set_status(a.presence.id, record)
        made[name] = replace(a.presence, status=record)
    ended = await connect(presences, arrival(m.id, ada.id, "ended"))
    await presences.set_status(ended.presence.id, statuses["stuck"])
    await presences.end([ended.presence.id], at(1))
    flipped_to = StatusRecord(Status.IDLE, Source.JSONL, at(70))

    flipped = await presences.flip_stuck(at(10), flipped_to)

    mine = [p for p in flipped if p.mesh_id == m.id]
    assert mine == [replace(made["stuck"], status=flipped_to)]
    assert await presences.get(made["stuck"].id) == mine[0]
    for name in ("fresh", "edge", "dnd", "idle", "waiting"):
        assert await presences.get(made[name].id) == made[name]


async def test_peers_lists_the_unended_presences_of_the_mesh(
    directory: Directory, presences: PresenceStore
) -> None:
    m, [ada, bob] = await setup_mesh(directory, members=2)
    other_mesh, [eve] = await setup_mesh(directory)
    a = await connect(presences, arrival(m.id, ada.id, "a", now=2))
    b = await connect(presences, arrival(m.id, bob.id, "b", now=1))
    gone = await connect(presences, arrival(m.id, bob.id, "gone", now=3))
    await connect(presences, arrival(other_mesh.id, eve.id, "e", now=0))
    await presences.set_status(a.presence.id, StatusRecord(Status.WORKING, Source.HOOK, at(4)))
    await presences.disconnect(b.presence.connection_id or "", at(5))
    await presences.end([gone.presence.id], at(5))

    peers = await presences.peers(m.id)

    assert peers == [
        PeerView(
            bob.id, bob.pubkey, bob.display_name, b.presence.id, "b", Status.IDLE, False, at(1)
        ),
        PeerView(
            ada.id, ada.pubkey, ada.display_name, a.presence.id, "a", Status.WORKING, True, at(2)
        ),
    ]
    assert await presences.peers(new_id("no-such-mesh-")) == []
