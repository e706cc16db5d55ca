"""Hostile and stuck clients against a real broker (issue 15): raw sockets that never
read, half-sent requests, idle connections by the hundred, a ping flood, and hooks a
web page could send. Each broker here runs with short deadlines so that the tests
wait seconds, not minutes; every wait is bounded by `WAIT`."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import struct
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from adapters.postgres.database import Database
from tests.integration.support import (
    WAIT,
    BrokerProcess,
    Identity,
    WsPeer,
    new_member,
    new_mesh,
    signed_hello,
)

FAST = {"WS_WRITE_TIMEOUT_SECONDS": "1", "HELLO_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def brokers(database_url: str) -> Iterator[list[BrokerProcess]]:
    started: list[BrokerProcess] = []
    yield started
    for broker in started:
        broker.kill()


def start(started: list[BrokerProcess], database_url: str, **env: str) -> BrokerProcess:
    broker = BrokerProcess(database_url, **env).start()
    started.append(broker)
    return broker


# ---------------------------------------------------------------- a raw WebSocket client


def raw_socket(broker: BrokerProcess, source: str = "127.0.0.1", rcvbuf: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source, 0))
    sock.settimeout(WAIT)
    assert broker.port is not None
    sock.connect(("127.0.0.1", broker.port))
    return sock


def upgrade(sock: socket.socket) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        assert chunk, "closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head


def frame(opcode: int, payload: bytes) -> bytes:
    """One masked client frame."""
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    return head + mask + masked


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            assert chunk, "closed"
            data += chunk
        return data

    first, second = exactly(2)
    size = second & 0x7F
    if size == 126:
        (size,) = struct.unpack("!H", exactly(2))
    elif size == 127:
        (size,) = struct.unpack("!Q", exactly(8))
    return first & 0x0F, exactly(size)


def read_json(sock: socket.socket) -> dict[str, Any]:
    while True:
        opcode, payload = read_frame(sock)
        if opcode == 0x1:
            decoded: dict[str, Any] = json.loads(payload)
            return decoded


def stuck_peer(broker: BrokerProcess, who: Identity) -> socket.socket:
    """A peer that says hello, then never reads again (suspended, say), with a small
    receive buffer so that the broker's writes back up soon."""
    sock = raw_socket(broker, rcvbuf=4096)
    upgrade(sock)
    sock.sendall(frame(0x1, json.dumps(signed_hello(who, str(uuid.uuid4()))).encode()))
    assert read_json(sock)["type"] == "hello_ok"
    return sock


def is_reset(sock: socket.socket) -> bool:
    """Whether the broker dropped this socket: reading what is buffered ends in a
    reset or an end of stream (never in a wait)."""
    sock.settimeout(WAIT)
    try:
        while sock.recv(1 << 20):
            pass
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return True


