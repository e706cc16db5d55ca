"""The worker side of every scenario that sends messages (throughput, latency,
fanout, and the connections scenario's probe), and the orchestrator's side of the
same phases:

  (start) -> "loaded"  the worker process is up (imports done)
  connect -> "ready"   peers connected (hello_ok each), hello times
  go      -> "sent"    senders ran until the end time (or their count), then waited
                       for the broker's acks of what is still in flight
  drain   -> "done"    recipients waited until every acked message of theirs came
                       in (or the drain deadline), then reported and disconnected
"""

from __future__ import annotations

import asyncio
import collections
import random
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench import payload
from bench.mesh import Identity
from bench.peer import Peer, Recorder
from bench.workers import Control, Pool


@dataclass
class Sender:
    index: int
    targets: list[int]
    window: int | None = None  # unacknowledged sends allowed in flight
    rate: float | None = None  # paced sends per second (open loop)
    count: int | None = None  # stop after this many


@dataclass
class Share:
    """One worker's part of a run."""

    url: str
    peers: list[tuple[int, Identity, int, str]]  # index, identity, pid, cwd
    pubkeys: dict[int, str]
    senders: list[Sender] = field(default_factory=list)
    ciphertext_chars: int = 200
    compression: bool = True
    connect_concurrency: int = 64
    ack_wait: float = 10.0


# ------------------------------------------------------------------ worker


async def run(ctl: Control, share: Share) -> None:
    rec = Recorder()
    ctl.report("loaded")
    await ctl.next("connect")
    peers, hello = await connect_all(share, rec)
    ctl.report("ready", hello)
    go = await ctl.next("go")
    ctl.report("sent", await send_phase(share, peers, rec, go))
    drain = await ctl.next("drain")
    ctl.report("done", await drain_phase(peers, rec, drain))
    await asyncio.gather(*(p.close() for p in peers.values()))


async def connect_all(share: Share, rec: Recorder) -> tuple[dict[int, Peer], dict[str, Any]]:
    gate = asyncio.Semaphore(share.connect_concurrency)
    peers: dict[int, Peer] = {}
    failures: collections.Counter[str] = collections.Counter()
    hello_ms = array("d")
    hello_at = array("d")  # when each hello_ok came
    first = time.monotonic()

    async def one(index: int, who: Identity, pid: int, cwd: str) -> None:
        async with gate:
            started = time.monotonic()
            try:
                peers[index] = await Peer.join(
                    share.url, index, who, rec, pid=pid, cwd=cwd, compression=share.compression
                )
            except Exception as exc:
                failures[f"{type(exc).__name__}: {str(exc)[:100]}"] += 1
                return
            now = time.monotonic()
            hello_ms.append((now - started) * 1000)
            hello_at.append(now)

    await asyncio.gather(*(one(*p) for p in share.peers))
    report = {
        "connected": len(peers),
        "failures": dict(failures),
        "first": first,
        "last": time.monotonic(),
        "hello_ms": hello_ms.tobytes(),
        "hello_at": hello_at.tobytes(),
    }
    return peers, report


async def send_phase(
    share: Share, peers: dict[int, Peer], rec: Recorder, go: dict[str, float]
) -> dict[str, Any]:
    start, end = go["start"], go["end"]
    rec.window = (start, end)
    await asyncio.sleep(max(0.0, start - time.monotonic()))
    make = payload.Payloads(share.ciphertext_chars)
    loops = []
    for spec in share.senders:
        peer = peers.get(spec.index)
        if peer is None:
            continue
        if spec.rate:
            loops.append(paced(peer, spec, share.pubkeys, make, start, end))
        else:
            loops.append(windowed(peer, spec, share.pubkeys, make, end))
    await asyncio.gather(*loops)
    sending_ended = time.monotonic()
    senders = [peers[s.index] for s in share.senders if s.index in peers]
    try:
        async with asyncio.timeout(share.ack_wait):
            await asyncio.gather(*(p.settled.wait() for p in senders))
    except TimeoutError:
        pass
    return {
        "acked": {p.index: dict(p.acked) for p in senders},
        "unacked": sum(len(p.outstanding) for p in senders),
        "sending_ended": sending_ended,
    }


async def windowed(
    peer: Peer, spec: Sender, pubkeys: dict[int, str], make: payload.Payloads, end: float
) -> None:
    peer.window_size = spec.window or 1
    peer.window = asyncio.Semaphore(peer.window_size)
    pick = random.Random(spec.index).choice
    while time.monotonic() < end and (spec.count is None or peer.next_seq < spec.count):
        if not peer.open:
            return
        target = pick(spec.targets)
        await peer.send(target, pubkeys[target], make)


