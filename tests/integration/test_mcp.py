"""`meshpeer mcp` end to end: a real broker and two `meshpeer mcp` processes driven over
stdio by a JSON-RPC-lines client, as Claude Code drives them (claude-code.md)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from client.inbox import Inbox
from tests.integration.mcp_client import McpProcess
from tests.integration.support import WAIT, BrokerProcess
from tests.integration.test_meshpeer import Mesh, Peer, eventually, make_mesh

Start = Callable[..., McpProcess]


@pytest.fixture(scope="module")
def broker(database_url: str) -> Iterator[BrokerProcess]:
    process = BrokerProcess(database_url, HOOK_AUTH="token").start()
    yield process
    process.kill()


@pytest.fixture
def mesh(broker: BrokerProcess, tmp_path: Path) -> Mesh:
    return make_mesh(broker, tmp_path)


@pytest.fixture
def start(broker: BrokerProcess) -> Iterator[Start]:
    started: list[McpProcess] = []

    def run(peer: Peer, session: str, *, channel: bool = False, **env: str) -> McpProcess:
        extra = {"CLAUDE_CODE_SESSION_ID": session, **env}
        if channel:
            extra["MESHPEER_CHANNEL"] = "1"
        process = McpProcess(peer.env(broker, **extra), peer.workdir)
        started.append(process)
        return process

    yield run
    for process in started:
        process.kill()


def online(server: McpProcess, who: str) -> dict[str, Any]:
    """Wait until `server` is connected and sees a live session of `who`."""

    def check() -> dict[str, Any] | None:
        result = server.call("mesh_peers")
        if result.get("isError"):
            return None
        found = [p for p in result["structuredContent"]["peers"] if p["name"] == who]
        return found[0] if found and found[0]["online"] else None

    return eventually(check, f"{who} online")


def connected(server: McpProcess) -> dict[str, Any]:
    return eventually(
        lambda: (r := server.call("mesh_peers")) and not r.get("isError") and r,
        "the server connected",
    )["structuredContent"]


def stored(peer: Peer, session: str, count: int = 1) -> None:
    """Wait until `count` messages wait unread in the peer's local inbox."""
    inbox = Inbox.open({"MESHPEER_HOME": str(peer.home)})
    try:
        eventually(lambda: inbox.count_unread(session) >= count, "the message stored")
    finally:
        inbox.close()


def hook(peer: Peer, broker: BrokerProcess, event: str, session: str, **fields: str) -> str:
    body = {"hook_event_name": event, "session_id": session, "cwd": str(peer.workdir), **fields}
    started = time.monotonic()
    done = peer.run(broker, "hook", stdin=json.dumps(body))
    assert done.returncode == 0 and time.monotonic() - started < 2, done.stderr
    assert done.stderr == "", done.stderr
    return done.stdout


# ---------------------------------------------------------------- the handshake


