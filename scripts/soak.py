"""Soak the broker: peers connecting and leaving for a long time while messages flow.

Not part of CI. It starts one `meshbroker serve` on a database of its own (created on
the server of TEST_DATABASE_URL / DATABASE_URL, dropped at the end), runs PEERS peers
(members of MESHES meshes) that connect, say hello, send messages to mesh-mates,
confirm what is pushed to them, and leave (cleanly, or by dropping the TCP socket),
again and again, for MINUTES minutes. Once a minute it samples the broker's RSS and
open file descriptors from /proc, its /metrics and the database. At the end every
member connects once more to collect what was queued for it while it was away, and
the script reports:

- RSS growth under load: from the first sample after the warm-up (--warmup-minutes,
  default 3: the allocator's arenas fill during the first minutes, then RSS is flat)
  to the last sample under load; the growth from the very first sample is reported too;
- acknowledged sends never delivered (must be 0);
- presences not ended once everyone left and the grace window ran out (must be 0);
- deliveries and messages left in the database, open sockets the broker still counts,
  file descriptors gained;

and exits 1 when a criterion of issue 8 fails (RSS growth >= 10 %, an acknowledged
message not delivered, a presence or socket left behind).

    uv run python scripts/soak.py --minutes 30            # the real soak
    uv run python scripts/soak.py --minutes 1 --peers 200 # a quick check
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import sys
import time
import urllib.request
import uuid
from collections import Counter, defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

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

RSS_GROWTH_LIMIT = 10.0  # percent, issue 8
GRACE_SECONDS = 5


class QuietBroker(BrokerProcess):
    """A BrokerProcess that keeps only its last log lines (a soak writes many), counts
    lines by level, and keeps every warning and error (by message, and the first 50 in
    full) so that a soak's report says what went wrong."""

    def __init__(self, database_url: str, **env: str) -> None:
        super().__init__(database_url, **env)
        self.logs = deque(maxlen=2000)  # type: ignore[assignment]
        self.levels: Counter[str] = Counter()
        self.problems: Counter[str] = Counter()
        self.first_problems: list[dict[str, Any]] = []

    def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            try:
                entry = json.loads(raw)
            except ValueError:
                entry = {"msg": raw.rstrip(), "raw": True, "level": "raw"}
            with self._changed:
                self.logs.append(entry)
                level = str(entry.get("level"))
                self.levels[level] += 1
                if level in ("warning", "error", "critical", "raw"):
                    self.problems[f"{level}: {entry.get('msg')}"] += 1
                    if len(self.first_problems) < 50:
                        self.first_problems.append(entry)
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()


@dataclass
class Stats:
    connects: int = 0
    connect_errors: Counter[str] = field(default_factory=Counter)
    leaves_clean: int = 0
    leaves_abrupt: int = 0
    dropped_by_broker: Counter[str] = field(default_factory=Counter)
    sends: int = 0
    acks: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    pushes: int = 0
    # member id -> messageIds acknowledged `queued: true` for it / pushed to it
    owed: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    received: defaultdict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    targets: dict[str, str] = field(default_factory=dict)  # send id -> recipient member

    def undelivered(self) -> int:
        return sum(len(ids - self.received[m]) for m, ids in self.owed.items())

    def duplicates(self) -> int:
        return self.pushes - sum(len(ids) for ids in self.received.values())


