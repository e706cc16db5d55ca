"""Claude Code sessions as peers (claude-code.md section 4): the roster, a message to
one session, and transient (one-shot) sessions."""

from __future__ import annotations

import pytest

from domain.errors import Rejected
from domain.model import Priority, Role, Status
from domain.usecases import admin, peers, status, sweeps
from domain.usecases.status import HookReport, hook_set_status
from tests.unit.harness import Harness

# ---------------------------------------------------------------- the roster


async def test_list_members_names_every_unrevoked_member_connected_or_not(
    broker: Harness,
) -> None:
    ada, bob, cy = [await broker.peer(n) for n in ("ada", "bob", "cy")]
    other = await admin.create_mesh(broker.ctx, "elsewhere")
    await broker.peer("eve", other)
    await admin.revoke_member(broker.ctx, broker.mesh.slug, cy.member.id)
    me = await broker.connect(ada)

    roster = await peers.list_members(broker.ctx, me.session)

    assert [(m.display_name, m.pubkey, m.role) for m in roster] == [
        ("ada", ada.pubkey, Role.MEMBER),
        ("bob", bob.pubkey, Role.MEMBER),
    ]


async def test_list_members_sees_a_member_added_after_it_was_asked(broker: Harness) -> None:
    me = await broker.connect(await broker.peer("ada"))
    await peers.list_members(broker.ctx, me.session)

    await broker.peer("bob")
    roster = await peers.list_members(broker.ctx, me.session)

    assert [m.display_name for m in roster] == ["ada", "bob"]


# ---------------------------------------------------------------- a message to one session


