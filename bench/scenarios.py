"""The five scenarios, orchestrator side: who connects where, who sends to whom,
and the JSON result. Each returns a dict; the CLI adds the common fields."""

from __future__ import annotations

import asyncio
import collections
import sys
import time
from argparse import Namespace
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import procstat
from bench.broker import db_counters
from bench.mesh import Identity, create_members, online_counts
from bench.messaging import Sender, Share, exchange, floats, merge_done
from bench.meter import Meter
from bench.stats import latency_summary, rate
from bench.workers import Pool

PAIRS = 50


@dataclass
class Target:
    url: str
    database_url: str
    broker_pid: int | None
    postgres_pids: Callable[[], list[int]] | None = None
    mesh_ids: list[str] = field(default_factory=list)  # every mesh the scenario made


def log(text: str) -> None:
    print(f"[bench] {text}", flush=True, file=sys.stderr)


# ------------------------------------------------------------------ shares


def build_shares(
    target: Target,
    opts: Namespace,
    identities: list[Identity],
    place: dict[int, int],  # peer index -> worker
    senders: list[Sender],
    where: dict[int, tuple[int, str]] | None = None,  # peer index -> pid, cwd
) -> list[Share]:
    ack_wait = 3.0 if opts.quick else 15.0  # for the acks still due when sending stops
    wanted = {t for s in senders for t in s.targets}
    pubkeys = {i: identities[i].pubkey for i in wanted}
    shares = [
        Share(
            url=target.url,
            peers=[],
            pubkeys=pubkeys,
            compression=not opts.no_compression,
            ack_wait=ack_wait,
            connect_concurrency=opts.connect_concurrency,
        )
        for _ in range(opts.workers)
    ]
    for index, worker in sorted(place.items()):
        pid, cwd = (where or {}).get(index, (4242, "/bench"))
        shares[worker].peers.append((index, identities[index], pid, cwd))
    for spec in senders:
        shares[place[spec.index]].senders.append(spec)
    return shares


def members(target: Target, count: int, name: str) -> list[Identity]:
    started = time.monotonic()
    identities = asyncio.run(create_members(target.database_url, count, name))
    target.mesh_ids.append(identities[0].mesh_id)
    log(f"{count} members created in {time.monotonic() - started:.1f} s")
    return identities


def connect(pool: Pool, expect: int, timeout: float) -> list[dict[str, Any]]:
    pool.send("connect")
    ready = pool.gather("ready", timeout)
    connected = sum(r["connected"] for r in ready)
    failures: dict[str, int] = {}
    for r in ready:
        for reason, n in r["failures"].items():
            failures[reason] = failures.get(reason, 0) + n
    if connected < expect:
        log(f"only {connected} of {expect} peers connected: {failures}")
    return ready


def per(amount: int | None, count: int) -> float | None:
    return round(amount / count, 2) if amount is not None and count else None


def meter_for(target: Target, pool: Pool, opts: Namespace) -> Meter:
    return Meter(
        target.broker_pid,
        pool.pids,
        target.postgres_pids,
        opts.py_spy_gil,
        health_url=target.url,
        counters=db_counters(target.database_url),
    )


def profile_path(opts: Namespace) -> Path | None:
    return Path(opts.py_spy) if opts.py_spy else None


def message_fields(total: dict[str, Any], sent: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "queued": total["queued"],
        "unacked": sum(s["unacked"] for s in sent),
        "rejected": total["rejected"],
        "redelivered_before_ack": total["redelivered"],
        "misrouted": total["misrouted"],
        "client_errors": total["errors"],
        **latency_summary(total["ack_ms"], "ack_"),
    }


# ------------------------------------------------------------------ scenarios


