"""CPU and memory of other processes, read from /proc (no psutil)."""

from __future__ import annotations

import os

_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of `pid` so far, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14, 15)


def cpu_split(pid: int) -> tuple[float, float] | None:
    """(user, system) CPU seconds of `pid` so far."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) / _TICK, int(fields[12]) / _TICK


def run_delay(pid: int) -> float | None:
    """Seconds the main thread of `pid` has spent runnable but waiting for a CPU
    (/proc/<pid>/schedstat, second field, in nanoseconds)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def memory_mb(pid: int) -> dict[str, float | None]:
    """Resident set now (`VmRSS`) and its peak (`VmHWM`), in MiB."""
    out: dict[str, float | None] = {"rss": None, "peak": None}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    out["rss"] = round(int(line.split()[1]) / 1024, 1)
                elif line.startswith("VmHWM:"):
                    out["peak"] = round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return out


def pids_named(name: str) -> list[int]:
    """Processes whose command name is `name` (e.g. every Postgres backend)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                if f.read().strip() == name:
                    found.append(int(entry))
        except OSError:
            continue
    return found


def parent(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def postgres_pids(postmaster: int, database: str) -> list[int]:
    """The server's own processes (checkpointer, WAL writer, ...) and the backends
    connected to `database`: not the backends other users of the server run."""
    found = []
    for pid in pids_named("postgres"):
        if parent(pid) != postmaster:
            continue
        line = cmdline(pid)
        backend = "[local]" in line or ("(" in line and ")" in line)
        if not backend or f" {database} " in line:
            found.append(pid)
    return found


def machine_ticks() -> tuple[int, int, int]:
    """(busy, steal, total) CPU ticks of the whole machine, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    total = sum(fields[:8])  # user nice system idle iowait irq softirq steal
    return total - idle, fields[7], total


class MachineMeter:
    """Busy share of all CPUs over an interval, 100 per core (2 cores: up to 200);
    `steal` is the part the hypervisor gave to other guests."""

    def __init__(self) -> None:
        self._busy, self._steal, self._total = machine_ticks()
        self._cores = os.cpu_count() or 1

    def percent(self) -> float | None:
        busy, _, total = machine_ticks()
        if total == self._total:
            return None
        return round(100 * self._cores * (busy - self._busy) / (total - self._total), 1)

    def steal(self) -> float | None:
        _, steal, total = machine_ticks()
        if total == self._total:
            return None
        return round(100 * self._cores * (steal - self._steal) / (total - self._total), 1)


def all_cpu() -> dict[int, float]:
    """CPU seconds of every process on the machine."""
    out = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (cpu := cpu_seconds(int(entry))) is not None:
            out[int(entry)] = cpu
    return out
