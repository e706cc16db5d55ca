"""Claude Code sessions as peers (claude-code.md section 4): the roster, a message to
one session, and transient (one-shot) sessions."""

from __future__ import annotations

from domain.model import Role
from domain.usecases import admin, peers
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