def pairs_scenario(
    target: Target, opts: Namespace, name: str, per_sender: Sender
) -> dict[str, Any]:
    """50 sender -> recipient pairs; sender i is peer i, its recipient peer 50 + i,
    placed in the next worker so that every push crosses processes."""
    identities = members(target, 2 * PAIRS, name)
    place = {}
    senders = []
    for i in range(PAIRS):
        place[i] = i % opts.workers
        place[PAIRS + i] = (i + 1) % opts.workers
        senders.append(Sender(i, [PAIRS + i], per_sender.window, per_sender.rate, None))
    duration = opts.duration or (5.0 if opts.quick else 20.0)
    drain_for = 5.0 if opts.quick else 30.0
    pool = Pool(
        "bench.messaging:run", build_shares(target, opts, identities, place, senders)
    ).start()
    try:
        pool.gather("loaded", 60)
        connect(pool, 2 * PAIRS, 60)
        start = time.monotonic() + 0.3
        end = start + duration
        meter = meter_for(target, pool, opts)

        def measure() -> None:
            meter.begin(profile_path(opts), duration)
            meter.end_at(end)

        sent, done = exchange(pool, start, end, drain_for, 30, at_start=measure)
        cost = meter.wait()
    finally:
        pool.stop()
    total = merge_done(done)
    log(f"deliveries per second: {total['timeline']}")
    result = {
        "duration_s": round(duration, 3),
        "sent": total["sent"],
        "delivered": total["delivered"],
        "lost": total["lost"],
        "duplicates": total["duplicates"],
        "reordered": total["reordered"],
        "throughput_msg_s": rate(total["in_window"], duration),
        **latency_summary(total["latency_ms"]),
        **cost,
        "queued_msg_s": rate(total["queued_in_window"], duration),
        "db_xacts_per_msg": per(cost.get("db_xacts"), total["in_window"]),
        "wal_syncs_per_msg": per(cost.get("db_wal_syncs"), total["in_window"]),
        **message_fields(total, sent),
    }
    if name == "latency":
        result.update(latency_summary(total["send_lag_ms"], "send_lag_"))
    return result | {"profile": meter.profile} if meter.profile else result


def throughput(target: Target, opts: Namespace) -> dict[str, Any]:
    window = opts.window or 50
    result = pairs_scenario(target, opts, "throughput", Sender(0, [], window=window))
    return {**result, "pairs": PAIRS, "window": window, "ciphertext_chars": 200}


def latency(target: Target, opts: Namespace) -> dict[str, Any]:
    offered = opts.rate or 200.0
    result = pairs_scenario(target, opts, "latency", Sender(0, [], rate=offered / PAIRS))
    return {**result, "offered_msg_s": offered, "pairs": PAIRS}


def fanout(target: Target, opts: Namespace) -> dict[str, Any]:
    """The seed's load test: 100 peers, each sends `messages` to random other peers,
    waiting for each ack before the next send (window 1), and receives."""
    peers = opts.peers or 100
    count = opts.messages or (100 if opts.quick else 1000)
    window = opts.window or 1
    identities = members(target, peers, "fanout")
    place = {i: i % opts.workers for i in range(peers)}
    senders = [
        Sender(i, [j for j in range(peers) if j != i], window, None, count) for i in range(peers)
    ]
    cap = opts.duration or (15.0 if opts.quick else 900.0)
    drain_for = 5.0 if opts.quick else 60.0
    pool = Pool(
        "bench.messaging:run", build_shares(target, opts, identities, place, senders)
    ).start()
    try:
        pool.gather("loaded", 60)
        connect(pool, peers, 60)
        start = time.monotonic() + 0.3
        meter = meter_for(target, pool, opts)

        def measure() -> None:
            meter.begin(profile_path(opts), opts.profile_seconds or 20)

        sent, done = exchange(pool, start, start + cap, drain_for, 30, at_start=measure)
        cost = meter.wait()
    finally:
        pool.stop()
    total = merge_done(done)
    log(f"deliveries per second: {total['timeline']}")
    planned = peers * count
    sending_s = max(s["sending_ended"] for s in sent) - start
    duration = max(total["last_push"] - start, sending_s)
    result = {
        "duration_s": round(duration, 3),
        "sent": total["sent"],
        "delivered": total["delivered"],
        "lost": total["lost"],
        "duplicates": total["duplicates"],
        "reordered": total["reordered"],
        "throughput_msg_s": rate(total["delivered"], duration),
        **latency_summary(total["latency_ms"]),
        **cost,
        "planned": planned,
        "delivered_pct": round(100 * total["delivered"] / planned, 2),
        "complete": total["sent"] == planned,
        "sending_s": round(sending_s, 3),
        "db_xacts_per_msg": per(cost.get("db_xacts"), total["delivered"]),
        "wal_syncs_per_msg": per(cost.get("db_wal_syncs"), total["delivered"]),
        **message_fields(total, sent),
        "peers": peers,
        "messages_per_peer": count,
        "window": window,
    }
    return result | {"profile": meter.profile} if meter.profile else result