def rss_kb(broker: BrokerProcess) -> int:
    assert broker.proc is not None
    with open(f"/proc/{broker.proc.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


def http(broker: BrokerProcess, path: str, body: bytes | None = None, **headers: str) -> Any:
    request = urllib.request.Request(
        f"{broker.http}{path}", data=body, method="POST" if body is not None else "GET"
    )
    for name, value in headers.items():
        request.add_header(name.replace("_", "-"), value)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


# Loopback's kernel buffers hold about 4 MB (tcp_wmem max) before a write waits.
FILL = 150  # messages of ~48 KB: 7 MB


async def fill(sender: WsPeer, target: Identity, count: int = FILL) -> None:
    """`count` messages of ~48 KB to `target`: more than the kernel's buffers hold."""
    blob = base64.b64encode(os.urandom(36_000)).decode()
    for i in range(count):
        frame_ = {
            "type": "send",
            "id": f"f-{i}",
            "targetSpec": target.pubkey,
            "priority": "now",
            "nonce": "bm9uY2U=",
            "ciphertext": blob,
        }
        await sender.send(frame_)
    for i in range(count):
        await sender.expect("ack", id=f"f-{i}")


# ---------------------------------------------------------------- 1, 2: a stuck reader


async def test_a_peer_that_never_reads_is_aborted_and_the_others_still_get_their_mail(
    brokers: list[BrokerProcess], database_url: str, database: Database
) -> None:
    broker = start(brokers, database_url, **FAST)
    mesh = await new_mesh(database, "stuck")
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    cy = await new_member(database, mesh, "cy")
    stuck = stuck_peer(broker, ada)
    sender = await WsPeer.join(broker.url, bob)
    other = await WsPeer.join(broker.url, cy)

    await fill(sender, ada)  # more than the socket's buffers hold
    aborted = await asyncio.to_thread(
        broker.wait_log, lambda e: e.get("msg") == "ws peer stuck: aborted"
    )
    assert aborted["after"] == 1.0
    broker.wait_log(lambda e: e.get("msg") == "ws close" and e.get("member_id") == ada.member.id)
    assert await asyncio.to_thread(is_reset, stuck)

    # A broadcast after it reaches everyone else; the stuck member's share waits.
    await sender.request(
        {
            "type": "send",
            "id": "all",
            "targetSpec": "*",
            "priority": "now",
            "nonce": "bm9uY2U=",
            "ciphertext": "aGk=",
        },
        "ack",
    )
    assert (await other.expect("push"))["ciphertext"] == "aGk="
    # Disconnected as any drop is: offline, in its grace window (not ended).
    row = await database.fetchrow(
        "SELECT connection_id, ended_at FROM mesh.presences WHERE member_id = $1", ada.member.id
    )
    assert row is not None and row["connection_id"] is None and row["ended_at"] is None


async def test_shutdown_with_a_stuck_reader_closes_the_others_with_1001_and_exits(
    brokers: list[BrokerProcess], database_url: str, database: Database
) -> None:
    broker = start(brokers, database_url, WS_WRITE_TIMEOUT_SECONDS="5")
    mesh = await new_mesh(database, "shutdown")
    ada, bob = await new_member(database, mesh, "ada"), await new_member(database, mesh, "bob")
    stuck = stuck_peer(broker, ada)  # held: a socket collected would close
    sender = await WsPeer.join(broker.url, bob)
    blob = base64.b64encode(os.urandom(36_000)).decode()
    for i in range(FILL):  # no waiting for acks: the pushes are under way at the signal
        await sender.send(
            {
                "type": "send",
                "id": f"s-{i}",
                "targetSpec": ada.pubkey,
                "priority": "now",
                "nonce": "bm9uY2U=",
                "ciphertext": blob,
            }
        )
    await sender.expect("ack", id=f"s-{FILL - 1}")
    await asyncio.sleep(1)  # the pushes to ada now wait on its full buffers (deadline: 5 s)

    began = time.monotonic()
    code = await asyncio.to_thread(broker.terminate)
    took = time.monotonic() - began

    assert code == 0
    assert (await sender.closed())[0] == 1001
    assert took < 10, f"shutdown took {took:.1f} s"
    assert not [e for e in broker.logs if e.get("msg") == "presences not ended at shutdown"]
    online = await database.fetchval(
        "SELECT count(*) FROM mesh.presences WHERE mesh_id = $1 AND ended_at IS NULL "
        "AND connection_id IS NOT NULL",
        mesh.id,
    )
    assert online == 0
    ended = await database.fetchval(
        "SELECT ended_at FROM mesh.presences WHERE member_id = $1", bob.member.id
    )
    assert ended is not None
    stuck.close()


# ---------------------------------------------------------------- 3: before a request or hello


@pytest.mark.parametrize(
    "sent",
    [
        pytest.param(b"GET /hea", id="half-a-request-line"),
        pytest.param(b"GET /health HTTP/1.1\r\nHost: x\r\n", id="headers-never-end"),
        pytest.param(
            b"POST /hook/set-status HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\n"
            b'content-length: 100\r\n\r\n{"cwd":',
            id="body-shorter-than-its-length",
        ),
        pytest.param(b"", id="nothing-at-all"),
    ],
)
async def test_a_request_that_never_completes_gets_408_and_is_closed(
    brokers: list[BrokerProcess], database_url: str, sent: bytes
) -> None:
    broker = start(brokers, database_url, **FAST)
    sock = raw_socket(broker)
    sock.sendall(sent)

    reply = await asyncio.to_thread(_read_to_end, sock)

    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert http(broker, "/health")[0] == 200


def _read_to_end(sock: socket.socket) -> bytes:
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := sock.recv(65536):
            data += chunk
    return data


async def test_a_websocket_that_never_says_hello_nor_reads_its_replies_is_dropped(
    brokers: list[BrokerProcess], database_url: str
) -> None:
    broker = start(brokers, database_url, **FAST)
    sock = raw_socket(broker, rcvbuf=4096)
    upgrade(sock)
    # Each frame gets an `error` reply (~60 bytes) that is never read: 12 MB of them.
    junk = frame(0x1, b"{}") * 200_000

    def send_all() -> bool:
        try:
            sock.sendall(junk)
        except (ConnectionResetError, BrokenPipeError):
            return True
        return False

    assert await asyncio.to_thread(send_all) or await asyncio.to_thread(reset_without_reading, sock)
    assert http(broker, "/health")[0] == 200


def reset_without_reading(sock: socket.socket) -> bool:
    """Whether the broker resets this socket within WAIT, found by writing (a ping now
    and then), never by reading: reading would take the data the broker waits on."""
    sock.settimeout(WAIT)
    deadline = time.monotonic() + WAIT
    try:
        while time.monotonic() < deadline:
            sock.sendall(frame(0x9, b""))
            time.sleep(0.2)
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False
    return False


async def test_pending_connections_are_bounded_per_address_and_in_all(
    brokers: list[BrokerProcess], database_url: str
) -> None:
    env = {"MAX_PENDING_CONNECTIONS": "8", "MAX_PENDING_CONNECTIONS_PER_IP": "4"}
    broker = start(brokers, database_url, HELLO_TIMEOUT_SECONDS="60", **env)
    idle = [raw_socket(broker, "127.0.0.2") for _ in range(4)]
    assert http(broker, "/health")[0] == 200  # before its idle connections count

    beyond = raw_socket(broker, "127.0.0.2")
    refused = await asyncio.to_thread(_read_to_end, beyond)
    assert refused.startswith(b"HTTP/1.1 503"), refused
    assert b"too many pending connections" in refused
    assert http(broker, "/health")[0] == 200  # another address is let in

    idle += [raw_socket(broker, "127.0.0.3") for _ in range(4)]
    await asyncio.sleep(0.5)  # let the broker accept them (it answers nothing to count on)
    last = raw_socket(broker, "127.0.0.4")
    assert (await asyncio.to_thread(_read_to_end, last)).startswith(b"HTTP/1.1 503")

    for sock in idle:
        sock.close()
    async with asyncio.timeout(WAIT):
        while True:  # the slots come back as the connections go
            with contextlib.suppress(OSError, urllib.error.URLError):
                if http(broker, "/health")[0] == 200:
                    break
            await asyncio.sleep(0.1)
    metrics = http(broker, "/metrics")[1].decode()
    assert 'broker_connections_rejected_total{reason="pending_per_address"} 1.0' in metrics
    assert 'broker_connections_rejected_total{reason="pending_total"}' in metrics


# ---------------------------------------------------------------- 4: a ping flood


async def test_a_ping_flood_before_hello_grows_no_memory(
    brokers: list[BrokerProcess], database_url: str
) -> None:
    broker = start(brokers, database_url, WS_WRITE_TIMEOUT_SECONDS="1")
    sock = raw_socket(broker, rcvbuf=4096)
    upgrade(sock)
    before = rss_kb(broker)
    burst = b"".join(frame(0x9, os.urandom(125)) for _ in range(4096))  # ~0.5 MB of pings

    def flood() -> int:
        sent = 0
        try:
            while sent < 256 << 20:
                sock.sendall(burst)
                sent += len(burst)
        except (ConnectionResetError, BrokenPipeError):
            return sent
        return -1

    sent = await asyncio.to_thread(flood)
    grown_mb = (rss_kb(broker) - before) / 1024

    assert sent != -1, f"256 MB of pings and never dropped; the broker grew {grown_mb:.0f} MB"
    assert grown_mb < 32, f"the broker grew {grown_mb:.0f} MB"
    assert http(broker, "/health")[0] == 200


# ---------------------------------------------------------------- 5: bad input


async def test_binary_frames_before_hello_get_no_hello_and_a_binary_hello_is_refused(
    brokers: list[BrokerProcess], database_url: str, database: Database
) -> None:
    broker = start(brokers, database_url)
    ada = await new_member(database, await new_mesh(database, "binary"), "ada")
    peer = await WsPeer.open(broker.url)

    await peer.send(b"\xff\xfe\x00")
    assert (await peer.expect("error"))["code"] == "no_hello"
    await peer.send(json.dumps(signed_hello(ada, "s-1")).encode())
    assert (await peer.expect("error"))["code"] == "no_hello"
    await peer.send(signed_hello(ada, "s-2"))
    assert (await peer.expect("hello_ok"))["memberId"] == ada.member.id


async def test_a_text_frame_that_is_not_utf8_closes_1007_without_a_traceback(
    brokers: list[BrokerProcess], database_url: str
) -> None:
    broker = start(brokers, database_url)
    sock = raw_socket(broker)
    upgrade(sock)

    sock.sendall(frame(0x1, b'{"type":"hello","cwd":"\xff"}'))
    opcode, payload = read_frame(sock)

    assert opcode == 0x8
    assert struct.unpack("!H", payload[:2])[0] == 1007
    broker.wait_log(lambda e: e.get("msg") == "ws frame not UTF-8: closed 1007")
    assert not [e for e in broker.logs if e.get("level") == "error" or "traceback" in e]


async def test_hooks_refuse_what_a_web_page_or_a_bad_client_sends(
    brokers: list[BrokerProcess], database_url: str
) -> None:
    broker = start(brokers, database_url, HOOK_AUTH="open")
    good = json.dumps({"cwd": "/home/ada/proj", "pid": 1, "status": "working"}).encode()

    status, body = http(broker, "/hook/set-status", good, content_type="text/plain")
    assert (status, json.loads(body)["ok"]) == (415, False)
    status, _ = http(broker, "/hook/set-status", good)  # urllib's form content type
    assert status == 415
    status, body = http(
        broker,
        "/hook/set-status",
        b'{"cwd":"\xff","status":"idle"}',
        content_type="application/json",
    )
    assert (status, json.loads(body)) == (400, {"ok": False, "error": "body is not valid UTF-8"})
    dnd = json.dumps({"cwd": "/home/ada/proj", "pid": 1, "status": "dnd"}).encode()
    status, body = http(broker, "/hook/set-status", dnd, content_type="application/json")
    assert status == 400 and "set_status" in json.loads(body)["error"]
    charset = "application/json; charset=utf-8"
    assert http(broker, "/hook/set-status", good, content_type=charset)[0] == 200

    refusals = [e for e in broker.logs if e.get("msg") == "hook refused"]
    assert len(refusals) == 4
    assert http(broker, "/schema")[0] == 200  # outside production, the document is served
    assert not [e for e in broker.logs if e.get("level") == "error"]


async def test_production_serves_no_openapi_ui(
    brokers: list[BrokerProcess], database_url: str
) -> None:
    broker = start(brokers, database_url, NODE_ENV="production")

    for path in ("/schema", "/schema/swagger", "/schema/openapi.json"):
        assert http(broker, path)[0] == 404, path
    assert http(broker, "/health")[0] == 200


async def test_hook_logs_carry_no_whole_cwd(
    brokers: list[BrokerProcess], database_url: str
) -> None:
    broker = start(brokers, database_url, HOOK_AUTH="open")
    cwd = "/home/ada/" + "deep/" * 200 + "proj"
    body = json.dumps({"cwd": cwd, "pid": 1, "status": "working"}).encode()

    assert http(broker, "/hook/set-status", body, content_type="application/json")[0] == 200

    logged = broker.wait_log(lambda e: e.get("msg") == "hook")
    assert logged["cwd"].startswith("proj#") and len(logged["cwd"]) < 80


# ---------------------------------------------------------------- 6: the LISTEN connection


async def test_a_lost_listen_connection_is_warned_about_and_counted(
    brokers: list[BrokerProcess], database_url: str
) -> None:
    broker = start(brokers, database_url)
    broker.wait_log(lambda e: e.get("msg") == "listen connection up")
    conn = await asyncpg.connect(database_url)
    try:
        killed = await conn.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
        )
    finally:
        await conn.close()
    assert killed >= 1

    lost = await asyncio.to_thread(
        broker.wait_log, lambda e: e.get("msg") == "listen connection lost"
    )
    assert lost["level"] == "warning"
    metrics = http(broker, "/metrics")[1].decode()
    assert "broker_listen_connection_lost_total 1.0" in metrics
