from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from adapters.memory.directory import InMemoryDirectory
from domain.errors import Conflict, InvalidInvite, NotFound
from domain.invites import Invite
from domain.model import Member
from domain.ports import InviteStore, Joiner


class InMemoryInvites(InviteStore):
    """Invites next to the in-memory directory whose members they add. `redeem` never
    suspends between its check and its writes, so it is atomic as the port asks."""

    def __init__(self, directory: InMemoryDirectory) -> None:
        self.directory = directory
        self.by_id: dict[str, Invite] = {}

    async def create_invite(self, invite: Invite) -> Invite:
        if invite.id in self.by_id or self._by_hash(invite.token_hash) is not None:
            raise Conflict("an invite with this id or token exists")
        if invite.mesh_id not in self.directory.meshes_by_id:
            raise NotFound(f"no mesh {invite.mesh_id!r}")
        self.by_id[invite.id] = invite
        return invite

    async def invites(self, mesh_id: str) -> list[Invite]:
        return [i for i in self.by_id.values() if i.mesh_id == mesh_id]

    async def revoke_invite(self, mesh_id: str, invite_id: str, now: datetime) -> Invite:
        invite = self.by_id.get(invite_id)
        if invite is None or invite.mesh_id != mesh_id:
            raise NotFound(f"no invite {invite_id!r} in this mesh")
        if invite.revoked_at is None:
            invite = self.by_id[invite_id] = replace(invite, revoked_at=now)
        return invite

    async def redeem(self, token_hash: str, joiner: Joiner, now: datetime) -> tuple[Invite, Member]:
        invite = self._by_hash(token_hash)
        if invite is None or not invite.usable(now):
            raise InvalidInvite("invalid invite")
        members = self.directory.members_by_id
        if any(m.mesh_id == invite.mesh_id and m.pubkey == joiner.pubkey for m in members.values()):
            raise Conflict("this key is already a member of that mesh")
        if joiner.member_id in members:
            raise Conflict(f"a member with id {joiner.member_id!r} exists")
        member = Member(
            joiner.member_id, invite.mesh_id, joiner.pubkey, joiner.display_name, invite.role
        )
        members[member.id] = member
        invite = self.by_id[invite.id] = replace(invite, used=invite.used + 1)
        return invite, member

    def _by_hash(self, token_hash: str) -> Invite | None:
        return next((i for i in self.by_id.values() if i.token_hash == token_hash), None)
