"""What the image's runtime stage does, without Docker (no engine on these machines).

The Dockerfile installs the locked runtime dependencies (pgserver left out) and the
project, built as a wheel, into a fresh virtual environment, then runs
`meshbroker serve` from it with NODE_ENV=production. These tests do the same: build
the wheel with `uv build`, install `uv export`'s locked requirements and the wheel
into a new venv, and start the broker from that venv, outside the checkout, against
the session's test database. Dependencies come from the package index (and uv's cache),
as on a new machine.

It takes a few seconds with a warm uv cache. Set MESHBROKER_SKIP_WHEEL_TEST=1 to skip
it in quick local runs; CI runs it.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
SKIP_VARIABLE = "MESHBROKER_SKIP_WHEEL_TEST"
GIT_SHA = "abc1234"  # what `docker build --build-arg GIT_SHA=...` puts in the image
START_DEADLINE = 60.0
STOP_DEADLINE = 30.0
CONTRACT_SERIES = (
    "broker_connections_active",
    "broker_connections_total",
    "broker_connections_rejected_total",
    "broker_messages_routed_total",
    "broker_messages_rejected_total",
    "broker_queue_depth",
    "broker_ttl_sweeps_total",
    "broker_hook_requests_total",
    "broker_hook_requests_rate_limited_total",
    "broker_db_healthy",
)

pytestmark = [
    pytest.mark.skipif(
        os.environ.get(SKIP_VARIABLE, "").strip().lower() not in ("", "0", "false"),
        reason=f"{SKIP_VARIABLE} is set",
    ),
    # Building and installing come first; a cold uv cache downloads every dependency.
    pytest.mark.timeout(300),
]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    venv: Path
    workdir: Path

    @property
    def bin(self) -> Path:
        return self.venv / "bin"


def _uv() -> str:
    # `uv run` tells its children where uv is; otherwise look on PATH.
    found = os.environ.get("UV") or shutil.which("uv")
    if not found:
        pytest.fail("uv is needed to build and install the wheel, and is not on PATH")
    return found


def _tool_env() -> dict[str, str]:
    """This environment without the test run's own venv, so uv acts on the one named."""
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}


def _run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args,
        cwd=cwd,
        env=_tool_env() if env is None else env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{' '.join(args)} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh venv with the locked runtime dependencies and the project's wheel."""
    work = tmp_path_factory.mktemp("wheel-install")
    uv = _uv()
    dist = work / "dist"
    _run([uv, "build", "--wheel", "--out-dir", str(dist), str(REPO)], cwd=REPO)
    wheels = sorted(dist.glob("meshbroker-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}"

    requirements = work / "requirements.txt"
    export = [uv, "export", "--frozen", "--no-dev", "--no-emit-project"]
    _run([*export, "--no-emit-package", "pgserver", "--output-file", str(requirements)], cwd=REPO)
    venv = work / "venv"
    _run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], cwd=work)
    python = str(venv / "bin" / "python")
    _run([uv, "pip", "install", "--python", python, "--requirement", str(requirements)], cwd=work)
    _run([uv, "pip", "install", "--python", python, "--no-deps", str(wheels[0])], cwd=work)

    run_dir = work / "run"  # the working directory of the broker: not the checkout
    run_dir.mkdir()
    return Installed(wheel=wheels[0], venv=venv, workdir=run_dir)


