"""The mesh's roster (claude-code.md section 4): `list_members` and its `members`
reply, every unrevoked member connected or not, so that a peer can address (and
encrypt to) an offline member by its display name."""

from __future__ import annotations

import msgspec

from adapters import wire


class ListMembers(wire.Frame, tag="list_members"):
    id: wire.Echo = None


class Member(msgspec.Struct, rename="camel"):
    member_id: str
    pubkey: str
    display_name: str
    role: str = "member"


class Members(wire.Frame, tag="members"):
    members: list[Member]
    id: wire.Echo = None
