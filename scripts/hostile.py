"""Hostile clients against one broker at once (issue 15), measured.

Not part of CI. It starts one `meshbroker serve` (default settings, except those given
with --env) on a database of its own (created on the server of TEST_DATABASE_URL /
DATABASE_URL, dropped at the end), then, all at the same time for --seconds:

- two stuck readers: members that say hello, then never read again (4 KB receive
  buffer). One is a mesh-mate of the honest peers (their small broadcasts reach it);
  the other is sent 48 KB messages, about 10 a second, by a feeder;
- a ping flood: a socket that upgrades, never says hello and never reads, and sends
  pings as fast as the kernel takes them;
- --half-open connections that send half a request line and nothing more, spread over
  addresses 127.0.0.2.. (--per-address each), plus --one-address more from a single
  address (to meet the per-address limit);
- --peers honest peers, each broadcasting to its mesh once a second;
- /health polled every 0.2 s.

It reports /health's answers and latencies, deliveries to the honest peers (sent,
received, latency), when the stuck reader and the flood were dropped, how many
half-open connections got 408 / 503 / nothing (the stuck readers' drop is found by
writing to them, never by reading), the broker's RSS, open file descriptors
and log volume, and exits 1 when /health was ever not 200 or an honest peer missed mail.

    uv run python scripts/hostile.py                      # the figures in reliability.md
    uv run python scripts/hostile.py --env WS_WRITE_TIMEOUT_SECONDS=2
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import resource
import secrets
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

from tests.integration.support import (  # noqa: E402
    BrokerProcess,
    Identity,
    new_member,
    new_mesh,
    signed_hello,
)

from adapters.postgres.database import Database  # noqa: E402
from adapters.postgres.migrate import migrate  # noqa: E402


class CountingBroker(BrokerProcess):
    """Keeps its log lines' count and bytes, and those of warnings and errors."""

    def __init__(self, database_url: str, **env: str) -> None:
        super().__init__(database_url, **env)
        self.log_bytes = 0
        self.levels: dict[str, int] = {}
        self.nofile = 0  # when set: the broker's file descriptor limit (soft and hard)

    def start(self) -> CountingBroker:
        def limit() -> None:
            if self.nofile:
                resource.setrlimit(resource.RLIMIT_NOFILE, (self.nofile, self.nofile))

        self.proc = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=limit,
        )
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_log(lambda e: e.get("msg") == "broker listening")
        self.port = int(line["port"])
        return self

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.log_bytes += len(raw)
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = {"msg": raw.rstrip(), "raw": True, "level": "raw"}
            level = str(entry.get("level"))
            self.levels[level] = self.levels.get(level, 0) + 1
            with self._changed:
                if len(self.logs) < 20000 or level in ("warning", "error"):
                    self.logs.append(entry)
                self._changed.notify_all()


def proc_stat(pid: int) -> dict[str, int]:
    with open(f"/proc/{pid}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {"rss_mb": rss // 1024, "fds": len(os.listdir(f"/proc/{pid}/fd"))}


# ---------------------------------------------------------------- raw WebSocket bits


def raw_socket(port: int, source: str = "127.0.0.1", rcvbuf: int = 0) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source, 0))
    sock.settimeout(30)
    sock.connect(("127.0.0.1", port))
    return sock


def upgrade(sock: socket.socket) -> None:
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk


def frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    size = len(payload)
    if size < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    else:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def wait_dropped(sock: socket.socket, limit: float, began: float) -> float | None:
    """Seconds from `began` until the broker resets this socket, found by writing an
    empty pong every 0.2 s (never by reading: that would take the data the broker
    waits on); None if it is still open after `limit`."""
    sock.settimeout(limit)
    try:
        while time.monotonic() - began < limit:
            sock.sendall(frame(0xA, b""))
            time.sleep(0.2)
    except (ConnectionResetError, BrokenPipeError):
        return time.monotonic() - began
    except TimeoutError:
        pass
    return None


# ---------------------------------------------------------------- the attackers


def stuck_reader(port: int, who: Identity) -> socket.socket:
    sock = raw_socket(port, rcvbuf=4096)
    upgrade(sock)
    sock.sendall(frame(0x1, json.dumps(signed_hello(who, str(uuid.uuid4()))).encode()))
    return sock


def ping_flood(port: int, seconds: float, report: dict[str, Any]) -> None:
    sock = raw_socket(port, rcvbuf=4096)
    upgrade(sock)
    burst = b"".join(frame(0x9, os.urandom(125)) for _ in range(4096))
    began, sent = time.monotonic(), 0
    try:
        while time.monotonic() - began < seconds:
            sock.sendall(burst)
            sent += len(burst)
        report["flood_dropped_after_s"] = None
    except (ConnectionResetError, BrokenPipeError, TimeoutError):
        report["flood_dropped_after_s"] = round(time.monotonic() - began, 2)
    report["flood_sent_mb"] = round(sent / 2**20, 1)


