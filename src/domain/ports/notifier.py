"""Reaching sessions on this and other instances."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from domain.errors import CloseReason
from domain.model import (
    Status,
)
from domain.receipts import Transition


class Notifier(Protocol):
    """Reaches live sessions wherever they are connected."""

    async def wake(self, member_ids: Iterable[str]) -> None:
        """These members may have claimable mail. An implementation may stop at this
        instance when a member has sessions here."""
        ...

    async def wake_everywhere(self, member_ids: Iterable[str]) -> None:
        """`wake`, on every instance that holds a session of these members, even when
        this one holds some too: the mail may be claimable by one session only (a
        message to one session, or one whose session just ended)."""
        ...

    async def kick(self, connection_id: str, reason: CloseReason) -> None:
        """Close that connection, wherever it is, and stop delivering to it."""
        ...

    async def status_changed(self, presence_id: str, member_id: str, status: Status) -> None:
        """Tell the instance that holds this presence's socket (not this one) its new
        status, so that it gates and releases mail by it."""
        ...

    async def went_idle(self, member_id: str, presence_id: str, session_id: str) -> None:
        """A session (presence) of this member is idle now: every instance, this one
        included, answers the watches open on it."""
        ...

    async def receipts(self, transitions: Sequence[Transition]) -> None:
        """Hand these receipts to their senders' sessions, wherever they are."""
        ...

    async def member_changed(self, mesh_id: str, member_id: str) -> None:
        """This member was added, revoked or otherwise changed: every instance, this one
        included, forgets the lookups it cached of it and its mesh's member list, so
        the next send or hello reads the directory."""
        ...
