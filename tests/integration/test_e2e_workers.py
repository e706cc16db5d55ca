"""`meshbroker serve --workers N` (issue 18): N broker processes on one port, each an
instance of its own; SIGTERM to the supervisor shuts them all down as one broker does."""

from __future__ import annotations

import signal
import socket
import urllib.request

import pytest

from adapters.postgres.database import Database
from tests.integration.support import BrokerProcess, WsPeer, new_member, new_mesh

pytestmark = pytest.mark.usefixtures("database_url")


async def test_two_workers_share_the_port_and_stop_together(
    database_url: str, database: Database
) -> None:
    base = _free_port_pair()
    broker = BrokerProcess(
        database_url, BROKER_WORKERS="2", BROKER_WORKER_PORT_BASE=str(base)
    ).start()
    try:
        ready = broker.wait_log(lambda e: e.get("msg") == "broker listening")
        assert ready["workers"] == 2
        workers = [
            broker.wait_log(lambda e, i=i: e.get("msg") == "worker listening" and e["worker"] == i)
            for i in range(2)
        ]
        assert {w["port"] for w in workers} == {broker.port}
        assert workers[0]["instance"] != workers[1]["instance"]

        mesh = await new_mesh(database)
        peers = []
        for n in range(40):  # the kernel spreads them; all 40 on one worker: p = 2^-39
            peers.append(await WsPeer.join(broker.url, await new_member(database, mesh, f"p{n}")))
        served_by = await database.fetch(
            "SELECT DISTINCT instance_id FROM mesh.presences"
            " WHERE mesh_id = $1 AND connection_id IS NOT NULL",
            mesh.id,
        )
        # a presence names its worker's incarnation, "<instance>.<n>" (ADR 0025)
        instances = {r["instance_id"].split(".")[0] for r in served_by}
        assert instances == {w["instance"] for w in workers}
        # each worker's own port answers for that worker: the two counts add up
        assert [w["own_port"] for w in workers] == [base, base + 1]
        active = [_gauge(base + i, "broker_connections_active") for i in range(2)]
        assert sum(active) == 40 and all(a > 0 for a in active)

        assert broker.terminate(signal.SIGTERM) == 0
        broker.wait_log(lambda e: e.get("msg") == "workers stopped")
        online = await database.fetchval(
            "SELECT count(*) FROM mesh.presences WHERE mesh_id = $1"
            " AND connection_id IS NOT NULL AND ended_at IS NULL",
            mesh.id,
        )
        assert online == 0
        for peer in peers:
            await peer.close()
    finally:
        broker.kill()


def _free_port_pair() -> int:
    """A port p such that p and p + 1 were both free a moment ago."""
    for _ in range(50):
        with socket.socket() as first:
            first.bind(("127.0.0.1", 0))
            port = first.getsockname()[1]
            if port >= 65535:
                continue
            with socket.socket() as second:
                try:
                    second.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise AssertionError("no two consecutive free ports")


def _gauge(port: int, name: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics on port {port}")
