"""Member lookups remembered for a few seconds, so a steady stream of sends costs no
directory query (issue 7; docs/adr/0018-member-cache.md).

`CachingDirectory` decorates any MemberDirectory. It keeps found members (by pubkey and
by id) and whole member lists, each for at most `max_age` by the Clock port, in one LRU
bounded by `max_weight` (a member counts 1, a list its length + 1). A miss is never kept:
a member just added is found at once. Writes go around it (MeshAdmin is not wrapped);
whoever changes a member tells every instance through the Notifier (`member_changed`),
and the notifier calls `forget` here. While the notifier cannot hear other instances
(its LISTEN connection is down) it calls `suspend`, and the cache keeps nothing until
`resume`: an invalidation missed meanwhile cannot leave a stale entry behind."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar, cast

from domain.model import Member
from domain.ports import Clock, MemberDirectory

DEFAULT_MAX_AGE = timedelta(seconds=5)
DEFAULT_MAX_WEIGHT = 10_000

# (kind, mesh_id, pubkey or member id); kind "pk": by pubkey, "id": by id, "all": the list
_Key = tuple[str, str, str]
_Value = Member | tuple[Member, ...]
_V = TypeVar("_V", Member | None, tuple[Member, ...])


@dataclass(slots=True)
class _Entry:
    value: _Value
    stored_at: datetime
    weight: int


class CachingDirectory(MemberDirectory):
    def __init__(
        self,
        inner: MemberDirectory,
        clock: Clock,
        max_age: timedelta = DEFAULT_MAX_AGE,
        max_weight: int = DEFAULT_MAX_WEIGHT,
        *,
        live: bool = True,
    ) -> None:
        self.inner = inner
        self.clock = clock
        self.max_age = max_age
        self.max_weight = max_weight
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[_Key, _Entry] = OrderedDict()
        self._weight = 0
        # Bumped by every forget/suspend/resume: a lookup that was in flight across one
        # may have read what that invalidation is about, so it keeps nothing.
        self._generation = 0
        # False until someone hears invalidations (a notifier's resume): a process that
        # never listens, like an admin command, never caches.
        self._live = live

    @property
    def enabled(self) -> bool:
        return self._live and self.max_age > timedelta(0) and self.max_weight > 0

    # ---- MemberDirectory

    async def member(self, mesh_id: str, member_id: str) -> Member | None:
        return await self._lookup(
            ("id", mesh_id, member_id), lambda: self.inner.member(mesh_id, member_id)
        )

    async def member_by_pubkey(self, mesh_id: str, pubkey: str) -> Member | None:
        return await self._lookup(
            ("pk", mesh_id, pubkey), lambda: self.inner.member_by_pubkey(mesh_id, pubkey)
        )

    async def members(self, mesh_id: str) -> list[Member]:
        async def fetch() -> tuple[Member, ...]:
            return tuple(await self.inner.members(mesh_id))

        # A list made for each caller: none can change what the others will be given.
        return list(await self._lookup(("all", mesh_id, ""), fetch))

    # ---- invalidation (called by the notifier)

    def forget(self, mesh_id: str, member_id: str | None = None) -> None:
        """Drop what is kept of this member (by id, by pubkey) and the mesh's member list;
        with no member, everything kept of the mesh."""
        self._generation += 1
        for key in [k for k, e in self._entries.items() if _about(k, e, mesh_id, member_id)]:
            self._drop(key)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._weight = 0

    def suspend(self) -> None:
        """Invalidations may be missed from now on: drop everything and keep nothing."""
        self._live = False
        self.clear()

    def resume(self) -> None:
        """Invalidations are heard again; what was read before this may be stale."""
        self.clear()
        self._live = True

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def weight(self) -> int:
        return self._weight

    # ---- the LRU

    async def _lookup(self, key: _Key, fetch: Callable[[], Awaitable[_V]]) -> _V:
        now = self.clock.now()
        entry = self._entries.get(key)
        if entry is not None:
            if timedelta(0) <= now - entry.stored_at < self.max_age:  # a clock stepped back: stale
                self._entries.move_to_end(key)
                self.hits += 1
                return cast(_V, entry.value)
            self._drop(key)
        self.misses += 1
        generation = self._generation
        value = await fetch()
        # None or an empty list is a miss: never kept, so a member added is found at once.
        if value and self.enabled and generation == self._generation:
            self._store(key, value, now)
        return value

    def _store(self, key: _Key, value: Member | tuple[Member, ...], now: datetime) -> None:
        weight = len(value) + 1 if isinstance(value, tuple) else 1
        if weight > self.max_weight:
            return
        if key in self._entries:
            self._drop(key)
        self._entries[key] = _Entry(value, now, weight)
        self._weight += weight
        while self._weight > self.max_weight:
            self._drop(next(iter(self._entries)))

    def _drop(self, key: _Key) -> None:
        entry = self._entries.pop(key)
        self._weight -= entry.weight


def _about(key: _Key, entry: _Entry, mesh_id: str, member_id: str | None) -> bool:
    kind, mesh, _ = key
    if mesh != mesh_id:
        return False
    if member_id is None or kind == "all":
        return True
    value = entry.value
    return isinstance(value, Member) and value.id == member_id