def half_open(port: int, sources: list[str], report: dict[str, Any], key: str) -> list[Any]:
    """Connections that send half a request line; what each one got, read later."""
    socks = []
    for source in sources:
        try:
            sock = raw_socket(port, source)
            sock.sendall(b"GET /hea")
            socks.append(sock)
        except OSError as exc:
            report.setdefault(f"{key}_connect_errors", []).append(str(exc))
    report[f"{key}_opened"] = len(socks)
    return socks


def outcome(sock: socket.socket) -> str:
    sock.settimeout(60)
    data = b""
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    sock.close()
    return data[:12].decode(errors="replace") or "closed, no reply"


# ---------------------------------------------------------------- the honest side


async def poll_health(url: str, until: float, out: list[tuple[int, float]]) -> None:
    while time.monotonic() < until:
        began = time.monotonic()
        try:
            status = await asyncio.to_thread(_get_status, f"{url}/health")
        except OSError:
            status = 0
        out.append((status, time.monotonic() - began))
        await asyncio.sleep(0.2)


def _get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


async def honest_peer(
    url: str, who: Identity, until: float, stats: dict[str, Any], index: int
) -> None:
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps(signed_hello(who, f"honest-{index}")))
        json.loads(await ws.recv())
        stats["connected"] += 1

        async def reader() -> None:
            while True:
                frame_ = json.loads(await ws.recv())
                if frame_.get("type") == "push":
                    sent_at = float(base64.b64decode(frame_["ciphertext"]).decode())
                    stats["received"] += 1
                    stats["latencies"].append(time.time() - sent_at)
                    await ws.send(
                        json.dumps({"type": "client_ack", "messageIds": [frame_["messageId"]]})
                    )

        reading = asyncio.create_task(reader())
        n = 0
        while time.monotonic() < until:
            n += 1
            stamp = base64.b64encode(str(time.time()).encode()).decode()
            await ws.send(
                json.dumps(
                    {
                        "type": "send",
                        "id": f"{index}-{n}",
                        "targetSpec": "*",
                        "priority": "now",
                        "nonce": "bm9uY2U=",
                        "ciphertext": stamp,
                    }
                )
            )
            stats["sent"] += 1
            await asyncio.sleep(1.0)
        await asyncio.sleep(3.0)  # the last pushes arrive
        reading.cancel()


async def feed_the_stuck(url: str, who: Identity, target: Identity, until: float) -> int:
    """Mail for the stuck reader: 48 KB messages, about 10 a second."""
    blob = base64.b64encode(os.urandom(36_000)).decode()
    sent = 0
    async with connect(url, max_size=None) as ws:
        await ws.send(json.dumps(signed_hello(who, "feeder")))
        await ws.recv()
        while time.monotonic() < until:
            await ws.send(
                json.dumps(
                    {
                        "type": "send",
                        "id": f"feed-{sent}",
                        "targetSpec": target.pubkey,
                        "priority": "now",
                        "nonce": "bm9uY2U=",
                        "ciphertext": blob,
                    }
                )
            )
            sent += 1
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.1):
                    while True:
                        await ws.recv()
    return sent


# ---------------------------------------------------------------- the run


