"""What the broker (and Postgres, and the load generator) cost over the measured
interval: CPU from /proc/<pid>/stat, memory from /proc/<pid>/status, and py-spy when
asked."""

from __future__ import annotations

import collections
import http.client
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import procstat
from bench.profile import PySpy


class HealthPoller:
    """GET /health once a second, as an orchestrator's probe would: answers by status,
    and the slowest answer."""

    def __init__(self, ws_url: str) -> None:
        parts = urlsplit(ws_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.answers: collections.Counter[str] = collections.Counter()
        self.slowest_ms = 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._poll, daemon=True).start()

    def _poll(self) -> None:
        while not self._stop.wait(1.0):
            started = time.monotonic()
            conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
            try:
                conn.request("GET", "/health")
                answer = str(conn.getresponse().status)
            except (OSError, http.client.HTTPException) as exc:
                answer = type(exc).__name__
            finally:
                conn.close()
            self.answers[answer] += 1
            self.slowest_ms = max(self.slowest_ms, (time.monotonic() - started) * 1000)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        return {"answers": dict(self.answers), "slowest_ms": round(self.slowest_ms, 1)}


class Meter:
    """Samples every process twice a second from `begin` to `end`, so that a process
    which exits meanwhile (a recycled pool connection's backend) still counts."""

    def __init__(
        self,
        broker_pid: int | None,
        worker_pids: list[int],
        postgres: Callable[[], list[int]] | None = None,
        gil_only: bool = False,
        health_url: str | None = None,
        counters: Callable[[], dict[str, int] | None] | None = None,
    ) -> None:
        self.broker_pid = broker_pid
        self.worker_pids = worker_pids
        self.postgres = postgres or (lambda: [])
        self.gil_only = gil_only
        self.health_url = health_url
        self.counters = counters
        self.result: dict[str, Any] | None = None
        self.profile: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._postgres_seen: set[int] = set()
        self._rss_max = 0.0
        self._health: HealthPoller | None = None
        self._profiler: PySpy | None = None
        self._scheduled = False
        self._counters0: dict[str, int] | None = None
        self._split: tuple[float, float] | None = None
        self._delay: float | None = None

    def begin(self, profile: Path | None = None, seconds: float = 0.0) -> Meter:
        self._first = procstat.all_cpu()
        self._last = dict(self._first)
        self._postgres_seen = set(self.postgres())
        self._machine = procstat.MachineMeter()
        self.started = time.monotonic()
        if self.health_url:
            self._health = HealthPoller(self.health_url)
        if self.counters is not None:
            self._counters0 = self.counters()
        if self.broker_pid:
            self._split = procstat.cpu_split(self.broker_pid)
            self._delay = procstat.run_delay(self.broker_pid)
            if profile is not None:
                self._profiler = PySpy(self.broker_pid, profile, seconds, gil=self.gil_only)
        threading.Thread(target=self._sampling, daemon=True).start()
        return self

    def _sampling(self) -> None:
        while not self._stop.wait(0.5):
            self._sample()

    def _sample(self) -> None:
        now = procstat.all_cpu()
        postgres = self.postgres()
        with self._lock:
            for pid, cpu in now.items():
                self._first.setdefault(pid, 0.0)  # born after begin: all of it counts
                self._last[pid] = cpu
            self._postgres_seen.update(postgres)
        if self.broker_pid:
            rss = procstat.memory_mb(self.broker_pid)["rss"] or 0.0
            self._rss_max = max(self._rss_max, rss)

    def _cpu_pct(self, pids: Iterable[int], elapsed: float) -> float | None:
        known = [pid for pid in pids if pid in self._last]
        if not known:
            return None
        return round(100 * sum(self._last[p] - self._first[p] for p in known) / elapsed, 1)

    def end(self) -> dict[str, Any]:
        """Stop measuring (only the first call counts)."""
        if self.result is not None:
            return self.result
        self._stop.set()
        self._sample()
        elapsed = time.monotonic() - self.started
        broker = [self.broker_pid] if self.broker_pid else []
        out: dict[str, Any] = {
            "broker_cpu_pct": self._cpu_pct(broker, elapsed),
            "postgres_cpu_pct": self._cpu_pct(self._postgres_seen, elapsed),
            "loadgen_cpu_pct": self._cpu_pct(self.worker_pids, elapsed),
            "machine_cpu_pct": self._machine.percent(),
            "machine_steal_pct": self._machine.steal(),
        }
        ours = {os.getpid(), *broker, *self.worker_pids, *self._postgres_seen}
        others = {pid: self._last[pid] - self._first[pid] for pid in self._last if pid not in ours}
        if out["machine_cpu_pct"] is not None:
            # The rest of the machine: others' work (tests, builds), interrupts.
            used = sum(
                out[k] or 0.0 for k in ("broker_cpu_pct", "postgres_cpu_pct", "loadgen_cpu_pct")
            )
            out["other_cpu_pct"] = round(max(0.0, out["machine_cpu_pct"] - used), 1)
        top = sorted(others.items(), key=lambda item: -item[1])[:3]
        out["other_top"] = [
            (procstat.cmdline(pid)[:80] or str(pid), round(100 * cpu / elapsed, 1))
            for pid, cpu in top
            if cpu / elapsed >= 0.01
        ]
        out["measured_s"] = round(elapsed, 3)
        if self._split and self.broker_pid and (split := procstat.cpu_split(self.broker_pid)):
            out["broker_cpu_user_pct"] = round(100 * (split[0] - self._split[0]) / elapsed, 1)
            out["broker_cpu_sys_pct"] = round(100 * (split[1] - self._split[1]) / elapsed, 1)
        if self._delay is not None and self.broker_pid:
            delay = procstat.run_delay(self.broker_pid)
            if delay is not None:
                # Runnable but not running: the broker waiting for a core.
                out["broker_runq_wait_pct"] = round(100 * (delay - self._delay) / elapsed, 1)
        memory = procstat.memory_mb(self.broker_pid) if self.broker_pid else {}
        out["broker_rss_mb"] = memory.get("rss")
        out["broker_rss_max_mb"] = max(self._rss_max, memory.get("rss") or 0.0) or None
        out["broker_rss_peak_mb"] = memory.get("peak")
        if self._health is not None:
            out["health_probe"] = self._health.stop()
        if self.counters is not None and self._counters0 is not None:
            now = self.counters() or {}
            for key, start in self._counters0.items():
                out[f"db_{key}"] = now[key] - start if key in now else None
        self.result = out
        return out

    def end_at(self, when: float) -> None:
        """Call `end` at monotonic time `when`, from a thread."""

        def later() -> None:
            time.sleep(max(0.0, when - time.monotonic()))
            self.end()

        self._scheduled = True
        threading.Thread(target=later, daemon=True).start()

    def wait(self, timeout: float = 30.0) -> dict[str, Any]:
        """The result: at the time `end_at` named, else now."""
        deadline = time.monotonic() + timeout
        while self._scheduled and self.result is None and time.monotonic() < deadline:
            time.sleep(0.05)
        result = self.end()
        if self._profiler is not None:
            self.profile = self._profiler.finish()
        return result