async def paced(
    peer: Peer,
    spec: Sender,
    pubkeys: dict[int, str],
    make: payload.Payloads,
    start: float,
    end: float,
) -> None:
    """Open loop: send k is due at start + phase + k / rate, whatever the broker does."""
    assert spec.rate
    interval = 1 / spec.rate
    due = start + random.Random(spec.index).random() * interval
    target = spec.targets[0]
    while due < end and peer.open:
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        peer.rec.send_lag_ms.append(max(0.0, time.monotonic() - due) * 1000)
        await peer.send(target, pubkeys[target], make)
        due += interval


async def drain_phase(
    peers: dict[int, Peer], rec: Recorder, drain: dict[str, Any]
) -> dict[str, Any]:
    expected: dict[int, dict[int, list[int]]] = drain["expected"]
    deadline: float = drain["deadline"]
    mine = {index: exp for index, exp in expected.items() if index in peers}
    while time.monotonic() < deadline:
        if all(peers[i].log.missing(exp) == 0 for i, exp in mine.items()):
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.05)  # let the last client_acks go out
    logs = [p.log for p in peers.values()]
    return {
        "lost": sum(peers[i].log.missing(exp) for i, exp in mine.items()),
        "expected": sum(len(s) for exp in mine.values() for s in exp.values()),
        "delivered": sum(log.unique for log in logs),
        "duplicates": sum(log.duplicates for log in logs),
        "redelivered": sum(log.redelivered for log in logs),
        "reordered": sum(log.reordered for log in logs),
        "misrouted": rec.misrouted,
        "in_window": rec.in_window,
        "last_push": rec.last_push,
        "sent": rec.sent,
        "queued": rec.queued,
        "queued_in_window": rec.queued_in_window,
        "rejected": dict(rec.rejected),
        "errors": dict(rec.errors),
        "timeline": dict(rec.timeline),
        "latency_ms": rec.latency_ms.tobytes(),
        "ack_ms": rec.ack_ms.tobytes(),
        "send_lag_ms": rec.send_lag_ms.tobytes(),
        "open": sum(1 for p in peers.values() if p.open),
        "closed": dict(collections.Counter(str(p.closed) for p in peers.values() if not p.open)),
    }


# ------------------------------------------------------------------ orchestrator


def floats(chunks: list[bytes]) -> array[float]:
    out = array("d")
    for chunk in chunks:
        out.frombytes(chunk)
    return out


def expected_by_recipient(sent: list[dict[str, Any]]) -> dict[int, dict[int, list[int]]]:
    """recipient -> sender -> the sequence numbers the broker acked as queued."""
    expected: dict[int, dict[int, list[int]]] = collections.defaultdict(dict)
    for report in sent:
        for sender, by_target in report["acked"].items():
            for target, seqs in by_target.items():
                expected[target][sender] = seqs
    return expected


def merge_done(done: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {}
    for key in ("lost", "expected", "delivered", "duplicates", "redelivered", "reordered"):
        total[key] = sum(d[key] for d in done)
    for key in ("misrouted", "in_window", "sent", "queued", "queued_in_window", "open"):
        total[key] = sum(d[key] for d in done)
    for key in ("rejected", "errors", "closed"):
        merged: collections.Counter[str] = collections.Counter()
        for d in done:
            merged.update(d[key])
        total[key] = dict(merged)
    timeline: collections.Counter[int] = collections.Counter()
    for d in done:
        timeline.update(d["timeline"])
    total["timeline"] = [timeline.get(s, 0) for s in range(max(timeline, default=-1) + 1)]
    total["last_push"] = max(d["last_push"] for d in done)
    for key in ("latency_ms", "ack_ms", "send_lag_ms"):
        total[key] = floats([d[key] for d in done])
    return total


def exchange(
    pool: Pool,
    start: float,
    end: float,
    drain_for: float,
    send_timeout: float,
    at_start: Callable[[], None] | None = None,
) -> tuple[list[Any], list[Any]]:
    """The go / sent / drain / done phases; the workers' "sent" and "done" reports.
    `at_start` runs at the start time (the workers have their "go" by then)."""
    pool.send("go", {"start": start, "end": end})
    if at_start is not None:
        time.sleep(max(0.0, start - time.monotonic()))
        at_start()
    sent = pool.gather("sent", timeout=max(0.0, end - time.monotonic()) + send_timeout)
    expected = expected_by_recipient(sent)
    deadline = time.monotonic() + drain_for
    pool.send("drain", {"expected": expected, "deadline": deadline})
    done = pool.gather("done", timeout=drain_for + 30)
    return sent, done
