"""`meshpeer install` and `meshpeer claude`: idempotent, keeps what was there, backs up
what it changes, --dry-run writes nothing, a clear error without `claude`."""

from __future__ import annotations

import argparse
import json
import os
import stat
from pathlib import Path

import pytest

from client import install
from client.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", str(tmp_path / "nothing"))  # no claude on PATH
    monkeypatch.delenv("CLAUDE_BIN", raising=False)
    key = home / "k.key"
    key.write_text("ab" * 32 + "\n")
    key.chmod(0o600)
    for name, value in {
        "MESHPEER_URL": "ws://broker:7900/ws",
        "MESHPEER_MESH": "mesh-1",
        "MESHPEER_MEMBER": "member-1",
        "MESHPEER_KEY": str(key),
    }.items():
        monkeypatch.setenv(name, value)
    return home


def run(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["install", *args]) == 0
    printed: dict = json.loads(capsys.readouterr().out)
    return printed


def test_install_registers_the_server_and_the_hooks(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = run(capsys)

    settings = json.loads((home / ".claude" / "settings.json").read_text())
    server = json.loads((home / ".claude.json").read_text())["mcpServers"]["meshpeer"]
    assert printed["changed"] == [
        str(home / ".claude" / "settings.json"),
        str(home / ".claude.json"),
    ]
    assert server["args"] == ["mcp"] and server["type"] == "stdio"
    assert server["env"]["MESHPEER_MESH"] == "mesh-1"
    assert server["env"]["MESHPEER_KEY"] == str(home / "k.key")
    assert set(settings["hooks"]) == set(install.HOOK_EVENTS) == set(printed["hooks"])
    [group] = settings["hooks"]["PermissionRequest"]
    assert group["matcher"] == "*" and group["hooks"][0]["command"].endswith("meshpeer hook")


def test_install_keeps_everything_else_and_backs_up_what_it_changes(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / ".claude").mkdir()
    mine = {"type": "command", "command": "notify-send done"}
    before = {"model": "opus", "hooks": {"Stop": [{"hooks": [mine]}]}}
    (home / ".claude" / "settings.json").write_text(json.dumps(before))
    (home / ".claude.json").write_text(json.dumps({"mcpServers": {"other": {"command": "x"}}}))
    (home / ".claude.json").chmod(0o600)

    run(capsys)

    settings = json.loads((home / ".claude" / "settings.json").read_text())
    config = json.loads((home / ".claude.json").read_text())
    assert settings["model"] == "opus"
    assert settings["hooks"]["Stop"][0] == {"hooks": [mine]} and len(settings["hooks"]["Stop"]) == 2
    assert set(config["mcpServers"]) == {"other", "meshpeer"}
    assert stat.S_IMODE((home / ".claude.json").stat().st_mode) == 0o600
    backups = sorted(p.name for p in home.rglob("*.bak"))
    assert len(backups) == 2 and all(".meshpeer-" in b for b in backups)
    assert json.loads(next((home / ".claude").glob("*.bak")).read_text()) == before


def test_install_twice_changes_nothing_the_second_time(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(capsys)
    first = (home / ".claude" / "settings.json").read_text()

    assert run(capsys)["changed"] == []
    assert (home / ".claude" / "settings.json").read_text() == first
    assert not list(home.rglob("*.bak"))


def test_dry_run_writes_nothing(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    printed = run(capsys, "--dry-run")

    assert len(printed["changed"]) == 2 and printed["dryRun"] is True
    assert not (home / ".claude").exists() and not (home / ".claude.json").exists()


def test_project_scope_writes_the_project_files(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    printed = run(capsys, "--scope", "project")

    assert printed["changed"] == [
        str(Path.cwd() / ".claude" / "settings.json"),
        str(Path.cwd() / ".mcp.json"),
    ]
    assert "meshpeer" in json.loads((Path.cwd() / ".mcp.json").read_text())["mcpServers"]


def test_a_settings_file_that_is_not_json_is_left_alone(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / ".claude").mkdir()
    (home / ".claude" / "settings.json").write_text("{ not json")

    assert main(["install"]) == 1

    assert "is not valid JSON" in capsys.readouterr().err
    assert (home / ".claude" / "settings.json").read_text() == "{ not json"


def test_an_old_meshpeer_hook_is_updated_not_doubled() -> None:
    old = {"hooks": {"Stop": [{"hooks": [{"type": "command", "command": "meshpeer hook"}]}]}}

    merged = install.merge_hooks(old, "/opt/bin/meshpeer hook")

    assert merged["hooks"]["Stop"] == [
        {"hooks": [{"type": "command", "command": "/opt/bin/meshpeer hook", "timeout": 5}]}
    ]


def test_meshpeer_claude_without_claude_says_so(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["claude", "--resume"]) == 1
    assert "`claude` is not on PATH" in capsys.readouterr().err


def test_meshpeer_claude_runs_claude_with_the_channel(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ran: dict = {}
    monkeypatch.setenv("CLAUDE_BIN", "/opt/claude")
    monkeypatch.setattr(
        install.os, "execve", lambda path, argv, env: ran.update(path=path, argv=argv, env=env)
    )

    install.main(argparse.Namespace(command="claude", args=["--model", "opus"]))

    assert ran["argv"] == [
        "/opt/claude",
        "--dangerously-load-development-channels",
        "server:meshpeer",
        "--model",
        "opus",
    ]
    assert ran["env"]["MESHPEER_CHANNEL"] == "1" and ran["env"]["HOME"] == os.environ["HOME"]


def test_hooks_are_told_the_servers_meshpeer_home(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESHPEER_HOME", str(home / "my mesh"))

    printed = run(capsys)

    settings = json.loads((home / ".claude" / "settings.json").read_text())
    command = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
    assert printed["mcp"]["env"]["MESHPEER_HOME"] == str(home / "my mesh")
    assert command.startswith(f"MESHPEER_HOME='{home / 'my mesh'}' ") and command.endswith(" hook")
