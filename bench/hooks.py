"""The hooks scenario's worker: each client is one (pid, cwd) with a live presence
(a peer connected with that pid and cwd) and one keep-alive HTTP/1.1 connection on
which it posts `/hook/set-status`, alternating working and idle, one request at a
time, with the presence's hook token as the bearer."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json
import time
from array import array
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from bench.messaging import Share, connect_all
from bench.peer import Recorder
from bench.workers import Control


@dataclass
class HookStats:
    window: tuple[float, float]
    latency_ms: array[float]
    codes: collections.Counter[int]
    outcomes: collections.Counter[str]
    timeline: collections.Counter[int] = dataclasses.field(default_factory=collections.Counter)
    in_window: int = 0
    requests: int = 0
    reconnects: int = 0
    failures: int = 0


async def run(ctl: Control, share: Share) -> None:
    ctl.report("loaded")
    await ctl.next("connect")
    peers, hello = await connect_all(share, Recorder())
    ctl.report("ready", hello)
    go = await ctl.next("go")
    stats = HookStats(
        (go["start"], go["end"]), array("d"), collections.Counter(), collections.Counter()
    )
    parts = urlsplit(share.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    await asyncio.sleep(max(0.0, go["start"] - time.monotonic()))
    clients = []
    for index, _who, pid, cwd in share.peers:
        peer = peers.get(index)
        token = peer.hello_ok.get("hookToken") if peer else None
        clients.append(client(host, port, pid, cwd, token, stats))
    await asyncio.gather(*clients)
    ctl.report(
        "done",
        {
            "requests": stats.requests,
            "in_window": stats.in_window,
            "codes": dict(stats.codes),
            "outcomes": dict(stats.outcomes),
            "reconnects": stats.reconnects,
            "timeline": dict(stats.timeline),
            "failures": stats.failures,
            "latency_ms": stats.latency_ms.tobytes(),
        },
    )
    await asyncio.gather(*(p.close() for p in peers.values()))


async def client(
    host: str, port: int, pid: int, cwd: str, token: str | None, stats: HookStats
) -> None:
    start, end = stats.window
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    requests = []
    for status in ("working", "idle"):
        body = json.dumps({"cwd": cwd, "pid": pid, "status": status}).encode()
        head = (
            f"POST /hook/set-status HTTP/1.1\r\nHost: {host}:{port}\r\n{auth}"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        requests.append(head.encode() + body)
    reader, writer = await asyncio.open_connection(host, port)
    turn = 0
    while time.monotonic() < end:
        sent_at = time.monotonic()
        stats.requests += 1
        try:
            writer.write(requests[turn % 2])
            code, body, keep = await _response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            stats.failures += 1
            keep = False
        else:
            now = time.monotonic()
            stats.latency_ms.append((now - sent_at) * 1000)
            stats.codes[code] += 1
            stats.outcomes[_outcome(code, body)] += 1
            if code == 200 and start <= now <= end:
                stats.in_window += 1
                stats.timeline[int(now - start)] += 1
        turn += 1
        while not keep and time.monotonic() < end:
            writer.close()
            stats.reconnects += 1
            try:
                reader, writer = await asyncio.open_connection(host, port)
                keep = True
            except OSError:
                stats.failures += 1
                await asyncio.sleep(0.1)
    writer.close()


def _outcome(code: int, body: bytes) -> str:
    if code != 200:
        return f"http {code}"
    try:
        answer: dict[str, Any] = json.loads(body)
    except ValueError:
        return "200 unreadable"
    return "pending" if answer.get("pending") else "applied"


async def _response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    """Status code, body, and whether the connection stays open."""
    status_line = await reader.readuntil(b"\r\n")
    version, code = status_line.split(b" ", 2)[:2]
    headers: dict[bytes, bytes] = {}
    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
        name, _, value = line.partition(b":")
        headers[name.strip().lower()] = value.strip()
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
            body += (await reader.readexactly(size + 2))[:-2]
        await reader.readuntil(b"\r\n")
    else:
        body = await reader.readexactly(int(headers.get(b"content-length", b"0")))
    keep = headers.get(b"connection", b"").lower() != b"close" and version == b"HTTP/1.1"
    return int(code), body, keep
