"""Display names for pubkeys, and pubkeys for names: the mesh's roster, cached.

`list_members` gives every unrevoked member, connected or not; a broker that does not
know the frame is asked `list_peers` instead (members with a live session only)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from adapters.wire import MemberInfo as Member
from client.errors import BrokerError, MeshpeerError
from client.peer import Peer

log = logging.getLogger("meshpeer")
REFRESH_AFTER = 60.0
UNKNOWN_RETRY = 2.0
LOOKUP_TIMEOUT = 3.0


class Names:
    def __init__(self, peer: Peer, clock: Callable[[], float] = time.monotonic) -> None:
        self._peer = peer
        self._clock = clock
        self._members: list[Member] = []
        self._fetched_at: float | None = None

    async def members(self, *, fresh: bool = False) -> list[Member]:
        """The roster; fetched again when `fresh` or older than a minute."""
        stale = self._fetched_at is None or self._clock() - self._fetched_at > REFRESH_AFTER
        if fresh or stale:
            self._members = await self._fetch()
            self._fetched_at = self._clock()
        return list(self._members)

    async def name_of(self, pubkey: str) -> str:
        """The member's display name; its pubkey's first 12 characters if unknown."""
        known = self._lookup(pubkey)
        if known is None and self._may_refresh():
            try:
                async with asyncio.timeout(LOOKUP_TIMEOUT):
                    await self.members(fresh=True)
            except (MeshpeerError, TimeoutError) as exc:
                log.info("no roster for %s… (%s)", pubkey[:12], exc)
            known = self._lookup(pubkey)
        return known or pubkey[:12]

    def _lookup(self, pubkey: str) -> str | None:
        return next((m.display_name for m in self._members if m.pubkey == pubkey), None)

    def _may_refresh(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at > UNKNOWN_RETRY

    async def _fetch(self) -> list[Member]:
        try:
            return await self._peer.list_members()
        except BrokerError as exc:
            if exc.code not in ("unknown_type", "invalid"):
                raise
            log.info("the broker has no list_members (%s): naming connected peers only", exc)
        seen: dict[str, Member] = {}
        for peer in await self._peer.list_peers():
            seen.setdefault(
                peer.pubkey, Member(peer.member_id, peer.pubkey, peer.display_name, "member")
            )
        return list(seen.values())