async def test_a_message_to_one_session_reaches_that_session_not_the_newest(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    older = await broker.connect(bob, "bob-1")
    newer = await broker.connect(bob, "bob-2")

    await broker.send(sender, f"{bob.pubkey}/bob-1", "for bob-1")
    await broker.send(sender, bob, "for any")

    assert older.connection.texts == ["for bob-1"]
    assert newer.connection.texts == ["for any"]


async def test_a_message_to_a_busy_session_is_held_for_it_not_given_to_another(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    busy = await broker.connect(bob, "bob-1")
    other = await broker.connect(bob, "bob-2")
    await status.set_status(broker.ctx, busy.session, Status.WAITING)

    await broker.send(sender, f"{bob.pubkey}/bob-1", "later", Priority.NEXT)
    assert (busy.connection.texts, other.connection.texts) == ([], [])
    await status.set_status(broker.ctx, busy.session, Status.IDLE)

    assert (busy.connection.texts, other.connection.texts) == (["later"], [])


async def test_a_message_to_a_session_that_ends_falls_back_to_the_members_others(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    gone = await broker.connect(bob, "bob-1")
    other = await broker.connect(bob, "bob-2")
    await status.set_status(broker.ctx, gone.session, Status.WORKING)
    await broker.send(sender, f"{bob.pubkey}/bob-1", "for bob-1")
    await broker.drop(gone)

    broker.clock.advance(89)
    await sweeps.heartbeat(broker.ctx)
    await sweeps.sweep_presences(broker.ctx)
    in_grace = list(other.connection.texts)
    broker.clock.advance(2)
    await sweeps.heartbeat(broker.ctx)
    ended = await sweeps.sweep_presences(broker.ctx)

    assert in_grace == []
    assert ended == 1
    assert other.connection.texts == ["for bob-1"]


async def test_a_message_to_a_session_resumed_in_its_grace_window_reaches_it(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    dropped = await broker.connect(bob, "bob-1")
    other = await broker.connect(bob, "bob-2")
    await broker.drop(dropped)
    await broker.send(sender, f"{bob.pubkey}/bob-1", "for bob-1")

    broker.clock.advance(30)
    back = await broker.connect(bob, "bob-1")

    assert back.connection.texts == ["for bob-1"]
    assert other.connection.texts == []


async def test_a_message_to_a_session_of_an_offline_member_waits_for_any_session(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)

    await broker.send(sender, f"{bob.pubkey}/never-connected", "hello")
    later = await broker.connect(bob, "bob-9")

    assert later.connection.texts == ["hello"]


@pytest.mark.parametrize(
    ("target", "code"),
    [
        pytest.param("ab" * 32 + "/s1", "no_recipient", id="unknown-member"),
        pytest.param("ab" * 32 + "/", "unsupported_target", id="empty-session"),
        pytest.param("ab" * 32 + "/" + "s" * 257, "unsupported_target", id="session-too-long"),
        pytest.param("bob/s1", "unsupported_target", id="not-a-pubkey"),
        pytest.param("*/s1", "unsupported_target", id="broadcast-to-a-session"),
    ],
)
async def test_a_send_to_a_bad_session_target_is_refused(
    broker: Harness, target: str, code: str
) -> None:
    sender = await broker.connect(await broker.peer("ada"))

    with pytest.raises(Rejected) as refused:
        await broker.send(sender, target)

    assert refused.value.code == code
    assert await broker.ctx.mailbox.depth(broker.clock.now()) == 0


# ---------------------------------------------------------------- transient sessions


async def test_a_transient_session_is_listed_to_itself_only(broker: Harness) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    lasting = await broker.connect(bob, "bob-claude")
    one_shot = await broker.connect(ada, "ada-send", transient=True)

    seen_by_bob = await peers.list_peers(broker.ctx, lasting.session)
    seen_by_itself = await peers.list_peers(broker.ctx, one_shot.session)

    assert [p.session_id for p in seen_by_bob] == ["bob-claude"]
    assert [p.session_id for p in seen_by_itself] == ["bob-claude", "ada-send"]


async def test_a_transient_session_ends_when_its_socket_closes_with_no_grace(
    broker: Harness,
) -> None:
    ada = await broker.peer("ada")
    one_shot = await broker.connect(ada, "ada-send", transient=True)
    lasting = await broker.connect(ada, "ada-claude")

    await broker.drop(one_shot)
    await broker.drop(lasting)

    assert await broker.ctx.presences.get(one_shot.presence_id) is None
    assert await broker.ctx.presences.get(lasting.presence_id) is not None


async def test_mail_for_a_transient_session_goes_to_the_others_once_it_closes(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    claude = await broker.connect(bob, "bob-claude")
    one_shot = await broker.connect(bob, "bob-send", transient=True)
    await status.set_status(broker.ctx, one_shot.session, Status.WORKING)
    await broker.send(sender, f"{bob.pubkey}/bob-send", "for the one-shot")
    assert claude.connection.texts == []

    await broker.drop(one_shot)

    assert claude.connection.texts == ["for the one-shot"]


async def test_a_transient_session_is_pushed_no_mail_its_members_lasting_ones_are(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    claude = await broker.connect(bob, "bob-claude")
    await status.set_status(broker.ctx, claude.session, Status.WORKING)
    one_shot = await broker.connect(bob, "bob-send", transient=True)

    await broker.send(sender, bob, "later", Priority.NEXT)
    await broker.send(sender, bob, "urgent", Priority.NOW)
    await status.set_status(broker.ctx, claude.session, Status.IDLE)

    assert one_shot.connection.texts == []
    assert claude.connection.texts == ["urgent", "later"]


async def test_mail_for_a_member_with_only_a_transient_session_waits_for_a_lasting_one(
    broker: Harness,
) -> None:
    ada, bob = await broker.peer("ada"), await broker.peer("bob")
    sender = await broker.connect(ada)
    one_shot = await broker.connect(bob, "bob-send", transient=True)
    await broker.send(sender, bob, "hi")

    claude = await broker.connect(bob, "bob-claude")

    assert one_shot.connection.texts == []
    assert claude.connection.texts == ["hi"]


async def test_a_hook_guessing_by_cwd_never_lands_on_a_transient_session(
    broker: Harness,
) -> None:
    ada = await broker.peer("ada")
    claude = await broker.connect(ada, "ada-claude", pid=100)
    one_shot = await broker.connect(ada, "ada-send", transient=True, pid=200)

    by_pid = await hook_set_status(
        broker.ctx, HookReport("/home/ada/proj", 200, Status.WORKING), None
    )
    by_cwd = await hook_set_status(
        broker.ctx, HookReport("/home/ada/proj", None, Status.WORKING), None
    )

    assert by_pid.presence_id == claude.presence_id
    assert by_cwd.presence_id == claude.presence_id
    assert await broker.status_of(one_shot) is Status.IDLE


async def test_the_heartbeat_reports_this_instances_sessions_by_status(broker: Harness) -> None:
    ada = await broker.peer("ada")
    waiting = await broker.connect(ada)
    await broker.connect(ada)
    await status.set_status(broker.ctx, waiting.session, Status.WAITING)

    await sweeps.heartbeat(broker.ctx)

    assert broker.metrics.by_status == {
        Status.IDLE: 1,
        Status.WORKING: 0,
        Status.DND: 0,
        Status.WAITING: 1,
    }
