"""The receipt tools of `meshpeer mcp` (escalation, message status, waiting for a peer),
over a fake broker connection: what the model sees for each answer the broker gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from client.errors import BrokerError
from client.mcp.instructions import INSTRUCTIONS
from client.mcp.schemas import tools
from client.mcp.tools import Tools
from protocol import wire

ALICE = "a" * 64
BOB = "b" * 64
MEMBERS = [
    wire.MemberInfo(member_id="m-alice", pubkey=ALICE, display_name="alice", role="admin"),
    wire.MemberInfo(member_id="m-bob", pubkey=BOB, display_name="bob", role="member"),
]


@dataclass
class FakePeer:
    """The broker as the tools see it through `client.peer.Peer`."""

    sent: list[tuple[str, str, str, int | None]] = field(default_factory=list)
    statuses: dict[str, wire.MessageStatusReply] = field(default_factory=dict)
    idle: dict[str, wire.PeerIdle] = field(default_factory=dict)
    watched: list[tuple[str, float]] = field(default_factory=list)
    watch_error: str | None = None

    async def send(
        self,
        to: str,
        text: str,
        priority: str = "next",
        ttl_seconds: int | None = None,
        escalate_after_seconds: int | None = None,
    ) -> wire.Ack:
        self.sent.append((to, text, priority, escalate_after_seconds))
        return wire.Ack(
            queued=True, message_id=f"msg-{len(self.sent)}",
            escalate_after_seconds=escalate_after_seconds,
        )  # fmt: skip

    async def message_status(self, message_id: str) -> wire.MessageStatusReply:
        if message_id not in self.statuses:
            raise BrokerError("not_found", "no such message")
        return self.statuses[message_id]

    async def watch_idle(self, pubkey: str, within: float) -> wire.PeerIdle | None:
        self.watched.append((pubkey, within))
        if self.watch_error is not None:
            raise BrokerError(self.watch_error, "refused")
        if pubkey not in {m.pubkey for m in MEMBERS}:
            raise BrokerError("no_recipient", "unknown member")
        return self.idle.get(pubkey)

    async def list_peers(self) -> list[wire.Peer]:
        return []


class FakeNames:
    async def members(self, fresh: bool = False) -> list[wire.MemberInfo]:
        return MEMBERS


class FakeLink:
    session_id = "claude-alice"

    def __init__(self, peer: FakePeer) -> None:
        config = SimpleNamespace(identity=SimpleNamespace(pubkey=ALICE))
        self.connected = SimpleNamespace(peer=peer, names=FakeNames(), config=config)

    def require(self) -> Any:
        return self.connected


async def call(peer: FakePeer, tool: str, **arguments: Any) -> dict[str, Any]:
    return await Tools(FakeLink(peer)).call({"name": tool, "arguments": arguments})  # type: ignore[arg-type]


def refusal(result: dict[str, Any]) -> str:
    assert result.get("isError") is True, result
    text: str = result["content"][0]["text"]
    return text


# ---------------------------------------------------------------- mesh_send


async def test_send_with_escalation_passes_it_on_and_echoes_it() -> None:
    peer = FakePeer()

    result = await call(peer, "mesh_send", to="Bob", text="review?", escalate_after_seconds=300)

    assert peer.sent == [(BOB, "review?", "next", 300)]
    assert result["structuredContent"]["escalateAfterSeconds"] == 300
    assert result["structuredContent"]["messageId"] == "msg-1"


async def test_send_without_escalation_says_nothing_of_it() -> None:
    peer = FakePeer()

    result = await call(peer, "mesh_send", to="bob", text="hi", priority="low")

    assert peer.sent == [(BOB, "hi", "low", None)]
    assert "escalateAfterSeconds" not in result["structuredContent"]


async def test_escalation_is_refused_on_now_and_out_of_bounds() -> None:
    peer = FakePeer()

    on_now = await call(
        peer, "mesh_send", to="bob", text="x", priority="now", escalate_after_seconds=5
    )
    zero = await call(peer, "mesh_send", to="bob", text="x", escalate_after_seconds=0)
    text = await call(peer, "mesh_send", to="bob", text="x", escalate_after_seconds="soon")

    assert "next or low only" in refusal(on_now)
    assert "escalate_after_seconds" in refusal(zero) and "from 1 to" in refusal(zero)
    assert "whole number" in refusal(text)
    assert peer.sent == []


async def test_an_escalation_beyond_the_ttl_gets_the_brokers_bounds() -> None:
    class Refusing(FakePeer):
        async def send(self, *args: Any, **kwargs: Any) -> wire.Ack:
            raise BrokerError("invalid", "escalateAfterSeconds must be between 1 and 604800")

    result = await call(Refusing(), "mesh_send", to="bob", text="x", escalate_after_seconds=10**6)

    assert "between 1 and 604800" in refusal(result)


# ---------------------------------------------------------------- mesh_message_status


async def test_message_status_names_each_recipient() -> None:
    peer = FakePeer()
    peer.statuses["msg-1"] = wire.MessageStatusReply(
        message_id="msg-1",
        recipients=[
            wire.RecipientStatus(
                member_id="m-bob", pubkey=BOB, display_name="bob", state="acked",
                at="2026-12-06T10:00:00.000Z", escalated=True,
            ),
            wire.RecipientStatus(
                member_id="m-carol", pubkey="c" * 64, display_name="carol", state="held",
                reason="working",
            ),
        ],
    )  # fmt: skip

    result = await call(peer, "mesh_message_status", message_id="msg-1")

    assert result["structuredContent"] == {
        "messageId": "msg-1",
        "recipients": [
            {
                "name": "bob", "pubkey": BOB, "memberId": "m-bob", "state": "acked",
                "at": "2026-12-06T10:00:00.000Z", "escalated": True,
            },
            {
                "name": "carol", "pubkey": "c" * 64, "memberId": "m-carol", "state": "held",
                "reason": "working",
            },
        ],
    }  # fmt: skip


async def test_message_status_of_an_unknown_id_says_what_to_use() -> None:
    result = await call(FakePeer(), "mesh_message_status", message_id="nope")
    missing = await call(FakePeer(), "mesh_message_status")

    assert "no message with that id was sent by you" in refusal(result)
    assert "messageId that mesh_send returned" in refusal(result)
    assert "'message_id'" in refusal(missing)


# ---------------------------------------------------------------- mesh_wait_idle


async def test_wait_idle_answers_the_idle_session() -> None:
    peer = FakePeer()
    peer.idle[BOB] = wire.PeerIdle(
        id="w-1", member_id="m-bob", session_id="claude-bob", at="2026-12-06T10:00:00.000Z"
    )

    result = await call(peer, "mesh_wait_idle", to="BOB", timeout_seconds=5)

    assert result["structuredContent"] == {"idle": True, "name": "bob", "sessionId": "claude-bob"}
    assert peer.watched == [(BOB, 5)]


async def test_wait_idle_times_out_as_not_idle_with_a_default_of_a_minute() -> None:
    peer = FakePeer()

    result = await call(peer, "mesh_wait_idle", to=BOB)

    assert result["structuredContent"] == {"idle": False}
    assert peer.watched == [(BOB, 60)]


async def test_wait_idle_refusals() -> None:
    peer = FakePeer()

    everyone = await call(peer, "mesh_wait_idle", to="*")
    too_long = await call(peer, "mesh_wait_idle", to="bob", timeout_seconds=601)
    nobody = await call(peer, "mesh_wait_idle", to="carol")
    unknown_key = await call(peer, "mesh_wait_idle", to="d" * 64)
    peer.watch_error = "rate_limited"
    too_many = await call(peer, "mesh_wait_idle", to="bob")

    assert "one member" in refusal(everyone)
    assert "1 to 600" in refusal(too_long)
    assert "no member of this mesh is named 'carol'" in refusal(nobody)
    assert "no_recipient" in refusal(unknown_key) or "valid member pubkey" in refusal(unknown_key)
    assert "at most 100" in refusal(too_many)


# ---------------------------------------------------------------- what tools/list says


def test_the_new_tools_are_listed_with_schemas_and_mentioned() -> None:
    listed = {t["name"]: t for t in tools()}

    send = listed["mesh_send"]["inputSchema"]["properties"]["escalate_after_seconds"]
    status = listed["mesh_message_status"]
    wait = listed["mesh_wait_idle"]

    assert send["type"] == "integer" and send["minimum"] == 1
    assert status["inputSchema"]["required"] == ["message_id"]
    assert status["outputSchema"]["required"] == ["messageId", "recipients"]
    assert wait["inputSchema"]["required"] == ["to"]
    assert wait["inputSchema"]["properties"]["timeout_seconds"]["maximum"] == 600
    assert wait["outputSchema"]["required"] == ["idle"]
    assert "mesh_message_status" in INSTRUCTIONS and "mesh_wait_idle" in INSTRUCTIONS
    assert len(INSTRUCTIONS.encode()) < 2048