def _broker_env(installed: Installed, database_url: str) -> dict[str, str]:
    """What the container has: the venv first on PATH, the image's NODE_ENV and GIT_SHA,
    a DATABASE_URL; nothing of this test run's environment (no HOOK_AUTH)."""
    return {
        "PATH": os.pathsep.join([str(installed.bin), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": str(installed.workdir),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "NODE_ENV": "production",
        "GIT_SHA": GIT_SHA,
        "DATABASE_URL": database_url,
        "BROKER_PORT": "0",
    }


class LogReader:
    """Collects the broker's stderr lines on a thread; `wait_for` polls them."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Any) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, msg: str, deadline: float) -> dict[str, Any]:
        """The first JSON log line with this `msg`; fails at the deadline or at EOF."""
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=min(left, 0.5))
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the broker exited before logging {msg!r}:\n" + self.text())
            self.lines.append(line)
            record = _json_or_none(line)
            if record is not None and record.get("msg") == msg:
                return record
        pytest.fail(f"no {msg!r} log line in time:\n" + self.text())

    def finish(self, timeout: float = 5.0) -> None:
        self._thread.join(timeout)
        while True:
            try:
                line = self._queue.get_nowait()
            except queue.Empty:
                return
            if line is not None:
                self.lines.append(line)

    def messages(self) -> list[str]:
        return [r.get("msg", "") for r in map(_json_or_none, self.lines) if r is not None]

    def text(self) -> str:
        return "\n".join(self.lines)


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read()


def test_the_wheel_carries_the_migrations(installed: Installed) -> None:
    expected = sorted(p.name for p in (REPO / "migrations").glob("*.sql"))
    with zipfile.ZipFile(installed.wheel) as wheel:
        names = wheel.namelist()
    packaged = sorted(Path(n).name for n in names if n.startswith("adapters/postgres/migrations/"))

    assert expected, "no migrations/*.sql in the checkout"
    assert packaged == expected, (
        "the wheel must carry migrations/*.sql as adapters/postgres/migrations/ "
        "(hatch force-include); without them `meshbroker serve` and `migrate` fail "
        f"in the image. In the wheel: {packaged}"
    )


def test_the_venv_runs_the_installed_package_without_pgserver(installed: Installed) -> None:
    probe = (
        "import importlib.util, json, app, adapters, domain; "
        "print(json.dumps({'app': app.__file__, "
        "'pgserver': importlib.util.find_spec('pgserver') is not None}))"
    )
    out = _run(
        [str(installed.bin / "python"), "-c", probe],
        cwd=installed.workdir,
        env={"PATH": str(installed.bin), "HOME": str(installed.workdir)},
    )
    found = json.loads(out)

    assert Path(found["app"]).is_relative_to(installed.venv), found["app"]
    assert found["pgserver"] is False, "the image leaves pgserver out; so does this venv"


def test_migrate_from_the_venv_finds_the_schema_up_to_date(
    installed: Installed, database_url: str
) -> None:
    out = _run(
        [str(installed.bin / "meshbroker"), "migrate"],
        cwd=installed.workdir,
        env=_broker_env(installed, database_url),
    )

    assert json.loads(out) == {"applied": []}


def test_serve_from_the_venv_answers_health_and_stops_on_sigterm(
    installed: Installed, database_url: str
) -> None:
    broker = subprocess.Popen(
        [str(installed.bin / "meshbroker"), "serve"],
        cwd=installed.workdir,
        env=_broker_env(installed, database_url),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    logs = LogReader(broker.stderr)
    try:
        listening = logs.wait_for("broker listening", time.monotonic() + START_DEADLINE)
        port = listening["port"]
        assert isinstance(port, int) and port > 0, listening

        status, body = _get(f"http://127.0.0.1:{port}/health")
        health = json.loads(body)
        assert status == 200
        assert health["status"] == "ok" and health["db"] == "up", health
        assert health["gitSha"] == GIT_SHA
        assert health["version"] == "0.1.0"

        status, body = _get(f"http://127.0.0.1:{port}/metrics")
        exposition = body.decode()
        assert status == 200
        missing = [s for s in CONTRACT_SERIES if f"\n{s}" not in f"\n{exposition}"]
        assert not missing, f"series missing from /metrics: {missing}"

        broker.send_signal(signal.SIGTERM)
        code = broker.wait(timeout=STOP_DEADLINE)
        logs.finish()
    finally:
        if broker.poll() is None:
            broker.kill()
            broker.wait()

    assert code == 0, logs.text()
    messages = logs.messages()
    assert "shutdown signal" in messages, logs.text()
    assert messages[-1] == "shutdown complete", logs.text()
    not_json = [line for line in logs.lines if _json_or_none(line) is None]
    assert not not_json, f"stderr lines that are not JSON log lines: {not_json}"
