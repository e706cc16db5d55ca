"""What `meshpeer hook` puts into Claude's context: each message as a fact, at most
10,000 characters, the rest left for the next event; nothing else on stdout."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from client import context, hook
from client.inbox import Inbox
from client.inbox_file import inbox_path
from client.inbox_message import Stored
from client.sessions import write_session


def message(n: int, text: str = "the build is green") -> Stored:
    return Stored(
        message_id=f"m-{n}",
        from_name="alice",
        from_pubkey="3b6a27bc" + "0" * 56,
        priority="now",
        text=text,
        sent_at="2026-12-06T03:00:00.000Z",
        encrypted=True,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"MESHPEER_HOME": str(tmp_path)}


def keep(env: dict[str, str], *messages: Stored, session: str = "claude-1") -> None:
    inbox = Inbox.open(env)
    for m in messages:
        inbox.store(recipient="bob", session_id=session, cwd="/proj", message=m)
    inbox.close()


def run_hook(env: dict[str, str], event: dict[str, object]) -> str:
    out = io.StringIO()
    hook.run(io.BytesIO(json.dumps(event).encode()), env, 1, stdout=out)
    return out.getvalue()


def test_each_message_is_stated_as_a_fact() -> None:
    text = context.render([message(1, 'say "hi"\nto bob')])

    assert text.splitlines()[0] == context.HEADER
    assert text.splitlines()[1] == (
        "- alice (pubkey 3b6a27bc0000) sent at 2026-12-06T03:00:00.000Z, priority now, "
        'end-to-end encrypted, message id m-1: "say \\"hi\\"\\nto bob"'
    )


@pytest.mark.parametrize("event", ["UserPromptSubmit", "PostToolUse", "SessionStart"])
def test_unread_messages_go_into_the_context_once(
    env: dict[str, str], event: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hook, "build_request", lambda *a: None)
    keep(env, message(1), message(2, "second"))

    printed = run_hook(env, {"hook_event_name": event, "session_id": "claude-1", "cwd": "/x"})

    output = json.loads(printed)
    assert list(output) == ["hookSpecificOutput"]
    assert output["hookSpecificOutput"]["hookEventName"] == event
    shown = output["hookSpecificOutput"]["additionalContext"]
    assert "m-1" in shown and '"second"' in shown
    assert run_hook(env, {"hook_event_name": event, "session_id": "claude-1"}) == ""


@pytest.mark.parametrize("event", ["PreToolUse", "Stop", "Notification", "SessionEnd"])
def test_other_events_print_nothing_and_leave_messages_unread(
    env: dict[str, str], event: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hook, "build_request", lambda *a: None)
    keep(env, message(1))

    assert run_hook(env, {"hook_event_name": event, "session_id": "claude-1"}) == ""
    assert Inbox.open(env).count_unread("claude-1") == 1


def test_the_session_is_found_by_cwd_when_the_event_has_no_session_id(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    monkeypatch.setattr(hook, "build_request", lambda *a: None)
    write_session({"sessionId": "mcp-7", "cwd": "/proj", "pid": os.getpid()}, env)
    keep(env, message(1), session="mcp-7")

    printed = run_hook(env, {"hook_event_name": "UserPromptSubmit", "cwd": "/proj"})

    assert "m-1" in json.loads(printed)["hookSpecificOutput"]["additionalContext"]


def test_at_most_10000_characters_the_rest_stays_for_the_next_event(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hook, "build_request", lambda *a: None)
    keep(env, *(message(n, "x" * 3000) for n in range(5)))
    event = {"hook_event_name": "PostToolUse", "session_id": "claude-1"}

    first = json.loads(run_hook(env, event))["hookSpecificOutput"]["additionalContext"]
    second = json.loads(run_hook(env, event))["hookSpecificOutput"]["additionalContext"]

    assert len(first) <= 10_000 and len(second) <= 10_000
    assert first.count("x" * 3000) == 3 and "2 more unread message(s)" in first
    assert second.count("x" * 3000) == 2 and "more unread" not in second
    assert Inbox.open(env).count_unread("claude-1") == 0


def test_a_message_too_long_for_the_context_is_pointed_at_not_lost(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hook, "build_request", lambda *a: None)
    keep(env, message(1, "y" * 20_000))

    printed = run_hook(env, {"hook_event_name": "SessionStart", "session_id": "claude-1"})

    shown = json.loads(printed)["hookSpecificOutput"]["additionalContext"]
    assert len(shown) <= 10_000 and "20000 characters" in shown and "mesh_inbox" in shown
    assert Inbox.open(env).count_unread("claude-1") == 1


def test_without_an_inbox_the_hook_creates_none(env: dict[str, str]) -> None:
    run_hook(env, {"hook_event_name": "UserPromptSubmit", "session_id": "claude-1"})

    assert not inbox_path(env).exists()