def test_the_handshake_claude_code_performs(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    server = start(mesh.alice, "alice-hs")

    result = server.handshake("2025-11-25")

    assert result["protocolVersion"] == "2025-11-25"
    assert result["capabilities"] == {"tools": {}, "experimental": {"claude/channel": {}}}
    assert result["serverInfo"]["name"] == "meshpeer"
    assert len(result["instructions"].encode()) < 2048
    assert (
        "not as instructions" in result["instructions"]
        or "never as instructions" in (result["instructions"])
    )
    assert server.request("ping")["result"] == {}
    assert server.request("resources/list")["error"]["code"] == -32601
    tools = server.request("tools/list")["result"]["tools"]
    assert [t["name"] for t in tools] == [
        "mesh_send",
        "mesh_peers",
        "mesh_inbox",
        "mesh_status",
        "mesh_message_status",
        "mesh_wait_idle",
    ]
    assert all(t["inputSchema"]["type"] == t["outputSchema"]["type"] == "object" for t in tools)
    assert server.stop() == 0


@pytest.mark.parametrize(
    ("asked", "answered"), [("2025-06-18", "2025-06-18"), ("2099-01-01", "2025-11-25")]
)
def test_initialize_answers_the_asked_revision_when_supported(
    broker: BrokerProcess, mesh: Mesh, start: Start, asked: str, answered: str
) -> None:
    server = start(mesh.alice, f"alice-{asked}")
    assert server.handshake(asked)["protocolVersion"] == answered


def test_no_identity_and_no_broker_do_not_fail_the_handshake(
    broker: BrokerProcess, mesh: Mesh, start: Start, tmp_path: Path
) -> None:
    lost = start(mesh.alice, "alice-lost", MESHPEER_MESH="", MESHPEER_URL="ws://127.0.0.1:1/ws")
    lost.handshake()

    result = lost.call("mesh_send", to="bob", text="hi")

    assert result["isError"] is True
    assert "MESHPEER_MESH" in result["content"][0]["text"]
    unreachable = start(mesh.alice, "alice-down", MESHPEER_URL="ws://127.0.0.1:1/ws")
    unreachable.handshake()
    down = unreachable.call("mesh_peers")["content"][0]["text"]
    assert "not connected to the broker at ws://127.0.0.1:1/ws" in down and "retrying" in down


# ---------------------------------------------------------------- the tools


def test_two_sessions_talk_through_the_tools(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    alice = start(mesh.alice, "claude-alice")
    bob = start(mesh.bob, "claude-bob")
    alice.handshake()
    bob.handshake()
    connected(bob)

    peers = online(alice, "bob")
    sent = alice.structured("mesh_send", to="BOB", text="Can you review PR 12?")
    got = bob.structured("mesh_inbox", wait_seconds=30)
    again = bob.structured("mesh_inbox")
    bob.structured("mesh_send", to="alice", text="On it.", priority="now")
    reply = alice.structured("mesh_inbox", wait_seconds=30)

    assert peers["sessionId"] == "claude-bob" and peers["pubkey"] == mesh.bob.pubkey
    assert sent["queued"] is True and sent["encrypted"] is True
    assert sent["to"] == [{"name": "bob", "pubkey": mesh.bob.pubkey}]
    [message] = got["messages"]
    assert message == {
        "messageId": sent["messageId"],
        "from": "alice",
        "fromPubkey": mesh.alice.pubkey,
        "priority": "next",
        "text": "Can you review PR 12?",
        "sentAt": message["sentAt"],
        "encrypted": True,
    }
    assert again == {"messages": []}
    assert [m["text"] for m in reply["messages"]] == ["On it."]
    print(transcript(alice, bob))


def test_mesh_peers_and_mesh_status(broker: BrokerProcess, mesh: Mesh, start: Start) -> None:
    bob = start(mesh.bob, "claude-bob-st")
    bob.handshake()
    me = connected(bob)["self"]

    status = bob.structured("mesh_status", status="dnd")

    assert me["sessionId"] == "claude-bob-st" and me["name"] == "bob"
    assert status == {"status": "dnd", "source": "manual"}
    assert connected(bob)["self"]["status"] == "dnd"
    refused = bob.call("mesh_status", status="asleep")
    assert refused["isError"] and "idle, working or dnd" in refused["content"][0]["text"]


def test_refusals_say_what_to_do(broker: BrokerProcess, mesh: Mesh, start: Start) -> None:
    alice = start(mesh.alice, "claude-alice-r")
    alice.handshake()
    connected(alice)

    nobody = alice.call("mesh_send", to="carol", text="hi")
    empty = alice.call("mesh_send", to="bob", text="")
    waits = alice.call("mesh_inbox", wait_seconds=601)
    unknown = alice.call("mesh_message_status", message_id="not-a-message-of-mine")
    everyone = alice.call("mesh_wait_idle", to="*")
    escalate_now = alice.call(
        "mesh_send", to="bob", text="x", priority="now", escalate_after_seconds=5
    )

    assert (
        nobody["isError"]
        and "no member of this mesh is named 'carol'" in (nobody["content"][0]["text"])
    )
    assert "alice, bob" in nobody["content"][0]["text"]
    assert empty["isError"] and "'text'" in empty["content"][0]["text"]
    assert waits["isError"] and "0 to 600" in waits["content"][0]["text"]
    assert unknown["isError"] and "no message with that id" in unknown["content"][0]["text"]
    assert everyone["isError"] and "one member" in everyone["content"][0]["text"]
    assert escalate_now["isError"] and "next or low only" in escalate_now["content"][0]["text"]


def test_an_offline_member_is_reached_by_name(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    alice = start(mesh.alice, "claude-alice-off")
    alice.handshake()
    connected(alice)

    sent = alice.structured("mesh_send", to="Bob", text="read this when you are back")
    bob = start(mesh.bob, "claude-bob-off")
    bob.handshake()
    got = bob.structured("mesh_inbox", wait_seconds=30)

    assert sent["to"] == [{"name": "bob", "pubkey": mesh.bob.pubkey}]
    assert [(m["messageId"], m["from"]) for m in got["messages"]] == [(sent["messageId"], "alice")]


def test_a_broadcast_reaches_every_other_member_unencrypted(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    alice = start(mesh.alice, "claude-alice-b")
    bob = start(mesh.bob, "claude-bob-b")
    alice.handshake()
    bob.handshake()
    connected(alice)

    sent = alice.structured("mesh_send", to="*", text="standup in five")
    got = bob.structured("mesh_inbox", wait_seconds=30)

    assert sent["encrypted"] is False and [t["name"] for t in sent["to"]] == ["bob"]
    assert [(m["text"], m["encrypted"]) for m in got["messages"]] == [("standup in five", False)]


def test_one_session_of_a_member_is_reached_by_its_session_id(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    """Two Claude Code sessions of one person: each is addressed on its own."""
    alice = start(mesh.alice, "claude-alice-1s")
    first, second = start(mesh.bob, "claude-bob-one"), start(mesh.bob, "claude-bob-two")
    for server in (alice, first, second):
        server.handshake()
    eventually(
        lambda: (
            {p["sessionId"] for p in connected(alice)["peers"] if p["online"]}
            >= {"claude-bob-one", "claude-bob-two"}
        ),
        "both of bob's sessions online",
    )

    to_one = alice.structured("mesh_send", to="bob/claude-bob-one", text="for one", priority="now")
    to_two = alice.structured("mesh_send", to="claude-bob-two", text="for two", priority="now")
    got_one = first.structured("mesh_inbox", wait_seconds=30)
    got_two = second.structured("mesh_inbox", wait_seconds=30)

    assert to_one["to"] == to_two["to"] == [{"name": "bob", "pubkey": mesh.bob.pubkey}]
    assert [m["text"] for m in got_one["messages"]] == ["for one"]
    assert [m["text"] for m in got_two["messages"]] == ["for two"]
    assert first.structured("mesh_inbox") == second.structured("mesh_inbox") == {"messages": []}


# ---------------------------------------------------------------- receipts (receipts.md)


def recipient(server: McpProcess, message_id: str) -> dict[str, Any]:
    [row] = server.structured("mesh_message_status", message_id=message_id)["recipients"]
    return row  # type: ignore[no-any-return]


def test_escalation_message_status_and_waiting_for_idle(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    alice = start(mesh.alice, "claude-alice-rc")
    bob = start(mesh.bob, "claude-bob-rc")
    alice.handshake()
    bob.handshake()
    online(alice, "bob")
    bob.structured("mesh_status", status="working")
    eventually(lambda: online(alice, "bob")["status"] == "working", "bob working")

    held = alice.structured("mesh_send", to="bob", text="when you are free")
    held_row = recipient(alice, held["messageId"])
    not_idle = alice.structured("mesh_wait_idle", to="bob", timeout_seconds=1)
    urgent = alice.structured(
        "mesh_send", to="bob", text="this cannot wait long", escalate_after_seconds=1
    )
    got = bob.structured("mesh_inbox", wait_seconds=30)
    acked = eventually(
        lambda: (row := recipient(alice, urgent["messageId"]))["state"] == "acked" and row,
        "the escalated message acked",
    )
    waiting = alice.begin(
        "tools/call", {"name": "mesh_wait_idle", "arguments": {"to": "bob", "timeout_seconds": 60}}
    )
    bob.structured("mesh_status", status="idle")
    idle = alice.answer(waiting)["result"]["structuredContent"]

    assert {k: held_row.get(k) for k in ("name", "pubkey", "memberId", "state", "reason")} == {
        "name": "bob",
        "pubkey": mesh.bob.pubkey,
        "memberId": held_row["memberId"],
        "state": "held",
        "reason": "working",
    }
    assert held_row["memberId"]
    assert not_idle == {"idle": False}
    assert urgent["escalateAfterSeconds"] == 1 and urgent["queued"] is True
    assert [(m["messageId"], m["priority"]) for m in got["messages"]] == [
        (urgent["messageId"], "now")
    ]
    assert acked["escalated"] is True and acked["name"] == "bob"
    assert idle == {"idle": True, "name": "bob", "sessionId": "claude-bob-rc"}
    later = bob.structured("mesh_inbox", wait_seconds=30)  # idle now: the held one comes
    assert [m["messageId"] for m in later["messages"]] == [held["messageId"]]


# ---------------------------------------------------------------- channel mode


def test_channel_mode_pushes_each_message_once_after_initialized(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    alice = start(mesh.alice, "claude-alice-ch")
    alice.handshake()
    connected(alice)
    early = alice.structured("mesh_send", to="bob", text="sent before bob started")
    bob = start(mesh.bob, "claude-bob-ch", channel=True)
    bob.request(
        "initialize",
        {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t"}},
    )
    stored(mesh.bob, "claude-bob-ch")
    bob.drain()
    assert bob.notifications == [], "a notification before notifications/initialized"

    bob.notify("notifications/initialized")
    first = bob.notification("notifications/claude/channel")
    later = alice.structured("mesh_send", to="bob", text="sent while bob runs", priority="now")
    second = bob.notification("notifications/claude/channel")

    assert first["params"]["content"] == "sent before bob started"
    meta = first["params"]["meta"]
    assert meta == {
        "from_name": "alice",
        "from_pubkey": mesh.alice.pubkey,
        "message_id": early["messageId"],
        "priority": "next",
        "sent_at": meta["sent_at"],
        "encrypted": "true",
    }
    assert all(isinstance(v, str) for v in meta.values())
    assert all(k.replace("_", "").isalnum() for k in meta)
    assert second["params"]["meta"]["message_id"] == later["messageId"]
    assert bob.structured("mesh_inbox") == {"messages": []}  # shown once: by the channel


# ---------------------------------------------------------------- hooks


def test_a_hook_puts_unread_messages_into_the_context_once(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    alice = start(mesh.alice, "claude-alice-h")
    bob = start(mesh.bob, "claude-bob-h")
    alice.handshake()
    bob.handshake()
    online(alice, "bob")
    alice.structured("mesh_send", to="bob", text="the staging DB is down", priority="now")
    stored(mesh.bob, "claude-bob-h")

    printed = hook(mesh.bob, broker, "UserPromptSubmit", "claude-bob-h")

    output = json.loads(printed)
    assert output["hookSpecificOutput"]["hookEventName"] == "UserPromptSubmit"
    context = output["hookSpecificOutput"]["additionalContext"]
    assert '"the staging DB is down"' in context and "alice" in context
    assert hook(mesh.bob, broker, "PostToolUse", "claude-bob-h") == ""
    assert bob.structured("mesh_inbox") == {"messages": []}


def test_waiting_for_a_person_holds_all_but_now(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    alice = start(mesh.alice, "claude-alice-w")
    bob = start(mesh.bob, "claude-bob-w")
    alice.handshake()
    bob.handshake()
    online(alice, "bob")

    assert hook(mesh.bob, broker, "PermissionRequest", "claude-bob-w") == ""
    eventually(lambda: online(alice, "bob")["status"] == "waiting", "bob waiting")
    held = alice.structured("mesh_send", to="bob", text="when you have a minute")
    urgent = alice.structured("mesh_send", to="bob", text="prod is down", priority="now")
    first = bob.structured("mesh_inbox", wait_seconds=30)
    hook(mesh.bob, broker, "Stop", "claude-bob-w")
    second = bob.structured("mesh_inbox", wait_seconds=30)

    assert [m["messageId"] for m in first["messages"]] == [urgent["messageId"]]
    assert [m["messageId"] for m in second["messages"]] == [held["messageId"]]


# ---------------------------------------------------------------- crashes


def test_a_server_killed_right_after_a_push_shows_the_message_once_after_restart(
    broker: BrokerProcess, mesh: Mesh, start: Start
) -> None:
    alice = start(mesh.alice, "claude-alice-k")
    bob = start(mesh.bob, "claude-bob-k")
    alice.handshake()
    bob.handshake()
    online(alice, "bob")
    text = f"do not lose me {secrets.token_hex(4)}"
    sent = alice.structured("mesh_send", to="bob", text=text, priority="now")
    stored(mesh.bob, "claude-bob-k")  # in the inbox; the ack may or may not have left

    bob.kill()
    again = start(mesh.bob, "claude-bob-k")
    again.handshake()
    first = again.structured("mesh_inbox", wait_seconds=30)
    marker = alice.structured("mesh_send", to="bob", text="after the restart", priority="now")
    second = again.structured("mesh_inbox", wait_seconds=30)

    assert [(m["messageId"], m["text"]) for m in first["messages"]] == [(sent["messageId"], text)]
    # A redelivery of the first would have come before the marker (queue order): dropped.
    assert [m["messageId"] for m in second["messages"]] == [marker["messageId"]]
    assert again.structured("mesh_inbox") == {"messages": []}


# ---------------------------------------------------------------- the docs' transcript


def transcript(*servers: McpProcess) -> str:
    lines = []
    for server in servers:
        for direction, message in server.transcript:
            if message.get("method") in ("tools/call",) or "structuredContent" in json.dumps(
                message.get("result", {})
            ):
                lines.append(f"{direction} {json.dumps(message)}")
    return "\n".join(lines)


_ = WAIT
