"""Status reports, hooks, sweeps, peers and revocation, seen through the use cases."""

from __future__ import annotations

import pytest

from domain.errors import NotFound, RateLimited, Unauthorized
from domain.model import Source, Status
from domain.policy import HookAuth, Policy
from domain.usecases import admin, peers, status, sweeps
from domain.usecases.status import HookReport, hook_set_status
from tests.unit.harness import Harness

CWD = "/home/ada/proj"


async def test_set_status_replies_with_the_recorded_source(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))

    record = await status.set_status(broker.ctx, client.session, Status.DND)

    assert (record.status, record.source) == (Status.DND, Source.MANUAL)


async def test_a_hook_never_overrides_dnd_but_names_the_presence(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))
    await status.set_status(broker.ctx, client.session, Status.DND)

    outcome = await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WORKING), None)

    assert outcome.presence_id == client.presence_id
    assert await broker.status_of(client) is Status.DND


async def test_a_hook_finds_its_session_by_session_id_first(broker: Harness) -> None:
    ada = await broker.peer("ada")
    mine = await broker.connect(ada, "mine", cwd="/a")
    await broker.connect(ada, "other", cwd="/a")

    outcome = await hook_set_status(broker.ctx, HookReport("/a", 1, Status.WORKING, "mine"), None)

    assert outcome.presence_id == mine.presence_id


async def test_a_hook_falls_back_to_pid_and_cwd(broker: Harness) -> None:
    ada = await broker.peer("ada")
    mine = await broker.connect(ada, pid=7, cwd="/a")
    await broker.connect(ada, pid=8, cwd="/a")

    outcome = await hook_set_status(broker.ctx, HookReport("/a", 7, Status.WORKING), None)

    assert outcome.presence_id == mine.presence_id


async def test_a_hook_token_names_its_presence_exactly(broker: Harness) -> None:
    ada = await broker.peer("ada")
    mine = await broker.connect(ada, cwd="/a")
    await broker.connect(ada, cwd="/a")

    report = HookReport("/elsewhere", None, Status.WORKING)
    outcome = await hook_set_status(broker.ctx, report, mine.hook_token)

    assert outcome.presence_id == mine.presence_id
    assert await broker.status_of(mine) is Status.WORKING


async def test_an_invalid_hook_token_is_unauthorized_even_when_hooks_are_open(
    broker: Harness,
) -> None:
    await broker.connect(await broker.peer("ada"))

    with pytest.raises(Unauthorized):
        await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WORKING), "forged")


async def test_token_mode_refuses_a_hook_without_a_token() -> None:
    broker = await Harness(Policy(hook_auth=HookAuth.TOKEN)).start()
    client = await broker.connect(await broker.peer("ada"))

    with pytest.raises(Unauthorized):
        await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WORKING), None)
    await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WORKING), client.hook_token)

    assert await broker.status_of(client) is Status.WORKING


async def test_a_token_of_an_ended_session_is_refused(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))
    await admin.revoke_member(broker.ctx, broker.mesh.id, client.peer.member.id)

    with pytest.raises(Unauthorized):
        await hook_set_status(broker.ctx, HookReport(CWD, 1, Status.IDLE), client.hook_token)


async def test_hooks_beyond_the_per_pid_and_cwd_budget_are_rate_limited(broker: Harness) -> None:
    await broker.connect(await broker.peer("ada"))
    for _ in range(30):
        await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WORKING), None)

    with pytest.raises(RateLimited):
        await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WORKING), None)
    await hook_set_status(broker.ctx, HookReport(CWD, 4343, Status.WORKING), None)

    assert broker.metrics.counts["hook_rate_limited"] == 1
    assert broker.metrics.counts["hook_requests"] == 32


async def test_the_ttl_sweep_flips_stuck_working_to_idle_but_never_dnd(broker: Harness) -> None:
    ada = await broker.peer("ada")
    busy, quiet = await broker.connect(ada), await broker.connect(ada)
    await status.set_status(broker.ctx, busy.session, Status.WORKING)
    await status.set_status(broker.ctx, quiet.session, Status.DND)

    broker.clock.advance(59)
    assert await sweeps.sweep_stuck_working(broker.ctx) == 0
    broker.clock.advance(2)
    flipped = await sweeps.sweep_stuck_working(broker.ctx)

    assert flipped == 1
    assert (await broker.status_of(busy), await broker.status_of(quiet)) == (
        Status.IDLE,
        Status.DND,
    )
    assert busy.session.status is Status.IDLE
    assert broker.metrics.counts["ttl_sweep:false"] == 1
    assert broker.metrics.counts["ttl_sweep:true"] == 1


async def test_the_ttl_sweep_never_flips_a_session_waiting_on_a_person(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))
    await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WAITING), None)

    broker.clock.advance(3 * 3600)
    flipped = await sweeps.sweep_stuck_working(broker.ctx)

    assert flipped == 0
    assert await broker.status_of(client) is Status.WAITING
    assert client.session.status is Status.WAITING


