"""`meshpeer` end to end: real broker subprocess, real `meshpeer` processes, the commands
of docs/claude-code.md. Helpers here are shared with test_meshpeer_restart.py."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import queue
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest

from tests.integration.support import WAIT, BrokerProcess

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
INVOKED: set[tuple[str, ...]] = set()  # command shapes run here, checked against the docs


def shape(argv: list[str]) -> tuple[str, ...]:
    """(program, subcommand[, action], sorted flags): what the docs must match."""
    words = [a for a in argv[1:3] if not a.startswith("-")]
    if argv[0] == "meshbroker" and words[:1] != ["serve"]:
        words = words[:2]
    else:
        words = words[:1]
    flags = sorted({a for a in argv if a.startswith("--")})
    return (argv[0], *words, *flags)


def command(argv: list[str]) -> list[str]:
    INVOKED.add(shape(argv))
    return [str(BIN / argv[0]), *argv[1:]]


def eventually(check: Callable[[], T | None], what: str, timeout: float = WAIT) -> T:
    """Poll `check` until it returns a truthy value; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


@dataclass
class Peer:
    """One member's identity on disk, and the environment `meshpeer` reads it from."""

    name: str
    key: Path
    pubkey: str
    member_id: str
    mesh_id: str
    workdir: Path
    home: Path

    def env(self, broker: BrokerProcess, **extra: str) -> dict[str, str]:
        return {
            **os.environ,
            "MESHPEER_URL": broker.url,
            "MESHPEER_MESH": self.mesh_id,
            "MESHPEER_MEMBER": self.member_id,
            "MESHPEER_KEY": str(self.key),
            "MESHPEER_HOME": str(self.home),
            **extra,
        }

    def run(
        self, broker: BrokerProcess, *args: str, stdin: str = "", **extra: str
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command(["meshpeer", *args]),
            env=self.env(broker, **extra),
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )

    def send(self, broker: BrokerProcess, to: Peer | str, text: str) -> dict[str, Any]:
        target = to.pubkey if isinstance(to, Peer) else to
        done = self.run(broker, "send", "--to", target, text)
        assert done.returncode == 0, done.stderr
        ack: dict[str, Any] = json.loads(done.stdout)
        assert ack["queued"] is True and ack["messageId"]
        return ack

    def peers(self, broker: BrokerProcess) -> list[dict[str, Any]]:
        done = self.run(broker, "peers")
        assert done.returncode == 0, done.stderr
        listed: list[dict[str, Any]] = json.loads(done.stdout)
        return listed

    def session(self, broker: BrokerProcess, session_id: str) -> dict[str, Any] | None:
        found = [p for p in self.peers(broker) if p["sessionId"] == session_id]
        return found[0] if found else None

    def listen(self, broker: BrokerProcess, session_id: str, *args: str) -> Listener:
        proc = subprocess.Popen(
            command(["meshpeer", "listen", *args]),
            env=self.env(broker, MESHPEER_SESSION=session_id),
            cwd=self.workdir,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return Listener(proc, session_id)


@dataclass
class Listener:
    """A running `meshpeer listen`; its stdout lines arrive in `lines`."""

    proc: subprocess.Popen[str]
    session_id: str
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    stderr: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread(
            target=self._pump, args=(self.proc.stdout, self.lines.put), daemon=True
        ).start()
        threading.Thread(
            target=self._pump, args=(self.proc.stderr, self.stderr.append), daemon=True
        ).start()

    @staticmethod
    def _pump(stream: Any, sink: Callable[[str], None]) -> None:
        for line in stream:
            sink(line)

    def message(self, timeout: float = WAIT) -> dict[str, Any]:
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no message within {timeout} s; stderr:\n{self.log}") from None
        parsed: dict[str, Any] = json.loads(line)
        return parsed

    @property
    def log(self) -> str:
        return "".join(self.stderr[-20:])

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(WAIT)


@dataclass
class Mesh:
    id: str
    alice: Peer
    bob: Peer


def meshbroker(broker: BrokerProcess, *args: str) -> Any:
    done = subprocess.run(
        command(["meshbroker", *args]),
        env=broker.env,
        capture_output=True,
        text=True,
        timeout=2 * WAIT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def make_mesh(broker: BrokerProcess, root: Path) -> Mesh:
    """An operator's mesh with two members, as docs/claude-code.md sets one up."""
    slug = f"demo-{secrets.token_hex(4)}"
    mesh = meshbroker(broker, "mesh", "create", "--name", "demo", "--slug", slug)
    peers = {}
    for name in ("alice", "bob"):
        workdir = root / name / "project"
        workdir.mkdir(parents=True)
        key = root / name / f"{name}.key"
        done = subprocess.run(
            command(["meshpeer", "keygen", "--out", str(key)]),
            capture_output=True,
            text=True,
            check=True,
        )
        pubkey = json.loads(done.stdout)["pubkey"]
        member = meshbroker(
            broker, "member", "add", "--mesh", slug, "--pubkey", pubkey, "--name", name
        )
        peers[name] = Peer(
            name, key, pubkey, member["id"], mesh["id"], workdir, root / name / "home"
        )
    return Mesh(mesh["id"], peers["alice"], peers["bob"])


def stored_message(database_url: str, message_id: str) -> dict[str, Any] | None:
    """The broker's row for a message (deleted once every recipient acked it)."""

    async def fetch() -> dict[str, Any] | None:
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow("SELECT * FROM mesh.messages WHERE id = $1", message_id)
        finally:
            await conn.close()
        return None if row is None else dict(row)

    return asyncio.run(fetch())


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def broker(database_url: str) -> Iterator[BrokerProcess]:
    # HOOK_AUTH=token: a hook only counts with the token meshpeer keeps on file.
    process = BrokerProcess(database_url, HOOK_AUTH="token").start()
    yield process
    process.kill()


@pytest.fixture
def mesh(broker: BrokerProcess, tmp_path: Path) -> Mesh:
    return make_mesh(broker, tmp_path)


@pytest.fixture
def listeners() -> Iterator[list[Listener]]:
    started: list[Listener] = []
    yield started
    for listener in started:
        if listener.proc.poll() is None:
            listener.proc.kill()
            listener.proc.wait(WAIT)


def wait_online(peer: Peer, broker: BrokerProcess, session_id: str) -> dict[str, Any]:
    return eventually(
        lambda: (s := peer.session(broker, session_id)) and s["online"] and s,
        f"session {session_id} online",
    )


# ---------------------------------------------------------------- tests


def test_two_peers_exchange_a_message_the_broker_cannot_read(
    broker: BrokerProcess, mesh: Mesh, database_url: str, listeners: list[Listener]
) -> None:
    alice, bob = mesh.alice, mesh.bob
    secret = f"the launch code is {secrets.token_hex(8)}"

    ack = alice.send(broker, bob, secret)  # bob is not connected yet: the broker holds it

    row = stored_message(database_url, ack["messageId"])
    assert row is not None and row["sender_pubkey"] == alice.pubkey
    assert secret not in repr(row) and secret.encode() not in base64.b64decode(row["ciphertext"])
    assert base64.b64encode(secret.encode()).decode()[:16] not in row["ciphertext"]
    assert len(base64.b64decode(row["nonce"])) == 24

    listener = bob.listen(broker, "bob-1", "--count", "1", "--timeout", str(WAIT))
    listeners.append(listener)
    received = listener.message()
    assert received == {
        "messageId": ack["messageId"],
        "from": "alice",  # the sender's display name
        "fromPubkey": alice.pubkey,
        "priority": "next",
        "text": secret,
        "createdAt": received["createdAt"],
        "encrypted": True,
    }
    assert listener.proc.wait(WAIT) == 0, listener.log  # --count 1 reached
    eventually(lambda: stored_message(database_url, ack["messageId"]) is None, "the ack to land")


def test_a_message_to_a_connected_listener_arrives_at_once(
    broker: BrokerProcess, mesh: Mesh, listeners: list[Listener]
) -> None:
    alice, bob = mesh.alice, mesh.bob
    listener = bob.listen(broker, "bob-live", "--count", "1", "--timeout", str(WAIT))
    listeners.append(listener)
    wait_online(alice, broker, "bob-live")

    ack = alice.send(broker, bob, "are you there?")

    received = listener.message()
    assert (received["messageId"], received["text"]) == (ack["messageId"], "are you there?")
    assert listener.proc.wait(WAIT) == 0, listener.log


def test_a_broadcast_is_signed_plaintext_that_the_broker_can_read(
    broker: BrokerProcess, mesh: Mesh, database_url: str, listeners: list[Listener]
) -> None:
    """ADR 0009: broadcasts are authenticated, not confidential. This test says so."""
    alice, bob = mesh.alice, mesh.bob

    ack = alice.send(broker, "*", "standup in five minutes")

    row = stored_message(database_url, ack["messageId"])
    assert row is not None and row["nonce"] == ""
    assert b"standup in five minutes" in base64.b64decode(row["ciphertext"])
    listener = bob.listen(broker, "bob-b", "--count", "1", "--timeout", str(WAIT))
    listeners.append(listener)
    received = listener.message()
    assert received["text"] == "standup in five minutes" and received["encrypted"] is False
    assert received["messageId"] == ack["messageId"] and received["from"] == "alice"
    assert received["fromPubkey"] == alice.pubkey


def test_send_waits_for_the_receipt_and_status_of_tells_it(
    broker: BrokerProcess, mesh: Mesh, listeners: list[Listener]
) -> None:
    """spec/receipts.md: `send --wait acked` exits 0 once every recipient acked;
    `status-of` prints the message_status reply; a wait that cannot end times out."""
    alice, bob = mesh.alice, mesh.bob
    listener = bob.listen(broker, "bob-receipts", "--count", "1", "--timeout", str(WAIT))
    listeners.append(listener)
    wait_online(alice, broker, "bob-receipts")

    done = alice.run(broker, "send", "--to", bob.pubkey, "--wait", "acked", "--timeout", "20", "hi")

    assert done.returncode == 0, done.stderr
    ack, waited = (json.loads(line) for line in done.stdout.splitlines())
    assert waited == {"messageId": ack["messageId"], "recipients": {bob.pubkey: "acked"}}
    status = alice.run(broker, "status-of", ack["messageId"])
    assert status.returncode == 0, status.stderr
    reply = json.loads(status.stdout)
    assert [(r["displayName"], r["state"]) for r in reply["recipients"]] == [("bob", "acked")]
    assert listener.proc.wait(WAIT) == 0, listener.log

    late = alice.run(broker, "send", "--to", bob.pubkey, "--wait", "pushed", "--timeout", "1", "x")
    assert late.returncode == 1 and "timed out waiting for pushed" in late.stderr
    assert json.loads(late.stdout.splitlines()[1])["recipients"] == {bob.pubkey: "queued"}
    other = bob.run(broker, "status-of", ack["messageId"])
    assert other.returncode == 1 and "not_found" in other.stderr


def test_send_to_a_non_member_is_not_queued_and_exits_1(broker: BrokerProcess, mesh: Mesh) -> None:
    stranger = json.loads(
        subprocess.run(
            command(["meshpeer", "keygen", "--out", str(mesh.alice.workdir / "x.key")]),
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["pubkey"]
    done = mesh.alice.run(broker, "send", "--to", stranger, "anyone there?")
    assert done.returncode == 1
    assert json.loads(done.stdout) == {
        "type": "ack",
        "id": "s-1",
        "queued": False,
        "error": "no_recipient",
    }


def test_an_unknown_member_is_refused_with_one_line(broker: BrokerProcess, mesh: Mesh) -> None:
    done = mesh.alice.run(broker, "peers", MESHPEER_MEMBER=mesh.bob.member_id)
    assert done.returncode == 1 and done.stdout == ""
    assert "unauthorized" in done.stderr and done.stderr.count("\n") == 1


def test_listen_without_a_broker_gives_up_with_one_line(broker: BrokerProcess, mesh: Mesh) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    url = f"ws://127.0.0.1:{closed.getsockname()[1]}/ws"
    closed.close()

    done = mesh.alice.run(
        broker, "listen", "--timeout", "2", MESHPEER_URL=url, MESHPEER_LOG_LEVEL="ERROR"
    )

    assert done.returncode == 1 and done.stdout == "", done.stderr
    assert done.stderr == f"meshpeer listen: not connected to {url} in 2 s\n"


def test_hook_flips_a_live_sessions_status(
    broker: BrokerProcess, mesh: Mesh, listeners: list[Listener]
) -> None:
    bob = mesh.bob
    listener = bob.listen(broker, "bob-hook")  # runs until SIGTERM, as in the docs
    listeners.append(listener)
    session_file = bob.home / "sessions" / "bob-hook.json"
    eventually(session_file.exists, "the session file")
    assert session_file.stat().st_mode & 0o777 == 0o600
    record = json.loads(session_file.read_text())
    assert record["cwd"] == str(bob.workdir) and record["pid"] == listener.proc.pid
    assert wait_online(bob, broker, "bob-hook")["status"] == "idle"

    # The docs' hand-run line, as written, from the listener's directory.
    doc_line = next(line for line in documented_lines() if line.endswith("| meshpeer hook"))
    done = subprocess.run(
        ["bash", "-c", doc_line],
        env={**bob.env(broker), "PATH": f"{BIN}:{os.environ['PATH']}"},
        cwd=bob.workdir,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    eventually(
        lambda: bob.session(broker, "bob-hook")["status"] == "working",  # type: ignore[index]
        "working after the docs' hook line",
    )

    for event, status in [("Stop", "idle"), ("PreToolUse", "working"), ("SessionEnd", "idle")]:
        hook_event = {"hook_event_name": event, "cwd": str(bob.workdir), "session_id": "claude-1"}
        started = time.monotonic()
        done = bob.run(broker, "hook", stdin=json.dumps(hook_event))
        assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
        assert time.monotonic() - started < 2
        eventually(
            lambda s=status: bob.session(broker, "bob-hook")["status"] == s,  # type: ignore[index]
            f"status {status} after {event}",
        )

    # Under HOOK_AUTH=token a hook without the token on file is refused, and says so.
    elsewhere = {"hook_event_name": "Stop", "cwd": str(bob.workdir)}
    done = bob.run(
        broker, "hook", stdin=json.dumps(elsewhere), MESHPEER_HOME=str(bob.workdir / "none")
    )
    assert done.returncode == 0 and "401" in done.stderr

    assert listener.stop() == 0
    assert not session_file.exists(), "the session file outlived its session"


def test_status_sets_the_listening_sessions_manual_status(
    broker: BrokerProcess, mesh: Mesh, listeners: list[Listener]
) -> None:
    bob = mesh.bob
    listener = bob.listen(broker, "bob-dnd", "--count", "1", "--timeout", str(3 * WAIT))
    listeners.append(listener)
    wait_online(bob, broker, "bob-dnd")

    done = bob.run(broker, "status", "dnd")  # no --session: the one listening in this cwd

    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["type"] == "status" and reply["status"] == "dnd" and reply["source"] == "manual"
    # The status command took the session over for a moment; the listener came back.
    eventually(lambda: listener.log.count("connected: presence") >= 2, "the listener back")
    assert wait_online(bob, broker, "bob-dnd")["status"] == "dnd"
    mesh.alice.send(broker, bob, "next: held while bob is dnd")
    done = mesh.alice.run(broker, "send", "--priority", "now", "--to", bob.pubkey, "now wins")
    assert done.returncode == 0, done.stderr
    assert listener.message()["text"] == "now wins"  # `next` waits while dnd; `now` does not


def test_hook_always_exits_0_within_2_seconds() -> None:
    """Broker refusing, broker hanging (a socket that never answers), garbage on stdin."""
    hanging = socket.socket()
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(1)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()
    event = json.dumps({"hook_event_name": "PreToolUse", "cwd": "/tmp"})
    cases = [
        (f"ws://127.0.0.1:{refused_port}/ws", event),
        (f"ws://127.0.0.1:{hanging.getsockname()[1]}/ws", event),
        ("ws://127.0.0.1:1/ws", "this is not json {"),
        ("ws://127.0.0.1:1/ws", ""),
    ]
    try:
        for url, stdin in cases:
            started = time.monotonic()
            done = subprocess.run(
                command(["meshpeer", "hook"]),
                input=stdin,
                env={**os.environ, "MESHPEER_URL": url, "MESHPEER_HOME": "/nonexistent"},
                capture_output=True,
                text=True,
                timeout=WAIT,
            )
            elapsed = time.monotonic() - started
            assert done.returncode == 0 and done.stdout == "", (url, stdin, done.stderr)
            assert elapsed < 2.0, f"hook took {elapsed:.2f} s for {url!r}"
    finally:
        hanging.close()


# ---------------------------------------------------------------- joining by invite


def no_identity_env(home: Path) -> dict[str, str]:
    """A fresh user's environment: a HOME of its own and no MESHPEER_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHPEER_")}
    return {**env, "HOME": str(home), "PATH": f"{BIN}:{os.environ['PATH']}"}


def invite_for(broker: BrokerProcess, mesh_id: str, *args: str) -> dict[str, Any]:
    """`meshbroker invite create`, with the broker's URL from BROKER_PUBLIC_URL."""
    done = subprocess.run(
        command(["meshbroker", "invite", "create", "--mesh", mesh_id, *args]),
        env={**broker.env, "BROKER_PUBLIC_URL": broker.url},
        capture_output=True,
        text=True,
        timeout=2 * WAIT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    created: dict[str, Any] = json.loads(done.stdout)
    return created


def meshpeer(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(["meshpeer", *args]),
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


def test_a_new_member_joins_by_invite_and_messages_with_no_variables_set(
    broker: BrokerProcess, mesh: Mesh, tmp_path: Path, listeners: list[Listener]
) -> None:
    invite = invite_for(broker, mesh.id)
    home = tmp_path / "carol"
    (home / "project").mkdir(parents=True)
    env = no_identity_env(home)

    joined = meshpeer(env, home / "project", "join", invite["invite"], "--name", "carol")

    assert joined.returncode == 0, joined.stderr
    report = json.loads(joined.stdout)
    assert set(report) == {"meshId", "memberId", "pubkey", "profile"}
    assert report["meshId"] == mesh.id
    profile_file = home / ".meshpeer" / "profiles" / f"{report['profile']}.json"
    key_file = home / ".meshpeer" / "keys" / f"{report['profile']}.key"
    for path in (profile_file, key_file):
        assert path.stat().st_mode & 0o777 == 0o600, path
    profile = json.loads(profile_file.read_text())
    assert (profile["url"], profile["meshId"], profile["memberId"]) == (
        broker.url,
        mesh.id,
        report["memberId"],
    )
    assert profile["name"] == "carol" and profile["key"] == str(key_file)
    config = json.loads((home / ".meshpeer" / "config.json").read_text())
    assert config == {"profile": report["profile"]}

    whoami = meshpeer(env, home / "project", "whoami")
    assert whoami.returncode == 0, whoami.stderr
    me = json.loads(whoami.stdout)
    assert (me["meshId"], me["memberId"], me["pubkey"]) == (
        mesh.id,
        report["memberId"],
        report["pubkey"],
    )
    assert me["profile"] == report["profile"] and key_file.read_text().strip() not in whoami.stdout

    proc = subprocess.Popen(
        command(["meshpeer", "listen", "--count", "1", "--timeout", str(WAIT)]),
        env=env,
        cwd=home / "project",
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    listener = Listener(proc, "carol")
    listeners.append(listener)
    ack = mesh.alice.send(broker, report["pubkey"], "welcome, carol")
    received = listener.message()
    assert (received["messageId"], received["text"]) == (ack["messageId"], "welcome, carol")
    assert listener.proc.wait(WAIT) == 0, listener.log

    sent = meshpeer(env, home / "project", "send", "--to", mesh.alice.pubkey, "thanks, alice")
    assert sent.returncode == 0, sent.stderr
    alice = mesh.alice.listen(broker, "alice-reads", "--count", "1", "--timeout", str(WAIT))
    listeners.append(alice)
    assert alice.message()["text"] == "thanks, alice"
    assert alice.proc.wait(WAIT) == 0, alice.log


def test_a_refused_invite_is_one_line_exit_1_and_writes_nothing(
    broker: BrokerProcess, mesh: Mesh, tmp_path: Path
) -> None:
    invite = invite_for(broker, mesh.id)
    first = no_identity_env(tmp_path / "first")
    (tmp_path / "first").mkdir()
    assert meshpeer(first, tmp_path, "join", invite["invite"], "--name", "first").returncode == 0
    late_home = tmp_path / "late"
    late_home.mkdir()

    done = meshpeer(no_identity_env(late_home), tmp_path, "join", invite["invite"])

    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "refused the invite" in done.stderr, done.stderr
    assert list(late_home.iterdir()) == []  # no ~/.meshpeer, no key, no profile


def test_an_invite_for_a_broker_that_is_not_there_writes_nothing(tmp_path: Path) -> None:
    from adapters.invite_string import InviteString

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    url = f"ws://127.0.0.1:{closed.getsockname()[1]}/ws"
    closed.close()
    invite = InviteString(url, "m", "demo", "t" * 43).encode()

    done = meshpeer(no_identity_env(tmp_path), tmp_path, "join", invite)

    assert done.returncode == 1 and "is `meshbroker serve` running" in done.stderr
    assert done.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_a_mesh_slug_works_through_a_profile_and_is_named_without_one(
    broker: BrokerProcess, mesh: Mesh, tmp_path: Path
) -> None:
    invite = invite_for(broker, mesh.id)
    slug = json.loads(
        base64.urlsafe_b64decode(invite["invite"][5:] + "=" * (-len(invite["invite"][5:]) % 4))
    )["mesh"]
    home = tmp_path / "dana"
    home.mkdir()
    env = no_identity_env(home)
    assert meshpeer(env, home, "join", invite["invite"], "--name", "dana").returncode == 0

    with_profile = meshpeer(env, home, "peers", "--mesh", slug)
    without = mesh.alice.run(broker, "peers", MESHPEER_MESH=slug)
    a_pubkey = mesh.alice.run(broker, "peers", MESHPEER_MEMBER=mesh.alice.pubkey)

    assert with_profile.returncode == 0, with_profile.stderr
    assert without.returncode == 1 and "looks like a mesh slug" in without.stderr
    assert without.stderr.count("\n") == 1
    assert a_pubkey.returncode == 1 and "looks like a pubkey" in a_pubkey.stderr


def test_a_broker_that_is_not_there_or_a_wrong_path_fails_at_once(
    broker: BrokerProcess, mesh: Mesh
) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = f"ws://127.0.0.1:{closed.getsockname()[1]}/ws"
    closed.close()
    cases = {
        refused: "is `meshbroker serve` running",
        f"ws://127.0.0.1:{broker.port}/nope/ws": "the broker's path is /ws",
        f"ws://127.0.0.1:{broker.port}": "the broker's WebSocket path is /ws",
    }
    for url, says in cases.items():
        started = time.monotonic()
        done = mesh.alice.run(broker, "peers", MESHPEER_URL=url)
        assert time.monotonic() - started < 5, url  # no 10 s of retries
        assert done.returncode in (1, 2) and says in done.stderr, (url, done.stderr)
        assert done.stderr.count("\n") == 1, done.stderr


def test_status_where_no_session_runs_exits_1_and_says_so(
    broker: BrokerProcess, mesh: Mesh
) -> None:
    done = mesh.bob.run(broker, "status", "dnd")
    assert done.returncode == 1 and done.stdout == ""
    assert "no `meshpeer listen` session" in done.stderr and done.stderr.count("\n") == 1


def test_serve_on_a_taken_port_is_one_line_naming_broker_port(database_url: str) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        process = BrokerProcess(database_url, BROKER_PORT=str(taken.getsockname()[1]))
        done = subprocess.run(
            [sys.executable, "-m", "app.cli", "serve"],
            env=process.env,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
    finally:
        taken.close()
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "BROKER_PORT" in done.stderr, done.stderr


def test_install_and_claude_as_the_docs_show(
    broker: BrokerProcess, mesh: Mesh, tmp_path: Path
) -> None:
    """The commands of the docs' first sections (the real Claude Code CLI: test_claude_cli)."""
    home, fake = tmp_path / "home", tmp_path / "fake-bin"
    home.mkdir()
    fake.mkdir()
    claude = fake / "claude"
    claude.write_text('#!/bin/sh\nprintf \'%s\\n\' "$MESHPEER_CHANNEL" "$@"\n', encoding="utf-8")
    claude.chmod(0o755)
    env = {**mesh.bob.env(broker), "HOME": str(home), "PATH": "/usr/bin:/bin"}
    env.pop("CLAUDE_BIN", None)  # the fake one on PATH, never the real client

    def run(*args: str, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command(["meshpeer", *args]),
            env={**env, "PATH": path},
            cwd=mesh.bob.workdir,
            capture_output=True,
            text=True,
            timeout=WAIT,
        )

    dry = run("install", "--dry-run")
    first = run("install")
    again = run("install")
    project = run("install", "--scope", "project")
    started = run("claude", path=f"{fake}:/usr/bin:/bin")

    assert json.loads(dry.stdout)["changed"] == json.loads(first.stdout)["changed"]
    assert json.loads(first.stdout)["changed"] == [
        str(home / ".claude" / "settings.json"),
        str(home / ".claude.json"),
    ]
    assert json.loads(again.stdout)["changed"] == []
    assert (mesh.bob.workdir / ".mcp.json").exists(), project.stderr
    assert started.returncode == 0, started.stderr
    assert started.stdout.split() == [
        "1",
        "--dangerously-load-development-channels",
        "server:meshpeer",
    ]


# ---------------------------------------------------------------- the docs


def documented_lines() -> list[str]:
    """The lines of docs/claude-code.md's shell blocks, comments dropped."""
    text = (ROOT / "docs" / "claude-code.md").read_text()
    blocks = re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S)
    return [line.split(" #")[0].strip() for block in blocks for line in block.splitlines()]


def documented_commands() -> list[list[str]]:
    """The meshpeer/meshbroker command lines in those blocks, as argv."""
    found = []
    for line in documented_lines():
        line = line.split(" | ")[-1].removesuffix("&").strip()
        line = re.sub(r"^(\S+=\S+ )+", "", line).removeprefix("uv run ")  # VAR=x prefixes
        if line.startswith(("meshpeer ", "meshbroker ")):
            found.append(shlex.split(line))
    return found


def test_every_command_in_the_docs_is_one_these_tests_run(request: pytest.FixtureRequest) -> None:
    module_tests = [i for i in request.session.items if i.module is request.module]
    if len(module_tests) < len([n for n in dir(request.module) if n.startswith("test_")]):
        pytest.skip("run the whole module: this test checks what the others ran")
    INVOKED.add(shape(["meshbroker", "serve"]))  # BrokerProcess runs it (python -m app.cli)
    documented = documented_commands()
    assert len(documented) >= 8, "docs/claude-code.md lost its commands"
    untested = [" ".join(c) for c in documented if shape(c) not in INVOKED]
    assert not untested, f"documented but not exercised: {untested}"
