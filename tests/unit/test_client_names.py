"""Senders are named from the roster; a broker without list_members is asked list_peers."""

from __future__ import annotations

from typing import Any

from adapters import wire
from client.errors import BrokerError
from client.names import Names


class FakePeer:
    def __init__(self, *, roster: bool = True) -> None:
        self.roster = roster
        self.asked: list[str] = []

    async def list_members(self) -> list[wire.MemberInfo]:
        self.asked.append("list_members")
        if not self.roster:
            raise BrokerError("unknown_type", "unknown frame type list_members")
        return [wire.MemberInfo("m-1", "a" * 64, "alice", "member")]

    async def list_peers(self) -> list[wire.Peer]:
        self.asked.append("list_peers")
        return [wire.Peer("m-2", "b" * 64, "bob", "p-1", "s-1", "idle", True, "2026-12-06")]


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def names(peer: FakePeer, clock: Clock) -> Any:
    return Names(peer, clock)  # type: ignore[arg-type]


async def test_a_sender_is_named_from_the_roster_fetched_once() -> None:
    peer, clock = FakePeer(), Clock()
    roster = names(peer, clock)

    assert await roster.name_of("a" * 64) == "alice"
    assert await roster.name_of("a" * 64) == "alice"
    assert peer.asked == ["list_members"]


async def test_an_unknown_sender_refreshes_the_roster_at_most_every_two_seconds() -> None:
    peer, clock = FakePeer(), Clock()
    roster = names(peer, clock)
    await roster.members()

    assert await roster.name_of("c" * 64) == "c" * 12
    assert peer.asked == ["list_members"]  # fetched just now: not asked again
    clock.now = 3.0
    assert await roster.name_of("c" * 64) == "c" * 12
    assert peer.asked == ["list_members", "list_members"]


async def test_without_list_members_connected_peers_are_named() -> None:
    peer, clock = FakePeer(roster=False), Clock()

    assert await names(peer, clock).name_of("b" * 64) == "bob"
    assert peer.asked == ["list_members", "list_peers"]
