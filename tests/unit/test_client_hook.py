"""`meshpeer hook`: event -> status, the request it posts, and it never fails."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from client import hook, hook_request, hook_status
from client.session_lookup import find_session
from client.sessions import session_path, write_session
from client.urls import http_base


@pytest.mark.parametrize(
    ("event", "status"),
    [
        ({"hook_event_name": "PermissionRequest"}, "waiting"),
        ({"hook_event_name": "Notification", "notification_type": "permission_prompt"}, "waiting"),
        ({"hook_event_name": "Notification", "notification_type": "elicitation_dialog"}, "waiting"),
        ({"hook_event_name": "UserPromptSubmit"}, "working"),
        ({"hook_event_name": "PreToolUse"}, "working"),
        ({"hook_event_name": "PostToolUse"}, "working"),
        ({"hook_event_name": "PostToolUseFailure"}, "working"),
        ({"hook_event_name": "PermissionDenied"}, "working"),
        ({"hook_event_name": "Stop"}, "idle"),
        ({"hook_event_name": "StopFailure"}, "idle"),
        ({"hook_event_name": "SessionStart"}, "idle"),
        ({"hook_event_name": "SessionEnd"}, "idle"),
        ({"hook_event_name": "Notification", "notification_type": "idle_prompt"}, "idle"),
        ({"hook_event_name": "Notification", "notification_type": "auth_success"}, None),
        ({"hook_event_name": "Notification"}, None),
        ({"hook_event_name": "Notification", "notification_type": 3}, None),
        ({"hook_event_name": "SubagentStop"}, None),
        ({"hook_event_name": "PreCompact"}, None),
        ({"hook_event_name": None}, None),
        ({"hook_event_name": 42}, None),
    ],
)
def test_event_mapping(event: dict, status: str | None) -> None:
    assert hook_status.status_for(event) == status


@pytest.mark.parametrize(
    ("ws", "http"),
    [
        ("ws://127.0.0.1:7900/ws", "http://127.0.0.1:7900"),
        ("wss://mesh.example.com/ws", "https://mesh.example.com"),
        ("wss://example.com/broker/ws/", "https://example.com/broker"),
        ("ws://host:1", "http://host:1"),
    ],
)
def test_the_http_base_is_derived_from_the_ws_url(ws: str, http: str) -> None:
    assert http_base(ws) == http


def record(home: Path, **fields: object) -> dict:
    data = {
        "sessionId": "s-1",
        "cwd": "/proj",
        "pid": os.getpid(),
        "token": "tok-1",
        "url": "ws://broker:7911/ws",
    } | fields
    write_session(data, {"MESHPEER_HOME": str(home)})
    return data


def test_the_request_carries_the_token_of_the_session_on_file(tmp_path: Path) -> None:
    record(tmp_path)
    env = {"MESHPEER_HOME": str(tmp_path)}
    event = {"hook_event_name": "PreToolUse", "cwd": "/proj", "session_id": "claude-9"}
    request = hook_request.build_request(event, env, ppid=4242)
    assert request is not None
    assert request.full_url == "http://broker:7911/hook/set-status"
    assert request.get_method() == "POST"
    assert request.get_header("Authorization") == "Bearer tok-1"
    body = json.loads(request.data)  # type: ignore[arg-type]
    assert body == {"cwd": "/proj", "pid": 4242, "status": "working", "session_id": "s-1"}


def test_without_a_session_on_file_it_posts_unauthenticated_to_meshpeer_url(tmp_path: Path) -> None:
    env = {"MESHPEER_HOME": str(tmp_path), "MESHPEER_URL": "ws://h:9/ws"}
    event = {"hook_event_name": "Stop", "cwd": "/elsewhere", "session_id": "claude-9"}
    request = hook_request.build_request(event, env, ppid=7)
    assert request is not None and request.full_url == "http://h:9/hook/set-status"
    assert request.get_header("Authorization") is None
    body = json.loads(request.data)  # type: ignore[arg-type]
    assert body == {"cwd": "/elsewhere", "pid": 7, "status": "idle", "session_id": "claude-9"}


def test_without_a_session_or_variable_it_posts_to_the_profiles_broker(tmp_path: Path) -> None:
    from client.profile_files import write_profile

    env = {"MESHPEER_HOME": str(tmp_path)}
    write_profile("demo", {"url": "wss://mesh.example.com/ws", "meshId": "m"}, env)
    event = {"hook_event_name": "Stop", "cwd": "/elsewhere"}

    request = hook_request.build_request(event, env, ppid=7)
    with_variable = hook_request.build_request(
        event, {**env, "MESHPEER_URL": "ws://h:9/ws"}, ppid=7
    )
    missing = hook_request.build_request(event, {**env, "MESHPEER_PROFILE": "nope"}, ppid=7)

    assert request is not None and request.full_url == "https://mesh.example.com/hook/set-status"
    assert with_variable is not None and with_variable.full_url == "http://h:9/hook/set-status"
    assert missing is not None and missing.full_url == "http://127.0.0.1:7900/hook/set-status"


def test_an_unmapped_event_posts_nothing(tmp_path: Path) -> None:
    env = {"MESHPEER_HOME": str(tmp_path)}
    assert hook_request.build_request({"hook_event_name": "Notification"}, env, 1) is None


def test_a_session_file_of_a_dead_process_is_ignored_and_removed(tmp_path: Path) -> None:
    record(tmp_path, pid=2**31 - 2)
    env = {"MESHPEER_HOME": str(tmp_path)}
    assert find_session(None, "/proj", env) is None
    assert not session_path("s-1", env).exists()


def test_the_session_id_wins_over_the_cwd(tmp_path: Path) -> None:
    record(tmp_path, sessionId="a", cwd="/proj", token="tok-a")
    record(tmp_path, sessionId="b", cwd="/other", token="tok-b")
    env = {"MESHPEER_HOME": str(tmp_path)}
    assert find_session("b", "/proj", env)["token"] == "tok-b"  # type: ignore[index]
    assert find_session("zz", "/proj", env)["token"] == "tok-a"  # type: ignore[index]


def test_session_files_are_private(tmp_path: Path) -> None:
    record(tmp_path, sessionId="weird/../id")
    env = {"MESHPEER_HOME": str(tmp_path)}
    path = session_path("weird/../id", env)
    assert path.parent == tmp_path / "sessions" and path.exists()
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize("stdin", [b"", b"garbage", b"[1,2]", b"\xff\xfe", b'{"cwd": 5}'])
def test_garbage_on_stdin_exits_zero(tmp_path: Path, stdin: bytes) -> None:
    assert hook.run(io.BytesIO(stdin), {"MESHPEER_HOME": str(tmp_path)}, 1) == 0


def test_a_failed_post_exits_zero_with_one_line_on_stderr(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("connection refused\nsecond line")

    monkeypatch.setattr(hook.urllib.request, "urlopen", refuse)
    event = json.dumps({"hook_event_name": "Stop", "cwd": "/proj"}).encode()
    assert hook.run(io.BytesIO(event), {"MESHPEER_HOME": str(tmp_path)}, 1) == 0
    err = capsys.readouterr().err
    assert err == "meshpeer hook: OSError: connection refused\n"


def test_the_hook_uses_a_short_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    class Response:
        def close(self) -> None:
            seen["closed"] = True

    def urlopen(request: object, timeout: float) -> Response:
        seen["timeout"] = timeout
        return Response()

    monkeypatch.setattr(hook.urllib.request, "urlopen", urlopen)
    event = json.dumps({"hook_event_name": "UserPromptSubmit", "cwd": "/proj"}).encode()
    assert hook.run(io.BytesIO(event), {"MESHPEER_HOME": str(tmp_path)}, 1) == 0
    assert seen == {"timeout": 1.5, "closed": True}
