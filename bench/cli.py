"""`python -m bench SCENARIO [--quick] [--url ws://...] [--rate R] [--database-url ...]`.

Without --url: creates a fresh database on the Postgres server (--database-url, else
TEST_DATABASE_URL, else postgresql://postgres@127.0.0.1:5432/postgres), starts
`python -m app.cli serve` on it with the rate limits and the per-mesh cap raised,
runs the scenario from worker processes, stops the broker and drops the database.
With --url: runs against that broker; --database-url must then be its database
(the scenario's mesh and members are written there) and --broker-pid, if given,
lets CPU and memory be measured. Progress goes to stderr; the last line on stdout is
one JSON object."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.broker import (
    Broker,
    create_database,
    drop_database,
    postmaster_of,
    raise_fd_limit,
    server_url,
)
from bench.mesh import presences
from bench.procstat import MachineMeter, postgres_pids
from bench.scenarios import SCENARIOS, Target, log


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--quick", action="store_true", help="a short run (30 s or less)")
    p.add_argument("--url", help="an already running broker's ws:// URL")
    p.add_argument(
        "--rev",
        help="run the broker (and the adapters the harness uses) from this git revision "
        "instead of the working tree, e.g. a baseline commit",
    )
    p.add_argument(
        "--database-url", help="Postgres server (own broker) or the broker's database (--url)"
    )
    p.add_argument(
        "--broker-pid", type=int, help="with --url: the broker's pid, for CPU and memory"
    )
    p.add_argument(
        "--rate", type=float, help="latency: offered msg/s (200); connections: probe msg/s (20)"
    )
    p.add_argument("--duration", type=float, help="seconds of load (fanout: the cap on sending)")
    p.add_argument("--workers", type=int, default=4, help="load-generator processes (4)")
    p.add_argument("--peers", type=int, help="fanout/connections peers, hooks clients")
    p.add_argument(
        "--meshes", type=int, help="connections: spread the peers over this many meshes (1)"
    )
    p.add_argument(
        "--drain-wait",
        type=float,
        help="connections: seconds to wait, after every peer closed, for the broker to "
        "record them all offline before its SIGTERM (60; --quick 10; 0: none)",
    )
    p.add_argument("--messages", type=int, help="fanout: messages per peer")
    p.add_argument("--window", type=int, help="unacknowledged sends in flight per sender")
    p.add_argument(
        "--connect-concurrency", type=int, default=64, help="handshakes in flight per worker"
    )
    p.add_argument("--no-compression", action="store_true", help="do not offer permessage-deflate")
    p.add_argument("--log-level", default="info", help="the broker's LOG_LEVEL (info)")
    p.add_argument("--broker-log", metavar="FILE", help="keep the broker's whole log in FILE")
    p.add_argument(
        "--env", action="append", default=[], metavar="NAME=VALUE", help="extra broker env"
    )
    p.add_argument(
        "--py-spy", metavar="FILE", help="record the broker with py-spy (raw format) into FILE"
    )
    p.add_argument("--py-spy-gil", action="store_true", help="py-spy: only samples holding the GIL")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=0,
        metavar="S",
        help="first wait up to S seconds for the machine to be nearly idle (others' work)",
    )
    p.add_argument(
        "--profile-seconds", type=float, help="py-spy duration where the run has no fixed one"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    opts = parser().parse_args(argv)
    # SIGTERM or SIGINT (even where a background shell ignores it) unwind through the
    # `finally` blocks: the broker is stopped and the database dropped.
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGINT, _interrupted)
    if opts.rev and not os.environ.get("BENCH_REV"):
        run_from_revision(opts.rev, sys.argv[1:] if argv is None else argv)
    fds = raise_fd_limit()
    log(f"{opts.scenario}{' --quick' if opts.quick else ''}: open-file limit {fds}")
    busy_before = wait_quiet(opts.quiet_wait) if opts.quiet_wait > 0 else None
    began = time.monotonic()
    out: dict[str, Any] = {"scenario": opts.scenario}
    status = 0
    try:
        result, extra = (own_broker if opts.url is None else given_broker)(opts)
        out.update(result)
        out.update(extra)
    except KeyboardInterrupt as exc:
        log(f"interrupted ({exc})")
        out["error"] = f"interrupted ({exc})"
        status = 130
    except Exception as exc:
        log(f"failed: {type(exc).__name__}: {exc}")
        out["error"] = f"{type(exc).__name__}: {str(exc)[:2000]}"
        status = 1
    out["quick"] = opts.quick
    out["machine_busy_before_pct"] = busy_before
    out["wall_s"] = round(time.monotonic() - began, 1)
    profile = out.pop("profile", None)
    if profile:
        log("py-spy, share of samples (self):")
        for name, share in profile["self"]:
            log(f"  {share:5.1f} %  {name}")
        log("py-spy, share of samples (total, on the stack):")
        for name, share in profile["total"]:
            log(f"  {share:5.1f} %  {name}")
        log("py-spy, share of samples by the package of the innermost frame:")
        for name, share in profile["packages"]:
            log(f"  {share:5.1f} %  {name}")
        out["profile_samples"] = profile["samples"]
        out["profile_self_top5"] = profile["self"][:5]
    sys.stdout.write(json.dumps(out) + "\n")
    sys.stdout.flush()
    if os.environ.get("BENCH_REV_DIR"):
        shutil.rmtree(os.environ["BENCH_REV_DIR"], ignore_errors=True)
    return status


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def own_broker(opts: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    server = server_url(opts.database_url)
    database = asyncio.run(create_database(server))
    log(f"database {database.rsplit('/', 1)[1]} created")
    broker: Broker | None = None
    try:
        env = {"LOG_LEVEL": opts.log_level, **dict(e.split("=", 1) for e in opts.env)}
        broker = Broker(database, env, opts.broker_log).start()
        log(f"broker pid {broker.pid} listening on {broker.url}")
        code_source = source()
        postmaster = asyncio.run(postmaster_of(database))
        name = database.rsplit("/", 1)[1]
        pg = (lambda: postgres_pids(postmaster, name)) if postmaster else None
        target = Target(broker.url, database, broker.pid, pg)
        result = SCENARIOS[opts.scenario](target, opts)
        alive = broker.alive()
        code = broker.stop()
        # Once the broker is gone, no presence of it may still show as online. (Those
        # whose peers closed first are in their grace window: not online, not ended.)
        online, live = asyncio.run(presences(database, target.mesh_ids))
        extra = {
            "broker_alive_at_end": alive,
            "broker_exit": code,
            "presences_after_shutdown": {"online": online, "not_ended": live},
            "broker_log": broker.log_summary(),
            "source": code_source,
        }
        for key, entry in list(broker.samples.items())[:5]:
            log(f"broker log {key}: {json.dumps(entry)[:600]}")
        if code != 0:
            log(f"broker exit status {code}; its last log lines:")
            for line in list(broker.tail)[-10:]:
                log(f"  {line[:400]}")
        return result, extra
    finally:
        if broker is not None and broker.alive():
            broker.stop()
        asyncio.run(drop_database(server, database))
        log("database dropped")


def given_broker(opts: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    if not opts.database_url:
        raise SystemExit("--url needs --database-url: the broker's database, for the members")
    target = Target(opts.url, opts.database_url, opts.broker_pid)
    return SCENARIOS[opts.scenario](target, opts), {"source": "external broker"}


def run_from_revision(rev: str, argv: list[str]) -> None:
    """Re-run this command with `src/` and `migrations/` of `rev` first on PYTHONPATH
    (extracted with `git archive`), so that the broker and the adapters are that
    revision's while the harness stays this one."""
    sha = subprocess.run(
        ["git", "rev-parse", "--short", rev], capture_output=True, text=True, check=True
    ).stdout.strip()
    where = Path(tempfile.mkdtemp(prefix=f"meshbroker-{sha}-"))
    archive = subprocess.run(
        ["git", "archive", sha, "src", "migrations"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    log(f"broker code of {rev} ({sha}) in {where}")
    path = os.pathsep.join(filter(None, [str(where / "src"), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path, "BENCH_REV": sha, "BENCH_REV_DIR": str(where)}
    os.execve(sys.executable, [sys.executable, "-m", "bench", *argv], env)


def source() -> dict[str, Any]:
    """The commit of the broker code that runs, and whether its src/ had local changes."""
    if os.environ.get("BENCH_REV"):
        return {"commit": os.environ["BENCH_REV"], "dirty": False, "from": "--rev"}
    spec = importlib.util.find_spec("app")
    where = Path(spec.origin).resolve().parent.parent if spec and spec.origin else Path.cwd()

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=where, capture_output=True, text=True, check=False
        )
        return done.stdout.strip() if done.returncode == 0 else "?"

    dirty = git("status", "--porcelain", "--", ".", "../migrations")
    return {
        "dir": str(where),
        "commit": git("rev-parse", "--short", "HEAD"),
        "dirty": bool(dirty) and dirty != "?",
    }


def wait_quiet(patience: float, busy_below: float = 25.0) -> float | None:
    """The machine's CPU use (100 per core) over a 1 s sample, sampling again while it
    is busy with others' work, for up to `patience` seconds."""
    deadline = time.monotonic() + patience
    while True:
        meter = MachineMeter()
        time.sleep(1.0)
        busy = meter.percent()
        if busy is None or busy < busy_below or time.monotonic() >= deadline:
            log(f"machine busy {busy} % (100 per core) before the run")
            return busy
