"""py-spy on the broker: record while a scenario runs, then name the hot spots from
py-spy's raw (collapsed stack) output: `frame;frame;...;leaf count` per line."""

from __future__ import annotations

import collections
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

_LINE = re.compile(r" \((.*?):\d+\)$")  # "func (path/file.py:123)" -> drop the line


def _key(frame: str) -> str:
    """`function (file.py)`, the path shortened to what follows site-packages or src."""
    match = _LINE.search(frame)
    if match is None:
        return frame
    path = match.group(1)
    for marker in ("site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{frame[: match.start()]} ({path})"


def summarize(raw: Path, top: int = 10) -> dict[str, Any]:
    """Share of samples per function: `self` (the leaf: where the time is spent) and
    `total` (anywhere on the stack: what the time is spent for)."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_key(f) for f in stack.split(";")]
        samples += n
        own[frames[-1]] += n
        packages[_package(frames[-1])] += n
        for key in set(frames):
            if not _scaffolding(key):
                inclusive[key] += n

    def shares(counter: collections.Counter[str], k: int = top) -> list[tuple[str, float]]:
        return [(key, round(100 * v / samples, 1)) for key, v in counter.most_common(k)]

    return {
        "samples": samples,
        "self": shares(own),
        "total": shares(inclusive, 15),
        "packages": shares(packages),
    }


def _package(key: str) -> str:
    """The top-level package or module of a frame key: `asyncpg`, `asyncio`, `domain`."""
    where = key.rpartition(" (")[2].rstrip(")")
    return where.split("/", 1)[0].removesuffix(".py")


def _scaffolding(key: str) -> bool:
    """Frames under every sample (the event loop, the entry point): no information."""
    return key.endswith(
        ("(asyncio/base_events.py)", "(asyncio/runners.py)", "(asyncio/events.py)")
    ) or key.startswith(
        ("_run_code", "_run_module_as_main", "<module> (app/cli.py)", "main (app/cli.py)")
    )


class PySpy:
    """`py-spy record --format raw` on a process for `seconds`."""

    def __init__(
        self, pid: int, out: Path, seconds: float, rate: int = 100, gil: bool = False
    ) -> None:
        exe = shutil.which("py-spy")
        if exe is None:
            raise RuntimeError("py-spy not found: run with `uv run --with py-spy python -m bench`")
        self.out = out
        self.proc = subprocess.Popen(
            [exe, "record", "--pid", str(pid), "--rate", str(rate), "--format", "raw",
             "--output", str(out), "--duration", str(max(1, round(seconds))), "--nonblocking",
             *(["--gil"] if gil else [])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip

    def finish(self, timeout: float = 60) -> dict[str, Any]:
        _, err = self.proc.communicate(timeout=timeout)
        if self.proc.returncode != 0 or not self.out.exists():
            raise RuntimeError(f"py-spy failed ({self.proc.returncode}): {err.strip()[-500:]}")
        return summarize(self.out)