async def run(args: argparse.Namespace) -> int:
    server = args.database_url
    name = f"meshbroker_hostile_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    broker: CountingBroker | None = None
    database: Database | None = None
    report: dict[str, Any] = {}
    try:
        await migrate(url)
        database = await Database.create(url, min_size=1, max_size=4)
        mesh = await new_mesh(database, "hostile")
        honest = [await new_member(database, mesh, f"h{i}") for i in range(args.peers)]
        stuck_who = await new_member(database, mesh, "stuck")
        feeder = await new_member(database, await new_mesh(database, "feed"), "feeder")
        feeder_mesh_mate = await new_member(database, feeder.mesh, "stuck2")
        env = dict(item.split("=", 1) for item in args.env)
        broker = CountingBroker(url, BROKER_SKIP_MIGRATE="1", **env)
        broker.nofile = args.broker_nofile
        broker.start()
        assert broker.port is not None and broker.proc is not None
        pid, port = broker.proc.pid, broker.port
        if args.broker_nofile:
            report["broker_nofile"] = args.broker_nofile
        report["settings"] = env or "defaults"
        report["before"] = proc_stat(pid)
        until = time.monotonic() + args.seconds

        health: list[tuple[int, float]] = []
        stats: dict[str, Any] = {"connected": 0, "sent": 0, "received": 0, "latencies": []}
        polling = asyncio.create_task(poll_health(broker.http, until + 5, health))
        honest_tasks = [
            asyncio.create_task(honest_peer(broker.url, who, until, stats, i))
            for i, who in enumerate(honest)
        ]
        # The attack, all at once.
        attack_began = time.monotonic()
        stuck = await asyncio.to_thread(stuck_reader, port, stuck_who)
        stuck2 = await asyncio.to_thread(stuck_reader, port, feeder_mesh_mate)
        feeding = asyncio.create_task(feed_the_stuck(broker.url, feeder, feeder_mesh_mate, until))
        flooding = asyncio.create_task(asyncio.to_thread(ping_flood, port, args.seconds, report))
        spread = [f"127.0.0.{2 + i // args.per_address}" for i in range(args.half_open)]
        opened_at = time.monotonic()
        spread_socks = await asyncio.to_thread(half_open, port, spread, report, "half_open")
        single = ["127.0.0.250"] * args.one_address
        single_socks = await asyncio.to_thread(half_open, port, single, report, "one_address")
        report["half_open_opened_in_s"] = round(time.monotonic() - opened_at, 2)
        await asyncio.sleep(1.0)
        report["under_attack"] = proc_stat(pid)
        dropped = await asyncio.gather(
            asyncio.to_thread(wait_dropped, stuck, args.seconds + 90, attack_began),
            asyncio.to_thread(wait_dropped, stuck2, args.seconds + 90, attack_began),
        )
        report["stuck_reader_dropped_after_s"] = [
            None if d is None else round(d, 1) for d in dropped
        ]
        outcomes: dict[str, int] = {}
        for result in await asyncio.gather(
            *(asyncio.to_thread(outcome, s) for s in spread_socks + single_socks)
        ):
            outcomes[result] = outcomes.get(result, 0) + 1
        report["half_open_outcomes"] = outcomes
        report["feeder_sent"] = await feeding
        await flooding
        await asyncio.gather(*honest_tasks, return_exceptions=True)
        await polling
        report["after"] = proc_stat(pid)
        statuses: dict[int, int] = {}
        for status, _ in health:
            statuses[status] = statuses.get(status, 0) + 1
        latencies = sorted(t for _, t in health)
        report["health"] = {
            "answers": statuses,
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "max_ms": round(1000 * latencies[-1], 1),
        }
        expected = stats["sent"] * (args.peers - 1)  # each broadcast reaches the others
        lat = sorted(stats.pop("latencies"))
        report["honest"] = {
            **stats,
            "expected": expected,
            "p50_ms": round(1000 * statistics.median(lat), 1) if lat else None,
            "p99_ms": round(1000 * lat[int(len(lat) * 0.99) - 1], 1) if lat else None,
        }
        report["log"] = {"bytes": broker.log_bytes, "lines_by_level": broker.levels}
        warnings: dict[str, int] = {}
        for entry in broker.logs:
            if entry.get("level") in ("warning", "error", "raw"):
                warnings[str(entry.get("msg"))[:80]] = (
                    warnings.get(str(entry.get("msg"))[:80], 0) + 1
                )
        report["warnings"] = warnings
        noted = ("ws peer stuck: aborted", "ws close", "ws hello")
        report["ws_log"] = {m: sum(1 for e in broker.logs if e.get("msg") == m) for m in noted}
        report["stuck_log"] = [
            {k: e.get(k) for k in ("ts", "on", "after")}
            for e in broker.logs
            if e.get("msg") == "ws peer stuck: aborted"
        ]
        began = time.monotonic()
        report["sigterm_exit"] = broker.terminate()
        report["sigterm_took_s"] = round(time.monotonic() - began, 2)
    finally:
        if broker is not None:
            broker.kill()
        if database is not None:
            await database.close()
        if not args.keep_database:
            admin = await asyncpg.connect(server)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()
    print(json.dumps(report, indent=2))
    healthy = set(report["health"]["answers"]) == {200}
    delivered = report["honest"]["received"] >= report["honest"]["expected"]
    return 0 if healthy and delivered else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--peers", type=int, default=10)
    parser.add_argument("--half-open", type=int, default=800)
    parser.add_argument("--per-address", type=int, default=100)
    parser.add_argument("--one-address", type=int, default=200)
    parser.add_argument(
        "--broker-nofile", type=int, default=0, help="lower the broker's fd limit to this"
    )
    parser.add_argument("--env", action="append", default=[], help="NAME=value for the broker")
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
