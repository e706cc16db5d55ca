"""Whom a tool's `to` argument names: a member's display name (any case, offline
members too), its pubkey, name/sessionId or a sessionId for one session, or `*` for
every other member; refused, with the names to choose from, when it names no one or
several members."""

from __future__ import annotations

from client.crypto import OpenError, x25519_public
from client.mcp.answers import Refused
from client.mcp.link import Connected
from client.peer import PUBKEY
from protocol.wire import MemberInfo as Member


async def resolve_to(connected: Connected, to: str, *, fresh: bool) -> tuple[str, list[Member]]:
    """The wire target and the members a `to` argument names; Refused if no one or
    several (a name shared by two members)."""
    members = await connected.names.members(fresh=fresh or to == "*")
    me = connected.config.identity.pubkey
    if to == "*":
        return "*", [m for m in members if m.pubkey != me]
    if "/" in to:
        head, session = to.split("/", 1)
        if not session:
            raise Refused(f"{to!r}: name/sessionId needs a session id after the '/'")
        member = _member(head, members)
        return f"{member.pubkey}/{session}", [member]
    if PUBKEY.fullmatch(to):
        return to, [_member(to, members)]
    named = named_like(to, members)
    if len(named) == 1:
        return named[0].pubkey, named
    if not named:
        for peer in await connected.peer.list_peers():
            if peer.session_id == to:
                member = _member(peer.pubkey, members)
                return f"{peer.pubkey}/{peer.session_id}", [member]
    raise Refused(not_one(to, named, members))


def _member(who: str, members: list[Member]) -> Member:
    if PUBKEY.fullmatch(who):
        found = next((m for m in members if m.pubkey == who), None)
        if found is not None:
            return found
        try:
            x25519_public(who)
        except OpenError:
            raise Refused(f"{who!r} is not a valid member pubkey") from None
        return Member(member_id="", pubkey=who, display_name=who[:12], role="member")
    named = named_like(who, members)
    if len(named) != 1:
        raise Refused(not_one(who, named, members))
    return named[0]


def named_like(name: str, members: list[Member]) -> list[Member]:
    folded = name.casefold()
    return [m for m in members if m.display_name.casefold() == folded]


def not_one(name: str, named: list[Member], members: list[Member]) -> str:
    if named:
        keys = ", ".join(f"{m.display_name} ({m.pubkey})" for m in named)
        return f"several members are named {name!r}: {keys}. Send to one of them by pubkey."
    names = ", ".join(sorted({m.display_name for m in members})) or "none"
    return (
        f"no member of this mesh is named {name!r} (names compare case-insensitively). "
        f"Members: {names}. Use one of these names, a pubkey, or * for everyone."
    )
