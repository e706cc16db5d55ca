"""The real Claude Code CLI accepts what `meshpeer install` writes: `claude mcp list`
starts `meshpeer mcp` and reports it Connected, and `claude doctor` finds no invalid
settings. Claude Code exits 0 even when these fail, so the output is what is checked.

Claude Code is found through CLAUDE_BIN, else `claude` on PATH (.ci/run installs it
from npm when npm is there); without it these tests skip and say why."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.test_meshpeer import BIN, command

CLAUDE = os.environ.get("CLAUDE_BIN") or shutil.which("claude")
pytestmark = pytest.mark.skipif(
    CLAUDE is None,
    reason="Claude Code CLI not found: set CLAUDE_BIN or put `claude` on PATH "
    "(npm install @anthropic-ai/claude-code)",
)


def environment(home: Path, *, with_claude: bool) -> dict[str, str]:
    assert CLAUDE is not None
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MESHPEER_", "CLAUDE"))}
    path = [str(BIN), "/usr/bin", "/bin"]
    if with_claude:
        path.insert(0, str(Path(CLAUDE).parent))
    key = home / "member.key"
    if not key.exists():
        subprocess.run(command(["meshpeer", "keygen", "--out", str(key)]), check=True)
    return {
        **keep,
        "HOME": str(home),
        "PATH": os.pathsep.join(path),
        "MESHPEER_URL": "ws://127.0.0.1:1/ws",  # no broker needed: the handshake never fails
        "MESHPEER_MESH": "mesh-1",
        "MESHPEER_MEMBER": "member-1",
        "MESHPEER_KEY": str(key),
        "MESHPEER_HOME": str(home / ".meshpeer"),
        "DISABLE_AUTOUPDATER": "1",
    }


def run(argv: list[str], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(
        argv,
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    print(f"$ {' '.join(argv)}\n{done.stdout}{done.stderr}")
    return done.stdout + done.stderr


@pytest.mark.parametrize("with_claude", [True, False], ids=["via-claude-mcp-add", "file"])
def test_claude_code_connects_to_the_installed_server(tmp_path: Path, with_claude: bool) -> None:
    assert CLAUDE is not None
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir(parents=True)
    home.mkdir()
    env = environment(home, with_claude=with_claude)

    installed = json.loads(run(command(["meshpeer", "install"]), env, project).splitlines()[0])
    again = json.loads(run(command(["meshpeer", "install"]), env, project).splitlines()[0])
    listed = run([CLAUDE, "mcp", "list"], env, project)
    doctor = run([CLAUDE, "doctor"], env, project)

    assert installed["changed"] == [
        str(home / ".claude" / "settings.json"),
        str(home / ".claude.json"),
    ]
    assert again["changed"] == []  # idempotent
    server = [line for line in listed.splitlines() if line.startswith("meshpeer:")]
    assert server and "Connected" in server[0], listed
    assert "Claude Code doctor" in doctor, doctor
    assert "Invalid settings" not in doctor, doctor


def test_claude_code_probes_discover_then_initializes_and_lists_the_tools(tmp_path: Path) -> None:
    """What Claude Code sends to the server, and what it gets back, recorded on the wire."""
    assert CLAUDE is not None
    home, project = tmp_path / "home", tmp_path / "project"
    project.mkdir(parents=True)
    home.mkdir()
    env = environment(home, with_claude=True)
    spy = tmp_path / "spy.sh"
    spy.write_text(
        f"#!/bin/sh\nenv > {tmp_path}/env.txt\n"
        f"tee -a {tmp_path}/in.log | {BIN}/meshpeer mcp | tee -a {tmp_path}/out.log\n"
    )
    spy.chmod(0o755)
    run([CLAUDE, "mcp", "add", "--scope", "user", "meshpeer", "--", str(spy)], env, project)

    listed = run([CLAUDE, "mcp", "list"], {**env, "MESHPEER_CHANNEL": "1"}, project)

    server_env = (tmp_path / "env.txt").read_text().splitlines()
    sent = [json.loads(line) for line in (tmp_path / "in.log").read_text().splitlines()]
    answers = {m["id"]: m for m in map(json.loads, (tmp_path / "out.log").read_text().splitlines())}
    assert "Connected" in listed, listed
    assert [m.get("method") for m in sent[:3]] == [
        "server/discover",
        "initialize",
        "notifications/initialized",
    ]
    assert answers[sent[0]["id"]]["error"]["code"] == -32601
    initialized = answers[sent[1]["id"]]["result"]
    assert initialized["protocolVersion"] == sent[1]["params"]["protocolVersion"]
    assert initialized["capabilities"]["experimental"] == {"claude/channel": {}}
    assert all("method" not in m for m in answers.values())  # nothing unasked
    # What `meshpeer claude` sets reaches the server, and Claude Code names its session.
    assert "MESHPEER_CHANNEL=1" in server_env
    assert any(line.startswith("CLAUDE_CODE_SESSION_ID=") for line in server_env)