@dataclass
class Soak:
    args: argparse.Namespace
    broker: QuietBroker
    database: Database
    mesh_ids: list[str]
    people: list[Identity]
    mates: dict[str, list[Identity]]
    stats: Stats = field(default_factory=Stats)
    samples: list[dict[str, Any]] = field(default_factory=list)

    # ------------------------------------------------------------ one peer

    async def peer(self, index: int, who: Identity, deadline: float) -> None:
        rng = random.Random(self.args.seed * 100_003 + index)
        await asyncio.sleep(rng.uniform(0, self.args.ramp_seconds))
        session: str | None = None
        interval = max(0.05, self.args.peers / self.args.rate)  # mean seconds between sends
        while time.monotonic() < deadline:
            if session is None or rng.random() > 0.1:  # one in ten resumes its session
                session = f"soak-{index}-{uuid.uuid4().hex[:8]}"
            try:
                socket = await connect(self.broker.url, open_timeout=30, max_size=None)
            except (OSError, InvalidHandshake, TimeoutError) as exc:
                self.stats.connect_errors[type(exc).__name__] += 1
                await asyncio.sleep(1)
                continue
            try:
                await self.visit(socket, who, session, rng, interval, deadline)
            except ConnectionClosed as closed:
                code = closed.rcvd.code if closed.rcvd else None
                self.stats.dropped_by_broker[str(code)] += 1
            except TimeoutError:
                self.stats.dropped_by_broker["client timeout"] += 1
                socket.transport.abort()
            await asyncio.sleep(rng.uniform(0.5, 5.0))

    async def visit(
        self,
        socket: ClientConnection,
        who: Identity,
        session: str,
        rng: random.Random,
        interval: float,
        deadline: float,
    ) -> None:
        await socket.send(json.dumps(signed_hello(who, session)))
        async with asyncio.timeout(30):
            first = json.loads(await socket.recv())
        if first.get("type") != "hello_ok":
            self.stats.connect_errors[f"hello {first.get('code')}"] += 1
            await socket.close()
            return
        self.stats.connects += 1
        pending: set[str] = set()
        reader = asyncio.ensure_future(self.read(socket, who, pending))
        try:
            leave_at = min(deadline, time.monotonic() + rng.uniform(2, 20))
            while time.monotonic() < leave_at and not reader.done():
                await asyncio.sleep(min(rng.expovariate(1 / interval), 5.0))
                target = rng.choice(self.mates[who.member.id])
                frame_id = f"{who.member.id[:8]}-{uuid.uuid4().hex[:12]}"
                self.stats.targets[frame_id] = target.member.id
                self.stats.sends += 1
                pending.add(frame_id)
                await socket.send(_send(target.pubkey, frame_id))
            if reader.done():  # the broker closed the socket under us
                self.stats.dropped_by_broker[str(socket.close_code)] += 1
            elif rng.random() < 0.2:
                socket.transport.abort()  # the peer vanishes: no close frame
                self.stats.leaves_abrupt += 1
            else:
                # A polite peer waits (a little) for the acks of what it sent.
                waited = time.monotonic() + 5
                while pending and not reader.done() and time.monotonic() < waited:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                async with asyncio.timeout(10):
                    await socket.close()
                self.stats.leaves_clean += 1
        finally:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def read(self, socket: ClientConnection, who: Identity, pending: set[str]) -> None:
        async for raw in socket:
            frame = json.loads(raw)
            kind = frame.get("type")
            if kind == "push":
                self.stats.pushes += 1
                self.stats.received[who.member.id].add(frame["messageId"])
                ack = {"type": "client_ack", "messageIds": [frame["messageId"]]}
                await socket.send(json.dumps(ack))
            elif kind == "ack":
                self.stats.acks["queued" if frame.get("queued") else str(frame.get("error"))] += 1
                pending.discard(frame.get("id"))
                target = self.stats.targets.pop(frame.get("id"), None)
                if frame.get("queued") and target is not None:
                    self.stats.owed[target].add(frame["messageId"])
            elif kind == "error":
                self.stats.errors[str(frame.get("code"))] += 1

    # ------------------------------------------------------------ the end: collect

    async def collect(self, who: Identity) -> None:
        """Connect once more and take what waited for this member, until quiet."""
        try:
            async with connect(self.broker.url, open_timeout=30, max_size=None) as socket:
                await socket.send(json.dumps(signed_hello(who, f"collect-{uuid.uuid4().hex}")))
                while True:
                    try:
                        async with asyncio.timeout(self.args.quiet_seconds):
                            frame = json.loads(await socket.recv())
                    except TimeoutError:
                        return
                    if frame.get("type") == "push":
                        self.stats.pushes += 1
                        self.stats.received[who.member.id].add(frame["messageId"])
                        ack = {"type": "client_ack", "messageIds": [frame["messageId"]]}
                        await socket.send(json.dumps(ack))
                    elif frame.get("type") == "error":
                        self.stats.errors[f"collect {frame.get('code')}"] += 1
                        return
        except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
            self.stats.connect_errors[f"collect {type(exc).__name__}"] += 1

    # ------------------------------------------------------------ measurements

    async def sample(self, label: str, elapsed: float = 0.0) -> dict[str, Any]:
        pid = self.broker.proc.pid if self.broker.proc else 0
        metrics = await asyncio.to_thread(_metrics, self.broker)
        live = await self.database.fetchval(
            "SELECT count(*) FROM mesh.presences WHERE mesh_id = ANY($1) AND ended_at IS NULL",
            self.mesh_ids,
        )
        row = {
            "at": label,
            "elapsed_s": round(elapsed),
            "rss_mib": round(_proc_status(pid, "VmRSS") / 1024, 1),
            "fds": len(os.listdir(f"/proc/{pid}/fd")),
            "threads": _proc_status(pid, "Threads"),
            "sockets": int(metrics.get("broker_connections_active", 0)),
            "queue_depth": int(metrics.get("broker_queue_depth", 0)),
            "live_presences": live,
            "connects": self.stats.connects,
            "sends": self.stats.sends,
            "pushes": self.stats.pushes,
        }
        self.samples.append(row)
        print(json.dumps(row), flush=True)
        return row

    async def sampler(self, deadline: float) -> None:
        started = time.monotonic()
        while True:
            await asyncio.sleep(min(self.args.sample_seconds, max(0, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                return
            await self.sample(f"{time.monotonic() - started:.0f} s", time.monotonic() - started)


def _send(to: str, frame_id: str) -> str:
    return json.dumps(
        {
            "type": "send",
            "id": frame_id,
            "targetSpec": to,
            "priority": "now",
            "nonce": "bm9uY2U=",
            "ciphertext": secrets.token_urlsafe(96),
        }
    )


def _proc_status(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1])
    return 0


def _metrics(broker: BrokerProcess) -> dict[str, float]:
    with urllib.request.urlopen(f"{broker.http}/metrics", timeout=10) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#") and "{" not in line.split(" ")[0]:
            name, _, value = line.partition(" ")
            with contextlib.suppress(ValueError):
                values[name] = float(value)
    return values


async def _leftovers(database: Database, mesh_ids: list[str]) -> dict[str, int]:
    async def count(sql: str) -> int:
        value: int = await database.fetchval(sql, mesh_ids)
        return value

    return {
        "presences_not_ended": await count(
            "SELECT count(*) FROM mesh.presences WHERE mesh_id = ANY($1) AND ended_at IS NULL"
        ),
        "deliveries_left": await count(
            "SELECT count(*) FROM mesh.deliveries d JOIN mesh.messages m ON m.id = d.message_id"
            " WHERE m.mesh_id = ANY($1)"
        ),
        "messages_left": await count("SELECT count(*) FROM mesh.messages WHERE mesh_id = ANY($1)"),
        "leases_held": await count(
            "SELECT count(*) FROM mesh.deliveries d JOIN mesh.messages m ON m.id = d.message_id"
            " WHERE m.mesh_id = ANY($1) AND d.leased_to IS NOT NULL"
        ),
    }


# ---------------------------------------------------------------- main


async def run(args: argparse.Namespace) -> int:
    server = args.database_url
    name = f"meshbroker_soak_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = urlunsplit(urlsplit(server)._replace(path=f"/{name}"))
    broker: BrokerProcess | None = None
    database: Database | None = None
    try:
        await migrate(url)
        database = await Database.create(url, min_size=1, max_size=4)
        per_mesh = args.peers // args.meshes
        meshes = [await new_mesh(database, f"soak{i}") for i in range(args.meshes)]
        people = [await new_member(database, m, f"p{i}") for m in meshes for i in range(per_mesh)]
        by_mesh: defaultdict[str, list[Identity]] = defaultdict(list)
        for who in people:
            by_mesh[who.mesh.id].append(who)
        mates = {
            who.member.id: [o for o in by_mesh[who.mesh.id] if o.member.id != who.member.id]
            for who in people
        }
        broker = QuietBroker(
            url,
            BROKER_SKIP_MIGRATE="1",
            MAX_CONNECTIONS_PER_MESH=str(per_mesh * 2),
            RECONNECT_GRACE_SECONDS=str(GRACE_SECONDS),
            ACK_TIMEOUT_SECONDS="10",
            MAX_PENDING_CONNECTIONS_PER_IP="100000",  # every peer comes from 127.0.0.1
        ).start()
        soak = Soak(args, broker, database, [m.id for m in meshes], people, mates)
        print(
            f"soak: {len(people)} peers in {len(meshes)} meshes, {args.minutes:g} min, "
            f"~{args.rate:g} msg/s offered; broker pid {broker.proc.pid if broker.proc else 0}",
            flush=True,
        )
        started = time.monotonic()
        await soak.sample("start")
        deadline = started + args.minutes * 60
        peers = [soak.peer(i, who, deadline) for i, who in enumerate(people)]
        await asyncio.gather(soak.sampler(deadline), *peers)
        under_load = [s for s in soak.samples if s["at"] != "start"]
        print("load over; collecting what waited for absent members", flush=True)

        for i in range(0, len(people), 50):
            await asyncio.gather(*(soak.collect(who) for who in people[i : i + 50]))
        settle_deadline = time.monotonic() + GRACE_SECONDS + 60
        left = await _leftovers(database, soak.mesh_ids)
        while left["presences_not_ended"] and time.monotonic() < settle_deadline:
            await asyncio.sleep(1)
            left = await _leftovers(database, soak.mesh_ids)
        final = await soak.sample("after collect and grace", time.monotonic() - started)
        return report(soak, under_load, final, left, time.monotonic() - started)
    finally:
        if broker is not None:
            broker.terminate()
        if database is not None:
            await database.close()
        if not args.keep_database:
            admin = await asyncpg.connect(server)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def report(
    soak: Soak,
    under_load: list[dict[str, Any]],
    final: dict[str, Any],
    left: dict[str, int],
    elapsed: float,
) -> int:
    stats = soak.stats
    first = under_load[0] if under_load else final
    last = under_load[-1] if under_load else final
    warm = [s for s in under_load if s["elapsed_s"] >= soak.args.warmup_minutes * 60]
    baseline = warm[0] if warm else last
    growth = 100.0 * (last["rss_mib"] - baseline["rss_mib"]) / baseline["rss_mib"]
    growth_from_first = 100.0 * (last["rss_mib"] - first["rss_mib"]) / first["rss_mib"]
    peak = max(s["rss_mib"] for s in soak.samples)
    undelivered = stats.undelivered()
    result = {
        "minutes": soak.args.minutes,
        "peers": len(soak.people),
        "elapsed_s": round(elapsed),
        "connects": stats.connects,
        "leaves_clean": stats.leaves_clean,
        "leaves_abrupt": stats.leaves_abrupt,
        "connect_errors": dict(stats.connect_errors),
        "dropped_by_broker": dict(stats.dropped_by_broker),
        "sends": stats.sends,
        "acks": dict(stats.acks),
        "acked_queued_owed": sum(len(v) for v in stats.owed.values()),
        "pushes": stats.pushes,
        "duplicate_pushes": stats.duplicates(),
        "errors": dict(stats.errors),
        "acked_but_undelivered": undelivered,
        "rss_first_mib": first["rss_mib"],
        "rss_growth_from_first_pct": round(growth_from_first, 1),
        "rss_baseline_at_s": baseline["elapsed_s"],
        "rss_baseline_mib": baseline["rss_mib"],
        "rss_last_mib": last["rss_mib"],
        "rss_peak_mib": peak,
        "rss_growth_pct": round(growth, 1),
        "rss_after_collect_mib": final["rss_mib"],
        "fds_first": first["fds"],
        "fds_final": final["fds"],
        "sockets_open_at_end": final["sockets"],
        **left,
        "broker_log_levels": dict(soak.broker.levels),
        "broker_problems": dict(soak.broker.problems),
        "broker_first_problems": soak.broker.first_problems,
    }
    print(json.dumps(result, indent=2), flush=True)
    failures = []
    if growth >= RSS_GROWTH_LIMIT:
        failures.append(f"RSS grew {growth:.1f} % after the warm-up (limit {RSS_GROWTH_LIMIT:g} %)")
    if undelivered:
        failures.append(f"{undelivered} acknowledged messages never delivered")
    if left["presences_not_ended"]:
        failures.append(f"{left['presences_not_ended']} presences not ended")
    if final["sockets"]:
        failures.append(f"the broker still counts {final['sockets']} open sockets")
    if left["deliveries_left"]:
        failures.append(f"{left['deliveries_left']} deliveries left after every member collected")
    for line in failures:
        print(f"FAIL: {line}", flush=True)
    print("soak: " + ("FAILED" if failures else "passed"), flush=True)
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--peers", type=int, default=1000)
    parser.add_argument("--meshes", type=int, default=20)
    parser.add_argument("--rate", type=float, default=100.0, help="messages/s offered in all")
    parser.add_argument("--sample-seconds", type=float, default=60.0)
    parser.add_argument("--ramp-seconds", type=float, default=30.0)
    parser.add_argument("--warmup-minutes", type=float, default=3.0)
    parser.add_argument("--quiet-seconds", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
        help="a server's maintenance database; the soak creates and drops its own",
    )
    parser.add_argument("--keep-database", action="store_true")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()