async def test_a_hook_waiting_never_overrides_dnd(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))
    await status.set_status(broker.ctx, client.session, Status.DND)

    outcome = await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WAITING), None)

    assert outcome.presence_id == client.presence_id
    assert await broker.status_of(client) is Status.DND


async def test_waiting_is_shown_in_list_peers(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))
    await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WAITING), None)

    listed = await peers.list_peers(broker.ctx, client.session)

    assert [p.status for p in listed] == [Status.WAITING]


async def test_a_waiting_hook_before_the_session_connects_applies_on_hello(
    broker: Harness,
) -> None:
    ada = await broker.peer("ada")
    await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WAITING, "s-1"), None)

    client = await broker.connect(ada, "s-1")

    assert client.session.status is Status.WAITING


async def test_a_working_hook_that_keeps_coming_is_never_flipped(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))
    for _ in range(5):
        await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.WORKING), None)
        broker.clock.advance(50)
        await sweeps.sweep_stuck_working(broker.ctx)

    assert await broker.status_of(client) is Status.WORKING


async def test_transcript_inference_sets_status_unless_a_fresh_hook_said_otherwise(
    broker: Harness,
) -> None:
    client = await broker.connect(await broker.peer("ada"))
    broker.ctx.inferrer.by_cwd[CWD] = Status.WORKING  # type: ignore[attr-defined]
    await hook_set_status(broker.ctx, HookReport(CWD, 4242, Status.IDLE), None)

    broker.clock.advance(10)
    await sweeps.infer_statuses(broker.ctx)
    assert await broker.status_of(client) is Status.IDLE
    broker.clock.advance(25)
    changed = await sweeps.infer_statuses(broker.ctx)

    assert changed == 1
    assert await broker.status_of(client) is Status.WORKING


async def test_list_peers_shows_every_unended_presence_of_the_mesh_only(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    other = await admin.create_mesh(broker.ctx, "elsewhere")
    eve = await broker.peer("eve", other)
    me, away = await broker.connect(ada), await broker.connect(bob)
    await broker.connect(eve)
    await broker.drop(away)

    listed = await peers.list_peers(broker.ctx, me.session)

    assert [(p.display_name, p.online) for p in listed] == [("ada", True), ("bob", False)]


async def test_a_presence_left_behind_without_heartbeat_ends(broker: Harness) -> None:
    ada = await broker.peer("ada")
    alive, orphan = await broker.connect(ada), await broker.connect(ada)
    broker.ctx.sessions.remove(orphan.session)  # as if its instance crashed

    broker.clock.advance(60)
    await sweeps.heartbeat(broker.ctx)
    broker.clock.advance(20)
    ended = await sweeps.sweep_presences(broker.ctx)

    assert ended == 1
    listed = await peers.list_peers(broker.ctx, alive.session)
    assert [p.presence_id for p in listed] == [alive.presence_id]


async def test_the_heartbeat_closes_a_socket_whose_presence_has_ended(broker: Harness) -> None:
    client = await broker.connect(await broker.peer("ada"))
    await broker.ctx.presences.end([client.presence_id], broker.clock.now())

    closed = await sweeps.heartbeat(broker.ctx)

    assert closed == 1
    assert client.connection.closed is not None
    assert client.connection.closed[0] == 1001


async def test_revoking_a_member_closes_its_sockets_and_refuses_its_hello(
    broker: Harness,
) -> None:
    ada = await broker.peer("ada")
    client = await broker.connect(ada)

    revoked = await admin.revoke_member(broker.ctx, broker.mesh.slug, ada.member.id)

    assert revoked.revoked_at == broker.clock.now()
    assert client.connection.closed == (1008, "revoked")
    with pytest.raises(Unauthorized):
        await broker.connect(ada)


async def test_revoking_an_unknown_member_says_so(broker: Harness) -> None:
    with pytest.raises(NotFound):
        await admin.revoke_member(broker.ctx, broker.mesh.slug, "nobody")


async def test_mesh_list_counts_members_and_live_presences(broker: Harness) -> None:
    ada, _bob = await broker.peer("ada"), await broker.peer("bob")
    await broker.connect(ada)

    [summary] = await admin.list_meshes(broker.ctx)

    assert (summary.mesh.slug, summary.members, summary.online) == ("team", 2, 1)


async def test_stale_pending_signals_and_idle_buckets_are_forgotten(broker: Harness) -> None:
    await hook_set_status(broker.ctx, HookReport(CWD, 1, Status.WORKING), None)

    broker.clock.advance(120)
    purged = await sweeps.sweep_guards(broker.ctx)

    assert purged == 2  # one signal, one full hook bucket
    assert len(broker.ctx.hook_buckets) == 0