def connections(target: Target, opts: Namespace) -> dict[str, Any]:
    """`peers` idle peers in one mesh (one member each), connected as fast as the
    workers can (`connect_concurrency` handshakes in flight per worker); then a probe
    sender, connected with them, sends paced messages to one of them."""
    n = opts.peers or (1000 if opts.quick else 10000)
    meshes = max(1, opts.meshes or 1)
    probe_rate = opts.rate or 20.0
    probe_s = opts.duration or (3.0 if opts.quick else 10.0)
    # Mesh 0 gets one member more: the probe sender, index n, sending to peer 1.
    sizes = [n // meshes + (1 if k < n % meshes else 0) for k in range(meshes)]
    groups = [members(target, size + (k == 0), f"connections{k}") for k, size in enumerate(sizes)]
    identities = groups[0][:-1] + [who for group in groups[1:] for who in group] + groups[0][-1:]
    mesh_ids = [group[0].mesh_id for group in groups]
    place = {i: i % opts.workers for i in range(n + 1)}
    recipient = 1 % n
    senders = [Sender(n, [recipient], rate=probe_rate)]
    pool = Pool(
        "bench.messaging:run", build_shares(target, opts, identities, place, senders)
    ).start()
    try:
        pool.gather("loaded", 60)
        before = procstat.memory_mb(target.broker_pid)["rss"] if target.broker_pid else None
        meter = meter_for(target, pool, opts).begin(profile_path(opts), opts.profile_seconds or 20)
        hellos = Meter(target.broker_pid, pool.pids, target.postgres_pids).begin()
        ready = connect(pool, n + 1, 600)
        connected_at = time.monotonic()
        hello_cost = hellos.end()
        after = procstat.memory_mb(target.broker_pid)["rss"] if target.broker_pid else None
        start = time.monotonic() + 0.3
        sent, done = exchange(pool, start, start + probe_s, 5.0 if opts.quick else 15.0, 30)
        cost = meter.wait()
    finally:
        pool.stop()  # the workers have closed every socket at once
    drain_started = time.monotonic()
    patience = opts.drain_wait if opts.drain_wait is not None else (10.0 if opts.quick else 60.0)
    drain_s, still_online = disconnect_drain(target, mesh_ids, patience)
    total = merge_done(done)
    connected = sum(r["connected"] for r in ready)
    first = min(r["first"] for r in ready)
    last = max(r["last"] for r in ready)
    failures: dict[str, int] = {}
    for r in ready:
        for reason, k in r["failures"].items():
            failures[reason] = failures.get(reason, 0) + k
    per_conn_kb = (
        round((after - before) * 1024 / connected, 1) if before and after and connected else None
    )
    result = {
        "duration_s": round(cost["measured_s"], 3),
        "sent": total["sent"],
        "delivered": total["delivered"],
        "lost": total["lost"],
        "duplicates": total["duplicates"],
        "reordered": total["reordered"],
        "throughput_msg_s": rate(total["in_window"], probe_s),
        **latency_summary(total["latency_ms"]),
        **cost,
        "peers": n,
        "connected": connected,
        "connect_failures": failures,
        "held": total["open"],
        "closed_by_broker": total["closed"],
        "connect_s": round(last - first, 3),
        "hellos_per_s": rate(connected, last - first),
        **hello_rates(floats([r["hello_at"] for r in ready]), first),
        **{
            f"connect_{key}": hello_cost.get(key)
            for key in ("broker_cpu_pct", "postgres_cpu_pct", "loadgen_cpu_pct", "other_cpu_pct")
        },
        **latency_summary(floats([r["hello_ms"] for r in ready]), "hello_"),
        "broker_rss_before_mb": before,
        "broker_rss_connected_mb": after,
        "memory_per_connection_kb": per_conn_kb,
        "probe_msg_s": probe_rate,
        "probe_s": probe_s,
        "held_s": round(drain_started - connected_at, 1),
        "meshes": meshes,
        "disconnect_drain_s": drain_s,
        "online_after_drain": still_online,
        **message_fields(total, sent),
    }
    return result | {"profile": meter.profile} if meter.profile else result


def hello_rates(done_at: array[float], first: float) -> dict[str, float | None]:
    """Hellos per second over the first and the last tenth of the connections: a
    cost per hello that grows with the peers already connected shows as a drop."""
    times = sorted(done_at)
    tenth = len(times) // 10
    if tenth < 2:
        return {"hellos_per_s_first_10pct": None, "hellos_per_s_last_10pct": None}
    seconds = [round(t - first) for t in times]
    per_second = [seconds.count(s) for s in range(max(seconds) + 1)]
    log(f"hellos per second: {per_second}")
    return {
        "hellos_per_s_first_10pct": rate(tenth, times[tenth - 1] - first),
        "hellos_per_s_last_10pct": rate(tenth, times[-1] - times[-tenth - 1]),
    }


def disconnect_drain(
    target: Target, mesh_ids: list[str], patience: float
) -> tuple[float | None, int | None]:
    """After every peer closed its socket at once: seconds until the broker has recorded
    every presence as gone (none `online` in list_peers), or None; and how many were
    still online when we stopped looking. Patience 0: do not look (the broker gets its
    SIGTERM in the middle of the disconnect storm)."""
    if patience <= 0:
        return None, None
    started = time.monotonic()
    while True:
        online = asyncio.run(online_counts(target.database_url, mesh_ids))
        elapsed = time.monotonic() - started
        if online == 0:
            return round(elapsed, 1), 0
        if elapsed > patience:
            log(f"{online} presences still online {patience:.0f} s after every socket closed")
            return None, online
        time.sleep(0.5)


def hooks(target: Target, opts: Namespace) -> dict[str, Any]:
    """50 hook clients, each a distinct (pid, cwd) with a live presence."""
    clients = opts.peers or 50
    duration = opts.duration or (5.0 if opts.quick else 20.0)
    identities = members(target, clients, "hooks")
    place = {i: i % opts.workers for i in range(clients)}
    where = {i: (20000 + i, f"/bench/hooks/{i}") for i in range(clients)}
    shares = build_shares(target, opts, identities, place, [], where)
    pool = Pool("bench.hooks:run", shares).start()
    try:
        pool.gather("loaded", 60)
        connect(pool, clients, 60)
        start = time.monotonic() + 0.3
        end = start + duration
        meter = meter_for(target, pool, opts)
        pool.send("go", {"start": start, "end": end})
        time.sleep(max(0.0, start - time.monotonic()))
        meter.begin(profile_path(opts), duration)
        meter.end_at(end)
        done = pool.gather("done", duration + 60)
        cost = meter.wait()
    finally:
        pool.stop()
    codes: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    for d in done:
        for code, k in d["codes"].items():
            codes[str(code)] = codes.get(str(code), 0) + k
        for what, k in d["outcomes"].items():
            outcomes[what] = outcomes.get(what, 0) + k
    timeline: collections.Counter[int] = collections.Counter()
    for d in done:
        timeline.update(d["timeline"])
    log(f"answers per second: {[timeline.get(s, 0) for s in range(max(timeline, default=-1) + 1)]}")
    requests = sum(d["requests"] for d in done)
    answered = sum(codes.values())
    result = {
        "duration_s": round(duration, 3),
        "sent": requests,
        "delivered": codes.get("200", 0),
        "lost": requests - answered,  # requests that got no answer at all
        "duplicates": None,  # not applicable to hooks
        "reordered": None,
        "throughput_msg_s": rate(sum(d["in_window"] for d in done), duration),
        **latency_summary(floats([d["latency_ms"] for d in done])),
        **cost,
        "db_xacts_per_request": per(cost.get("db_xacts"), codes.get("200", 0)),
        "wal_syncs_per_request": per(cost.get("db_wal_syncs"), codes.get("200", 0)),
        "clients": clients,
        "status_codes": codes,
        "outcomes": outcomes,
        "reconnects": sum(d["reconnects"] for d in done),
        "failures": sum(d["failures"] for d in done),
        "hook_auth": "bearer token",
    }
    return result | {"profile": meter.profile} if meter.profile else result


SCENARIOS = {
    "throughput": throughput,
    "latency": latency,
    "fanout": fanout,
    "connections": connections,
    "hooks": hooks,
}
